"""YOLO engine, safety: run Ultralytics offline, with its settings in the run folder, only where cxrdet calls it.

Nothing here happens at import. :func:`ultralytics_sandbox` is entered around every Ultralytics call cxrdet
makes (train, validate, predict) and undoes all of it on exit:

* process state: OpenCV's thread pool off inside (forked DataLoader workers would inherit a pool whose
  threads they lack and deadlock), then the environment, torch's and OpenCV's thread counts restored on exit;
* environment: ``YOLO_OFFLINE=1`` (no online checks), ``YOLO_AUTOINSTALL=false`` (no pip installs),
  ``YOLO_CONFIG_DIR`` inside the run folder (Ultralytics writes ``settings.json`` there, not in
  ``~/.config``, when it is first imported), ``ULTRALYTICS_API_KEY`` hidden;
* settings (in memory, never written): ``sync=False`` (telemetry/events off), no API key, every
  logger integration (ClearML, Comet, DVC, MLflow, Ray Tune, TensorBoard, W&B) off, datasets/weights/runs
  folders inside the run folder (so nothing is looked up in a global datasets folder);
* module attributes: ``ONLINE=False`` everywhere, the events sender disabled, the AMP check replaced by a
  local one (Ultralytics' own downloads ``yolo26n.pt`` on CUDA), ``check_font`` answering with a font
  that ships with matplotlib (Ultralytics' own downloads ``Arial.ttf``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

SETTINGS_DIR = "ultralytics_settings"
_INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")
_BAD_AMP_GPUS = re.compile(
    r"(nvidia|geforce|quadro|tesla).*?(1660|1650|1630|t400|t550|t600|t1000|t1200|t2000|k40m)", re.IGNORECASE
)
_active = 0
_verbose = True


def set_verbose(verbose: bool) -> None:
    """Whether Ultralytics logs at INFO (epochs, progress bars) inside the sandbox, or only warnings."""
    global _verbose
    _verbose = bool(verbose)


def sandbox_active() -> bool:
    """Whether the calling code runs inside :func:`ultralytics_sandbox`."""
    return _active > 0


def local_font(font: str = "Arial.ttf") -> str:
    """A TrueType font that ships with matplotlib (DejaVu Sans), whatever font Ultralytics asks for."""
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def local_amp_check(model) -> bool:
    """Ultralytics' AMP check without its download: AMP on CUDA except on GPUs known to break it (same list)."""
    import torch

    device = next(model.parameters()).device
    if device.type != "cuda":
        return False
    name = torch.cuda.get_device_name(device)
    if _BAD_AMP_GPUS.search(name):
        log.warning("AMP disabled: %s is known to give NaN losses with AMP", name)
        return False
    return True


ULTRALYTICS_ENV_KEYS = (
    "OMP_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "TF_CPP_MIN_LOG_LEVEL",
    "TORCH_CPP_LOG_LEVEL",
    "KINETO_LOG_LEVEL",
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTHONHASHSEED",
    "TORCH_NCCL_BLOCKING_WAIT",
    "CUDA_VISIBLE_DEVICES",
)
"""Variables Ultralytics sets on import, in ``select_device``, seeding and DDP (ultralytics 8.3/8.4)."""


@contextlib.contextmanager
def _process_state(values: dict[str, str | None]) -> Iterator[None]:
    """Sets ``values`` in the environment; on exit restores the keys it owns and the thread counts.

    The keys it owns are those of ``values`` and :data:`ULTRALYTICS_ENV_KEYS` (importing Ultralytics sets
    ``OMP_NUM_THREADS`` and others, and its ``select_device`` sets torch's thread count, cores - 1 on CPU):
    each gets back its value from before (or is removed again); any other variable that the code inside
    changed keeps its change.
    """
    import cv2
    import torch

    owned = tuple(dict.fromkeys((*values, *ULTRALYTICS_ENV_KEYS)))
    saved_env = {key: os.environ.get(key) for key in owned}
    saved_torch, saved_cv2 = torch.get_num_threads(), cv2.getNumThreads()
    try:
        _set_environment(values)
        yield
    finally:
        _set_environment(saved_env)
        torch.set_num_threads(saved_torch)
        cv2.setNumThreads(saved_cv2)


def _set_environment(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def _attributes(patches: list[tuple[object, str, object]]) -> Iterator[None]:
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, value in patches:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


@contextlib.contextmanager
def _log_level(logger: logging.Logger) -> Iterator[None]:
    saved = logger.level
    logger.setLevel(logging.INFO if _verbose else logging.WARNING)  # WARNING also hides progress bars
    try:
        yield
    finally:
        logger.setLevel(saved)


@contextlib.contextmanager
def _settings(settings, run_dir: Path) -> Iterator[None]:
    """Override Ultralytics' settings in memory only (``dict`` methods: JSONDict would write the file)."""
    saved = dict(settings)
    values = {
        "sync": False,
        "api_key": "",
        **{k: False for k in _INTEGRATIONS},
        "datasets_dir": str(run_dir / "datasets"),
        "weights_dir": str(run_dir / "weights_cache"),
        "runs_dir": str(run_dir),
    }
    try:
        dict.update(settings, values)
        yield
    finally:
        dict.clear(settings)
        dict.update(settings, saved)


def _module_patches() -> list[tuple[object, str, object]]:
    """Attributes to replace in the Ultralytics modules loaded now."""
    import ultralytics.data.utils  # the modules whose attributes are patched
    import ultralytics.engine.trainer
    import ultralytics.utils.checks
    import ultralytics.utils.events
    import ultralytics.utils.plotting

    patches: list[tuple[object, str, object]] = []
    for name, module in list(sys.modules.items()):
        if name.startswith("ultralytics") and module is not None:
            if getattr(module, "ONLINE", None) is True:
                patches.append((module, "ONLINE", False))
            if name != "ultralytics.utils.checks" and getattr(module, "check_amp", None) is not None:
                patches.append((module, "check_amp", local_amp_check))
            if getattr(module, "check_font", None) is not None:
                patches.append((module, "check_font", local_font))
    events = getattr(ultralytics.utils.events, "events", None)
    if events is not None and hasattr(events, "enabled"):
        patches.append((events, "enabled", False))
    return patches


@contextlib.contextmanager
def ultralytics_sandbox(run_dir: str | os.PathLike) -> Iterator[None]:
    """Run the enclosed Ultralytics calls offline, quietly, with settings in ``run_dir`` (see module docstring).

    Re-entrant; the first entry in a process is where ``ultralytics`` gets imported.

    Args:
        run_dir: the run folder; ``run_dir/ultralytics_settings/`` receives Ultralytics' settings file.
    """
    global _active
    run_dir = Path(run_dir).resolve()
    config_dir = run_dir / SETTINGS_DIR
    config_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_CONFIG_DIR": str(config_dir),
        "ULTRALYTICS_API_KEY": None,
    }
    if not _verbose:
        env["YOLO_VERBOSE"] = "false"  # read once, at Ultralytics' first import: quiet from its first line
    with _process_state(env):
        import cv2
        import ultralytics.utils

        cv2.setNumThreads(0)  # as Ultralytics' import does: no OpenCV pool threads when DataLoaders fork

        with (
            _settings(ultralytics.utils.SETTINGS, run_dir),
            _attributes(_module_patches()),
            _log_level(ultralytics.utils.LOGGER),
        ):
            _active += 1
            try:
                yield
            finally:
                _active -= 1
