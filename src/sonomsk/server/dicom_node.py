"""A DICOM node for scanners: C-ECHO and C-STORE (pynetdicom), storing into the study store.

Each received object is written to a temporary file, checked with :func:`sonomsk.read` and
imported in one transaction; a duplicate (same SOP Instance UID) is acknowledged and stored once.
Objects that are not readable ultrasound images are refused with a DICOM failure status, so the
scanner sees the refusal. Nothing about the patient is logged.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonomsk.core.errors import InvalidParameterError, SonomskError
from sonomsk.store.db import Store

log = logging.getLogger("sonomsk.dicom_node")

#: C-STORE status codes (PS3.4 Annex B / GG).
STATUS_SUCCESS = 0x0000
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_OUT_OF_RESOURCES = 0xA700


@dataclass
class NodeStats:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass
class DicomNode:
    """A running node; ``stop()`` shuts it down."""

    server: Any
    ae_title: str
    host: str
    port: int
    stats: NodeStats

    def stop(self) -> None:
        self.server.shutdown()


def _validate_ae_title(title: str) -> str:
    t = title.strip()
    if not 1 <= len(t) <= 16 or not all(32 <= ord(c) < 127 and c != "\\" for c in t):
        raise InvalidParameterError(f"AE title: expected 1-16 printable ASCII characters, got {title!r}")
    return t


def start_dicom_node(
    store: Store,
    *,
    port: int,
    host: str = "127.0.0.1",
    ae_title: str = "SONOMSK",
    allowed_calling: Sequence[str] | None = None,
    spool: Path | None = None,
) -> DicomNode:
    """Start a C-ECHO/C-STORE SCP in a background thread and return it.

    Parameters
    ----------
    store
        The study store that receives the images.
    port, host
        Where to listen; 127.0.0.1 by default.
    ae_title
        The node's own AE title; associations must call it.
    allowed_calling
        When given, only these calling AE titles (the scanners) may associate.
    """
    from pynetdicom import AE, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    title = _validate_ae_title(ae_title)
    allowed = {_validate_ae_title(a) for a in allowed_calling} if allowed_calling else None
    spool_dir = Path(spool) if spool else Path(tempfile.mkdtemp(prefix="sonomsk-spool-"))
    spool_dir.mkdir(parents=True, exist_ok=True)
    stats = NodeStats()

    def handle_store(event: Any) -> int:
        from sonomsk.store.repository import import_file

        fd, name = tempfile.mkstemp(dir=spool_dir, suffix=".dcm")
        os.close(fd)
        tmp = Path(name)
        try:
            _write_received(event, tmp)
            calling = str(event.assoc.requestor.ae_title).strip()
            result = import_file(store, tmp, actor=f"dicom:{calling}", original_name="received.dcm")
            with stats.lock:
                if result.created:
                    stats.stored += 1
                else:
                    stats.duplicates += 1
            return STATUS_SUCCESS
        except SonomskError as exc:
            with stats.lock:
                stats.refused += 1
            log.warning("C-STORE refused: %s", type(exc).__name__)
            return STATUS_CANNOT_UNDERSTAND
        except Exception as exc:  # never let a bug kill the association thread
            with stats.lock:
                stats.refused += 1
            log.error("C-STORE failed: %s", type(exc).__name__)
            return STATUS_OUT_OF_RESOURCES
        finally:
            tmp.unlink(missing_ok=True)

    def handle_echo(_event: Any) -> int:
        return STATUS_SUCCESS

    ae = AE(ae_title=title)
    ae.require_called_aet = True
    if allowed:
        ae.require_calling_aet = sorted(allowed)
    ae.maximum_pdu_size = 0
    for cx in AllStoragePresentationContexts:
        if cx.abstract_syntax is not None:
            ae.add_supported_context(cx.abstract_syntax, _ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    handlers: list[Any] = [(evt.EVT_C_STORE, handle_store), (evt.EVT_C_ECHO, handle_echo)]
    server = ae.start_server((host, port), block=False, evt_handlers=handlers)
    assert server is not None
    bound_port = int(server.server_address[1])
    return DicomNode(server=server, ae_title=title, host=host, port=bound_port, stats=stats)


def _write_received(event: Any, path: Path) -> None:
    """Write the received dataset with its file meta as a DICOM Part 10 file."""
    from pydicom.filewriter import dcmwrite

    ds = event.dataset
    ds.file_meta = event.file_meta
    dcmwrite(str(path), ds, enforce_file_format=True)


_ALL_TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2",  # implicit VR little endian
    "1.2.840.10008.1.2.1",  # explicit VR little endian
    "1.2.840.10008.1.2.2",  # explicit VR big endian (retired)
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE lossless
    "1.2.840.10008.1.2.4.100",  # MPEG-2
    "1.2.840.10008.1.2.4.102",  # MPEG-4 AVC/H.264
    "1.2.840.10008.1.2.4.103",  # MPEG-4 AVC/H.264 BD
]
