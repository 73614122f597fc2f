"""The workflow frame of the workstation: each clinical workflow plugs in as a router.

A workflow (nerve study now; muscle study and procedures later) is a module with
``build_router(store) -> fastapi.APIRouter`` mounted under ``/api/workflows/<name>``, plus a
browser panel ``static/workflows/<name>.js`` that the viewer loads by name. Adding a workflow
means adding one entry here and those two files; nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import asdict, dataclass
from typing import Any

from sonomsk.store.db import Store

log = logging.getLogger("sonomsk.server")


@dataclass(frozen=True)
class Workflow:
    name: str
    title: str
    description: str
    module: str
    panel: str


WORKFLOWS: tuple[Workflow, ...] = (
    Workflow(
        name="nerve",
        title="Nerve study",
        description="Sites and sides, automatic and corrected outlines, CSA against limits, pattern and differential.",
        module="sonomsk.server.workflow_nerve",
        panel="/static/workflows/nerve.js",
    ),
    Workflow(
        name="report",
        title="Report",
        description="Preview, sign off, download the PDF, send the SR to a DICOM destination.",
        module="sonomsk.server.workflow_report",
        panel="/static/workflows/report.js",
    ),
)


def available(workflow: Workflow) -> bool:
    return importlib.util.find_spec(workflow.module) is not None


def list_workflows() -> list[dict[str, Any]]:
    return [asdict(w) | {"available": available(w)} for w in WORKFLOWS]


def mount_workflows(app: Any, store: Store) -> None:
    """Include every available workflow's router under /api/workflows/<name>."""
    for w in WORKFLOWS:
        if not available(w):
            continue
        module = importlib.import_module(w.module)
        app.include_router(module.build_router(store), prefix=f"/api/workflows/{w.name}", tags=[w.name])
