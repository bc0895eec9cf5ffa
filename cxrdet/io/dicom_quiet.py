"""Around every pydicom call of the DICOM reader: pydicom's warnings and log records are held back.

They can quote identifying header values (a damaged length makes one value swallow the patient's name,
ID, birth date...). Its value validation is off meanwhile, so it has fewer of them to make.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_PYDICOM_LOGGER = "pydicom"


class _Hold(logging.Filter):
    """Drops every record of the logger it is attached to, counting those of WARNING and above."""

    def __init__(self) -> None:
        super().__init__()
        self.problems = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.problems += 1
        return False


class _QuietState:
    """The one process-wide quiet period: entered by the first reader, left by the last (threads share it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.hold = _Hold()
        self.loggers: list[logging.Logger] = []
        self.warnings_context: warnings.catch_warnings | None = None
        self.caught: list[warnings.WarningMessage] = []
        self.saved_modes: tuple | None = None

    def enter(self) -> int:
        """Start (or join) the quiet period; returns the problem count so far."""
        with self.lock:
            if self.depth == 0:
                self._start()
            self.depth += 1
            return self.problems()

    def leave(self) -> int:
        """Leave the quiet period (ending it for the last one out); returns the problem count so far."""
        with self.lock:
            count = self.problems()
            self.depth -= 1
            if self.depth == 0:
                self._stop()
            return count

    def problems(self) -> int:
        return self.hold.problems + len(self.caught)

    def _start(self) -> None:
        from pydicom import config

        self.hold.problems = 0
        self.loggers = [logging.getLogger(name) for name in _pydicom_logger_names()]
        for logger in self.loggers:
            logger.addFilter(self.hold)
        self.warnings_context = warnings.catch_warnings(record=True)
        self.caught = self.warnings_context.__enter__()
        warnings.simplefilter("always")  # count every one; none is shown
        settings = config.settings
        self.saved_modes = _validation_modes(settings)
        settings.reading_validation_mode = config.IGNORE
        settings.writing_validation_mode = config.IGNORE

    def _stop(self) -> None:
        from pydicom import config

        if self.saved_modes is not None:
            _restore_validation_modes(config.settings, self.saved_modes)
        if self.warnings_context is not None:
            self.warnings_context.__exit__(None, None, None)
        for logger in self.loggers:
            logger.removeFilter(self.hold)
        self.warnings_context, self.saved_modes, self.loggers, self.caught = None, None, [], []


def _validation_modes(settings) -> tuple:
    """pydicom's reading/writing validation modes as set (None: "follow the defaults"), to restore later."""
    return (
        getattr(settings, "_reading_validation_mode", settings.reading_validation_mode),
        getattr(settings, "_writing_validation_mode", settings.writing_validation_mode),
    )


def _restore_validation_modes(settings, modes: tuple) -> None:
    for name, mode in zip(("reading_validation_mode", "writing_validation_mode"), modes):
        if hasattr(settings, f"_{name}"):
            setattr(settings, f"_{name}", mode)  # keeps "None = follow the defaults"
        else:
            setattr(settings, name, mode)


def _pydicom_logger_names() -> list[str]:
    """The "pydicom" logger and every child logger that exists now (pydicom's decoders log on their own)."""
    import pydicom.pixels  # noqa: F401 - creates the decoder/encoder loggers before they are looked up

    names = [name for name in logging.root.manager.loggerDict if name.startswith(_PYDICOM_LOGGER + ".")]
    return [_PYDICOM_LOGGER, *sorted(names)]


_STATE = _QuietState()


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Hold back pydicom's warnings and log records and switch its value validation off, for the block.

    pydicom's validation warnings quote raw values, and a damaged length can make one value swallow the
    rest of the header (patient name, ID, birth date, ...), so none of them is shown or logged. At most a
    DEBUG record says how many problems pydicom reported. Nested and concurrent uses share one quiet period.
    """
    before = _STATE.enter()
    try:
        yield
    finally:
        problems = _STATE.leave() - before
        if problems > 0:
            log.debug(
                "pydicom reported %d problems in the header (not shown: they may quote identifying values)", problems
            )
