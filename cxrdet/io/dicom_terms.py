"""DICOM metadata out: fixed vocabularies (Modality defined terms, transfer syntax names) instead of raw text.

So no raw header text reaches ``meta.csv`` or a message.
"""

from __future__ import annotations

# DICOM PS3.3 C.7.3.1.1.1 Modality: the defined terms, current and retired.
MODALITIES = frozenset(
    {
        "ANN",
        "AR",
        "ASMT",
        "AU",
        "BDUS",
        "BI",
        "BMD",
        "CFM",
        "CR",
        "CT",
        "CTPROTOCOL",
        "DMS",
        "DG",
        "DOC",
        "DX",
        "ECG",
        "EEG",
        "EMG",
        "EOG",
        "EPS",
        "ES",
        "FID",
        "GM",
        "HC",
        "HD",
        "IO",
        "IOL",
        "IVOCT",
        "IVUS",
        "KER",
        "KO",
        "LEN",
        "LS",
        "M3D",
        "MG",
        "MR",
        "NM",
        "OAM",
        "OCT",
        "OP",
        "OPM",
        "OPT",
        "OPTBSV",
        "OPTENF",
        "OPV",
        "OSS",
        "OT",
        "PA",
        "PLAN",
        "POS",
        "PR",
        "PT",
        "PX",
        "REG",
        "RESP",
        "RF",
        "RG",
        "RTDOSE",
        "RTIMAGE",
        "RTINTENT",
        "RTPLAN",
        "RTRAD",
        "RTRECORD",
        "RTSEGANN",
        "RTSTRUCT",
        "RWV",
        "SEG",
        "SM",
        "SMR",
        "SR",
        "SRF",
        "STAIN",
        "TEXTUREMAP",
        "TG",
        "US",
        "VA",
        "XA",
        "XAPROTOCOL",
        "XC",
        # retired
        "AS",
        "CD",
        "CF",
        "CP",
        "CS",
        "DD",
        "DF",
        "DM",
        "DS",
        "EC",
        "FA",
        "FS",
        "LP",
        "MA",
        "MS",
        "OPR",
        "ST",
        "VF",
    }
)


def modality_term(value) -> str | None:
    """The Modality as a defined term ("DX", "CR", ...), or None for anything else (absent, text, several)."""
    if not isinstance(value, str):
        return None
    term = value.strip().upper()
    return term if term in MODALITIES else None


def transfer_syntax_uid(value) -> str:
    """A TransferSyntaxUID value as a plain string if it names a transfer syntax pydicom knows, else ""."""
    from pydicom.uid import UID

    if not isinstance(value, str):
        return ""
    uid = UID(value)
    return str(uid) if not uid.is_private and uid.is_transfer_syntax else ""


def transfer_syntax_name(uid: str) -> str:
    """The name of a known transfer syntax UID (pydicom's dictionary), else "unknown"."""
    from pydicom.uid import UID

    known = transfer_syntax_uid(uid)
    return UID(known).name if known else "unknown"
