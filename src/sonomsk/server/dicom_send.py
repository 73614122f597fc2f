"""Send a DICOM file (the report's SR) to a DICOM destination: a pynetdicom C-STORE SCU.

The destination is a host, a port and its AE title (the "called" AE title). The file's own SOP
class and transfer syntax are proposed (plus the two uncompressed little-endian syntaxes), so any
storage SCP that accepts the SOP class can take it. Every failure (no connection, association
rejected or aborted, a failure status) raises :class:`~sonomsk.core.errors.NetworkError` with a
one-line message naming the destination; nothing about the patient is logged.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sonomsk.core.errors import InvalidParameterError, NetworkError

log = logging.getLogger("sonomsk.dicom_send")

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"


@dataclass(frozen=True)
class SendResult:
    """What the destination answered: the C-STORE status and the object sent."""

    destination: str
    status: int
    sop_class_uid: str
    sop_instance_uid: str

    @property
    def ok(self) -> bool:
        return self.status == 0x0000 or 0xB000 <= self.status <= 0xBFFF  # success or warning

    def to_dict(self) -> dict[str, object]:
        return {
            "destination": self.destination,
            "status": f"0x{self.status:04X}",
            "ok": self.ok,
            "sop_class_uid": self.sop_class_uid,
            "sop_instance_uid": self.sop_instance_uid,
        }


def check_ae_title(title: object, *, parameter: str = "ae_title") -> str:
    """An AE title: 1-16 printable ASCII characters without a backslash (leading/trailing spaces dropped)."""
    if not isinstance(title, str):
        raise InvalidParameterError(f"{parameter}: expected 1-16 printable ASCII characters, got {title!r}")
    t = title.strip()
    if not 1 <= len(t) <= 16 or not all(32 <= ord(c) < 127 and c != "\\" for c in t):
        raise InvalidParameterError(f"{parameter}: expected 1-16 printable ASCII characters, got {title!r}")
    return t


def check_destination(host: object, port: object) -> tuple[str, int]:
    """A host name or IP address and a TCP port 1..65535."""
    if not isinstance(host, str) or not host.strip() or len(host) > 253:
        raise InvalidParameterError(f"host: expected a host name or IP address, got {host!r}")
    h = host.strip()
    try:
        ipaddress.ip_address(h)
    except ValueError:
        if not all(part and all(c.isalnum() or c == "-" for c in part) for part in h.split(".")):
            raise InvalidParameterError(f"host: expected a host name or IP address, got {host!r}") from None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidParameterError(f"port: expected a TCP port 1..65535, got {port!r}")
    return h, port


def send_dicom(
    path: str | os.PathLike[str],
    *,
    host: str,
    port: int,
    called_ae: str,
    calling_ae: str = "SONOMSK",
    timeout_s: float = 30.0,
) -> SendResult:
    """C-STORE the DICOM file at ``path`` to ``called_ae`` at ``host``:``port``.

    Parameters
    ----------
    path
        A DICOM Part 10 file (for example the SR written by :func:`sonomsk.report.api.write_sr`).
    host, port
        The destination's address and TCP port.
    called_ae
        The destination's AE title.
    calling_ae
        Our AE title (what the destination sees as the sender).
    timeout_s
        Connection, association and DIMSE timeout in seconds.

    Raises
    ------
    InvalidParameterError
        A bad host, port, AE title or timeout.
    NetworkError
        No connection, association rejected/aborted, or a failure status from the destination.
    """
    import pydicom
    from pynetdicom import AE

    h, p = check_destination(host, port)
    called = check_ae_title(called_ae, parameter="called_ae")
    calling = check_ae_title(calling_ae, parameter="calling_ae")
    if not 0.1 <= float(timeout_s) <= 600:
        raise InvalidParameterError(f"timeout_s: expected 0.1 to 600 s, got {timeout_s}")
    where = f"{called}@{h}:{p}"
    src = Path(path)
    try:
        ds = pydicom.dcmread(src)
    except Exception as exc:
        raise InvalidParameterError(f"{src.name}: not a readable DICOM file ({type(exc).__name__})") from None
    sop_class = str(ds.get("SOPClassUID", ""))
    sop_uid = str(ds.get("SOPInstanceUID", ""))
    if not sop_class or not sop_uid:
        raise InvalidParameterError(f"{src.name}: SOP Class UID and SOP Instance UID are required to send it")
    syntaxes = [_EXPLICIT_LE, _IMPLICIT_LE]
    own = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    if own and own not in syntaxes:
        syntaxes.insert(0, own)

    ae = AE(ae_title=calling)
    ae.connection_timeout = timeout_s
    ae.acse_timeout = timeout_s
    ae.dimse_timeout = timeout_s
    ae.network_timeout = timeout_s
    ae.add_requested_context(sop_class, syntaxes)
    assoc = ae.associate(h, p, ae_title=called)
    if not assoc.is_established:
        why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"
        raise NetworkError(f"DICOM destination {where}: association {why} (check host, port and AE title)")
    try:
        status = assoc.send_c_store(ds)
    finally:
        if assoc.is_established:
            assoc.release()
    code = int(getattr(status, "Status", -1)) if status else -1
    if code < 0:
        raise NetworkError(f"DICOM destination {where}: no C-STORE response (connection lost or timed out)")
    result = SendResult(destination=where, status=code, sop_class_uid=sop_class, sop_instance_uid=sop_uid)
    if not result.ok:
        raise NetworkError(f"DICOM destination {where}: refused the object (C-STORE status 0x{code:04X})")
    log.info("sent one object to %s (status 0x%04X)", where, code)
    return result
