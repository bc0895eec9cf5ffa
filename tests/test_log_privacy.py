"""The command line's logging never prints a pydicom record or warning verbatim (they can quote a header)."""

from __future__ import annotations

import subprocess
import sys


def test_pydicom_records_and_warnings_are_withheld():
    code = """
import logging, warnings, pydicom.valuerep
from cxrdet import log_privacy
log_privacy.install(logging.DEBUG)
logging.getLogger('pydicom').warning("Invalid value for VR UI: 'DOE^JANE SYNPID-1'")
pydicom.valuerep.validate_value('UI', '1.2.3' + 'DOE^JANE' * 10, pydicom.config.WARN)
warnings.warn('our own warning stays readable')
logging.getLogger('cxrdet.x').info('kept as it is')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "DOE^JANE" not in out.stderr and "SYNPID" not in out.stderr
    assert out.stderr.count("details withheld") >= 2
    assert "our own warning stays readable" in out.stderr and "kept as it is" in out.stderr
