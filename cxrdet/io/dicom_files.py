"""DICOM reading, first step: pydicom reads through a file object bounded by the file's size.

Its ``read(n)`` never asks for more than the bytes left, and values pydicom defers (large ones) are checked
against the file size before anything reads them: a damaged length cannot make anyone allocate gigabytes.
"""

from __future__ import annotations

import io
import os

from cxrdet.io.dicom_checks import HeaderError

_UNDEFINED_LENGTH = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010


class BoundedFile:
    """A read-only binary file whose ``read(n)`` never asks for more than the bytes left in the file.

    A damaged length field makes pydicom call ``read(4_294_967_280)``; a plain file object allocates that
    buffer before it finds out that the file is short. pydicom also re-opens this class by name
    (``BoundedFile(name, "rb")``) to read a deferred value later, so those reads are bounded too.

    Attributes:
        name: the path (pydicom stores it as the dataset's filename).
        size: the file size in bytes.
    """

    def __init__(self, path: str | os.PathLike, mode: str = "rb"):
        if mode != "rb":
            raise ValueError("BoundedFile is read-only binary")
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close() / the context manager
        self.name = os.fspath(path)
        self.size = os.fstat(self._file.fileno()).st_size

    def read(self, size: int | None = -1) -> bytes:
        left = max(0, self.size - self._file.tell())
        if size is None or size < 0 or size > left:
            size = left
        return self._file.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> BoundedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _source_size(ds, file_size: int) -> int:
    """Size of what deferred values are read from: the inflated buffer of a deflated file, else the file."""
    buffer = getattr(ds, "buffer", None)
    if buffer is None or isinstance(buffer, BoundedFile):
        return file_size
    here = buffer.tell()
    buffer.seek(0, io.SEEK_END)
    try:
        return buffer.tell()
    finally:
        buffer.seek(here)


def check_deferred_lengths(ds, file_size: int) -> None:
    """Every value pydicom left unread (a large one) must end inside the file.

    Raises:
        HeaderError: an element's length runs past the end of the file (truncated file or damaged length).
    """
    from pydicom.dataelem import RawDataElement

    size = _source_size(ds, file_size)
    for tag in ds.keys():  # noqa: SIM118 - iterating the dataset itself would convert every value
        elem = ds.get_item(tag, keep_deferred=True)
        if not isinstance(elem, RawDataElement) or elem.value is not None:
            continue
        if elem.length in (0, _UNDEFINED_LENGTH) or elem.value_tell + elem.length <= size:
            continue
        if int(tag) == _PIXEL_DATA:
            raise HeaderError("pixel data is truncated (its length runs past the end of the file)")
        raise HeaderError("truncated or damaged header: an element's length runs past the end of the file")
