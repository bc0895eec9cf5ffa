"""Configs for every engine: mmengine python files read and overridden by mmengine's own ``Config``.

:func:`read_config` is ``mmengine.config.Config.fromfile`` (``_base_`` files, relative or package-scoped such
as ``mmdet::_base_/default_runtime.py``, ``_delete_=True`` to replace a base section) followed by
``Config.merge_from_dict`` of the ``--cfg-options`` (dotted keys, list indices such as ``a.2.b=...``,
``_delete_``); :func:`dump_config` is ``Config.dump``. Nothing here knows a schema: an engine adapter that owns
a section checks its keys (:func:`load_config` with that engine's defaults: unknown keys rejected with the
closest known names, "did you mean ..."). Override order is explicit: an engine's defaults < the config file
(its ``_base_`` first) < ``--cfg-options``. Configs shipped with cxrdet live in ``cxrdet/.mim/configs``
(:func:`resolve_path`).
"""

from __future__ import annotations

import ast
import copy
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cxrdet.errors import ConfigError

OPEN = object()
"""Default marking a dict-valued key whose inner keys are free (e.g. a user dict of extra arguments)."""


class KeysOnly(dict):
    """A nested default whose keys are checked but whose values are not type-checked here.

    For sections validated by the library that consumes them (e.g. Ultralytics' own ``check_cfg``, which
    knows that ``amp`` is a bool or ``'bf16'``).
    """


_WORDS = {"true": True, "false": False, "none": None, "null": None}


def parse_value(text: str) -> Any:
    """A ``--cfg-options`` value: Python literal (``3``, ``0.5``, ``[1, 2]``, ``'a'``), bool/None words, else str.

    ``true``/``false``/``none``/``null`` are accepted in any case; anything that is not a literal stays a
    string (so ``sgd`` and ``runs/a`` need no quotes). A bare comma list is a list, as mmengine's ``DictAction``
    reads it for mmdet's tools: ``1,2`` -> ``[1, 2]``, ``a,b`` -> ``['a', 'b']`` (``(1, 2)`` stays a tuple).
    """
    stripped = text.strip()
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = text
    if stripped[:1] not in "([{'\"" and "," in stripped and isinstance(value, (tuple, str)):
        return [parse_value(item) for item in stripped.split(",") if item.strip()]
    return value


def parse_options(items: Iterable[str] | None) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}`` (dotted keys make nested dicts).

    Raises:
        ConfigError: an item without ``=`` or with an empty key.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--cfg-options: expected KEY=VALUE (dotted keys for nested values), got {item!r}")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--cfg-options: {key!r} sets a key inside {part!r}, which is given a value too")
            node = child
        node[parts[-1]] = parse_value(value)
    return out


