"""``cxrdet convert``'s output folder: recognise our own (by a marker we wrote), refuse anyone else's.

A new folder gets a marker file (``.cxrdet-convert``, holding a random folder id that ``convert.json``
repeats) and ``convert.json`` (the settings that shape the images). A later run writes into a folder only
if both are there, readable and agree, and its settings are the same; a folder holding anything else is
refused, so a user's data is never overwritten.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from cxrdet import __version__
from cxrdet.errors import InputError
from cxrdet.io.atomic import write_text

MARKER_FILE = ".cxrdet-convert"
SETTINGS_FILE = "convert.json"
_MARKER_KIND = "cxrdet convert output folder"


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise InputError(
            path, f"{what} is unreadable or damaged (not a JSON object); restore it, or convert into a new --out folder"
        ) from None
    return data


def _folder_id(out: Path) -> str | None:
    """The folder id of one of our folders, None for a new or empty folder; refuses any other folder."""
    marker = out / MARKER_FILE
    if not marker.exists():
        if any(out.iterdir()):
            raise InputError(
                out,
                "output folder is not empty and was not written by cxrdet convert "
                f"(no {MARKER_FILE} marker); choose a new or empty --out folder",
            )
        return None
    data = _read_json(marker, "the cxrdet convert marker")
    if data.get("kind") != _MARKER_KIND or not isinstance(data.get("folder_id"), str):
        raise InputError(marker, "not a cxrdet convert marker; choose a new or empty --out folder")
    return data["folder_id"]


def _describe(key: str, value) -> str:
    if key == "pseudonym_key":
        return f"the pseudonym map whose key_id is {value}" if value else "file names as image ids (no --pseudonymize)"
    return f"{key}={value}"


def prepare_out(out: str | os.PathLike, settings: dict) -> dict:
    """Create or reopen the output folder for a run with ``settings`` (the options that shape the outputs).

    Returns:
        The folder's recorded settings (``convert.json``), written for a new folder.

    Raises:
        InputError: ``out`` is a file, someone else's folder, a damaged one of ours, or was converted
            with other settings.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out names an existing file, not a folder")
    folder_id = _folder_id(out) if out.exists() else None
    if folder_id is not None:
        record = _read_json(out / SETTINGS_FILE, SETTINGS_FILE)
        if record.get("folder_id") != folder_id:
            raise InputError(
                out / SETTINGS_FILE,
                f"does not belong to this folder (its {MARKER_FILE} marker "
                "names another); restore it, or convert into a new --out folder",
            )
        changed = [k for k in settings if record.get(k) != settings[k]]
        if changed:
            was = ", ".join(_describe(k, record.get(k)) for k in changed)
            raise InputError(out, f"was converted with {was}; use a new --out folder for other settings")
        return record
    out.mkdir(parents=True, exist_ok=True)
    folder_id = uuid.uuid4().hex
    write_text(out / MARKER_FILE, json.dumps({"kind": _MARKER_KIND, "folder_id": folder_id}) + "\n")
    record = {**settings, "folder_id": folder_id, "cxrdet": __version__}
    write_text(out / SETTINGS_FILE, json.dumps(record, indent=2))
    return record


def record_summary(out: str | os.PathLike, summary: dict) -> None:
    """Add the last run's summary to ``convert.json``."""
    path = Path(out) / SETTINGS_FILE
    record = _read_json(path, SETTINGS_FILE)
    record["summary"] = summary
    write_text(path, json.dumps(record, indent=2))
