"""Logging of the ``cxrdet`` command line: no library's record that may quote a file's contents is printed verbatim.

pydicom's warnings quote raw header values, and a damaged length can make one value swallow the whole
header (patient name, ID, birth date...). cxrdet's DICOM reader already keeps them from being emitted; this
filter is the last line of defence for every other path: Python warnings are routed into logging, and any
record that comes from pydicom (or a warning raised inside it) is replaced by a neutral sentence.
"""

from __future__ import annotations

import logging

WITHHELD = "pydicom reported a problem with a file's header (details withheld: they may quote patient data)"
_QUOTING_LIBRARIES = ("pydicom",)


def _from_quoting_library(record: logging.LogRecord) -> bool:
    if record.name.split(".")[0] in _QUOTING_LIBRARIES:
        return True
    if record.name == "py.warnings":  # logging.captureWarnings: the message holds the warning's file path
        text = str(record.msg)
        return any(f"/{lib}/" in text or f"\\{lib}\\" in text for lib in _QUOTING_LIBRARIES)
    return False


class WithholdQuotedValues(logging.Filter):
    """Replaces the message of a record that may quote file contents (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _from_quoting_library(record):
            record.msg, record.args, record.exc_info, record.exc_text = WITHHELD, (), None, None
        return True


def install(level: int) -> None:
    """Configure the command line's logging at ``level``, with warnings routed through the filter."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, WithholdQuotedValues) for f in handler.filters):
            handler.addFilter(WithholdQuotedValues())
