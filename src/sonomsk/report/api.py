"""The public Python API of the report room: render and export one study's RESULTS.

Every function takes the RESULTS as a :class:`~sonomsk.report.results.StudyResults`, its dict or
the path of its JSON file, and ``deidentify_key`` (None: identified output; a key: pseudonyms
made by :mod:`sonomsk.io.deidentify` with that key).
"""

from __future__ import annotations

from sonomsk.report.dicom_export import write_seg, write_sr
from sonomsk.report.fhir import write_fhir
from sonomsk.report.render import render_html, render_pdf
from sonomsk.report.tables import write_csv, write_xlsx

__all__ = ["render_html", "render_pdf", "write_csv", "write_fhir", "write_seg", "write_sr", "write_xlsx"]