def suggest(key: str, known: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean 'x' or 'y'?)`` for the closest known names (with ``prefix``), or an empty string."""
    close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(prefix + c) for c in close) + "?)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coerce(value: Any, default: Any, where: str, check_types: bool = True) -> Any:
    """``value`` checked against the type of ``default`` (int -> float widening; a None default accepts all)."""
    if not check_types or default is None or default is OPEN or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expects true or false, got {value!r}")
        return value
    if _is_number(default):
        if isinstance(value, (list, tuple)):  # e.g. imgsz=[h, w]: the engine judges sequences
            return value
        if not _is_number(value):
            raise ConfigError(f"{where}: expects a number, got {value!r}")
        return float(value) if isinstance(default, float) else value
    if isinstance(default, str) and _is_number(value):
        return str(value)  # e.g. device=0 -> "0"
    return value


def merge(
    base: Mapping[str, Any],
    update: Mapping[str, Any],
    schema: Mapping[str, Any] | None = None,
    where: str = "",
    check_types: bool = True,
) -> dict[str, Any]:
    """``base`` updated by ``update`` recursively; with a ``schema`` every key of ``update`` must be in it.

    Args:
        base: current values.
        update: new values (dicts merge into dicts; anything else replaces).
        schema: the allowed keys and their default values (``OPEN`` for a free dict), or None for no checks.
        where: dotted prefix for messages.

    Raises:
        ConfigError: unknown key (with suggestions) or a value of the wrong type.
    """
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        name = f"{where}{key}"
        if schema is not None and key not in schema:
            hint = suggest(key, schema, where) or _nested_hint(key, schema, where)
            raise ConfigError(f"unknown config key {name!r}{hint}")
        default = schema.get(key) if schema is not None else None
        if isinstance(default, Mapping) and default is not OPEN:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{name}: expects a dict of options, got {value!r}")
            out[key] = merge(
                out.get(key) or {}, value, default, f"{name}.", check_types and not isinstance(default, KeysOnly)
            )
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value, None, f"{name}.")
        else:
            out[key] = _coerce(copy.deepcopy(value), default, name, check_types)
    return out


def _nested_hint(key: str, schema: Mapping[str, Any], where: str) -> str:
    """`` (did you mean 'section.key'?)`` when ``key`` is a known key of a nested section."""
    inside = [
        f"{where}{section}.{key}"
        for section, value in schema.items()
        if isinstance(value, Mapping) and value is not OPEN and key in value
    ]
    return " (did you mean " + " or ".join(repr(c) for c in inside) + "?)" if inside else ""


def packaged_configs() -> Path:
    """The configs shipped inside the package (``cxrdet/.mim/configs``, as mmdet ships ``mmdet/.mim/configs``)."""
    return Path(__file__).resolve().parent / ".mim" / "configs"


def resolve_path(path: str | os.PathLike) -> Path:
    """A config path as given if it exists, else the same relative path among :func:`packaged_configs`.

    ``yolo/yolov5s_1024-e40_vindr.py`` and ``configs/yolo/yolov5s_1024-e40_vindr.py`` both find the shipped
    file from any folder.

    Raises:
        ConfigError: neither exists.
    """
    given = Path(path)
    if given.is_file():
        return given
    if not given.is_absolute():
        parts = given.parts[1:] if given.parts[:1] == ("configs",) else given.parts
        shipped = packaged_configs().joinpath(*parts) if parts else None
        if shipped is not None and shipped.is_file():
            return shipped
    raise ConfigError(
        f"{path}: config file not found (neither here nor among cxrdet's configs in {packaged_configs()})"
    )


def flatten_options(options: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (``Config.merge_from_dict``'s input); a ``_delete_`` dict stays whole."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and not value.get("_delete_"):
            out.update(flatten_options(value, name + "."))
        else:
            out[name] = value
    return out


def fill_unset(options: Mapping[str, Any], node: Any) -> dict[str, Any]:
    """``options`` where a dict lands on a key the config sets to None marked ``_delete_`` (it replaces the None).

    mmengine refuses to merge a dict into None ("cannot inherit from base"), so without this
    ``--cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=F`` could not
    fill in a config's ``init_cfg=None``. Everything else merges by mmengine's rules unchanged.
    """
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Mapping) and not value.get("_delete_"):
            if isinstance(node, Mapping) and key in node and node[key] is None:
                value = {**value, "_delete_": True}
            elif isinstance(node, Mapping) and isinstance(node.get(key), (Mapping, list)):
                value = fill_unset(value, node[key])
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                value = fill_unset(value, node[int(key)])
        out[key] = value
    return out


def read_config(path: str | os.PathLike | None, options: Mapping[str, Any] | Iterable[str] | None = None):
    """An ``mmengine.config.Config``: the file with its ``_base_`` merged, then ``options`` by mmengine's rules.

    Args:
        path: the config file (None: an empty config).
        options: ``--cfg-options`` items (``"a.b=1"``, ``"a.0.b=2"``) or an already parsed (nested or dotted) dict.

    Raises:
        ConfigError: missing file, a file mmengine cannot read, or options it cannot merge (with the reason).
    """
    from mmengine.config import Config

    if path is None:
        cfg = Config()
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            cfg = Config.fromfile(str(path))
        except Exception as err:  # syntax errors, bad _base_, ...: the user's file
            raise ConfigError(f"{path}: cannot read config: {type(err).__name__}: {err}") from None
    if options:
        parsed = options if isinstance(options, Mapping) else parse_options(options)
        parsed = fill_unset(parsed, cfg._cfg_dict)
        try:
            cfg.merge_from_dict(flatten_options(parsed), allow_list_keys=True)
        except (KeyError, TypeError, ValueError, IndexError, AssertionError) as err:
            raise ConfigError(f"--cfg-options: {err}") from None
    return cfg


def _plain(value: Any) -> Any:
    """mmengine ``ConfigDict`` / tuples / paths -> plain dicts, tuples and strings (recursively)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return value


def read_file(path: str | os.PathLike, options: Mapping[str, Any] | Iterable[str] | None = None) -> dict[str, Any]:
    """A config file (+ ``options``) as a plain dict: :func:`read_config`, private names (``_base_``...) dropped.

    Raises:
        ConfigError: missing file or a file mmengine cannot read (with its reason).
    """
    cfg = read_config(path, options)
    return {k: _plain(v) for k, v in cfg.to_dict().items() if not k.startswith("_")}


def load_config(
    path: str | os.PathLike | None,
    defaults: Mapping[str, Any],
    options: Mapping[str, Any] | Iterable[str] | None = None,
) -> dict[str, Any]:
    """For an engine adapter: ``defaults`` < file (with ``_base_``) < ``options``, keys checked against ``defaults``.

    The file and the options are merged by mmengine (:func:`read_config`); the result is then laid over the
    engine's ``defaults``, which name every key the engine accepts.

    Args:
        path: the config file, or None for the defaults alone.
        defaults: every allowed key with its default value (nested dicts are checked key by key).
        options: ``--cfg-options`` items (``"a.b=1"``) or an already parsed dict.

    Returns:
        The resolved config as a plain dict (``OPEN`` markers replaced by empty dicts).

    Raises:
        ConfigError: unreadable file, unknown keys (with suggestions), values of the wrong type.
    """
    schema = dict(defaults)
    return merge(_materialise(schema), read_file(path, options) if path is not None or options else {}, schema)


def _materialise(schema: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in schema.items():
        if value is OPEN:
            out[key] = {}
        elif isinstance(value, Mapping):
            out[key] = _materialise(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dump_config(cfg: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Writes a resolved config with mmengine's ``Config.dump``; :func:`read_file` reads it back to the same dict."""
    from mmengine.config import Config

    from cxrdet.io.atomic import write_text

    path = Path(path)
    text = Config(_plain(dict(cfg))).pretty_text
    write_text(path, "# resolved by cxrdet: defaults < config file < --cfg-options\n" + text)
    return path
