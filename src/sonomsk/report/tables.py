"""CSV and XLSX tables of a study for research: one row per measurement, plus assessment sheets.

CSV: one file with one row per measurement, each row carrying the (pseudonymised) patient id,
study UID and date so that many studies' files can be concatenated. XLSX: the same measurements
sheet plus one sheet each for the nerve assessment, its indices, muscles and the differential.
Values are numbers (never pre-formatted text); failed measurements have an empty value and the
reason in ``failure``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sonomsk.report.results import StudyResults, as_results, dict_rows, flatten_row, measurement_rows

#: Columns of the measurements table, in order.
MEASUREMENT_COLUMNS = (
    "patient_id",
    "study_uid",
    "study_date",
    "name",
    "value",
    "unit",
    "label",
    "site",
    "side",
    "image",
    "frame",
    "structure",
    "method",
    "method_version",
    "backend",
    "uncertainty",
    "failure",
)


def _prepare(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str], deidentify_key: str | None
) -> StudyResults:
    r = as_results(results)
    if deidentify_key is not None:
        from sonomsk.report.deid import deidentify_results

        r = deidentify_results(r, deidentify_key)
    return r


def measurement_table(results: StudyResults) -> list[dict[str, Any]]:
    """The measurements as rows with the columns of :data:`MEASUREMENT_COLUMNS`."""
    head = {
        "patient_id": results.patient.id,
        "study_uid": results.study.study_uid,
        "study_date": results.study.date,
    }
    return [{c: {**head, **row}.get(c) for c in MEASUREMENT_COLUMNS} for row in measurement_rows(results)]


def write_csv(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    deidentify_key: str | None = None,
) -> Path:
    """Write the measurements table as CSV (UTF-8, comma-separated, header row)."""
    r = _prepare(results, deidentify_key)
    out = Path(path)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MEASUREMENT_COLUMNS))
        writer.writeheader()
        for row in measurement_table(r):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return "; ".join(str(_cell(v)) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value)


def write_xlsx(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    deidentify_key: str | None = None,
) -> Path:
    """Write an XLSX workbook: measurements, nerve assessment, indices, muscles, differential."""
    from openpyxl import Workbook

    r = _prepare(results, deidentify_key)
    wb = Workbook()
    ws = wb.active
    ws.title = "measurements"
    ws.append(list(MEASUREMENT_COLUMNS))
    for row in measurement_table(r):
        ws.append([_cell(row[c]) for c in MEASUREMENT_COLUMNS])
    a = r.nerve_assessment or {}
    # sonomsk.nerve.assess: entrapment_indices and side_to_side; other producers: indices
    indices = a.get("indices") or [*(a.get("entrapment_indices") or []), *(a.get("side_to_side") or [])]
    sheets = {
        "nerve_assessment": [flatten_row(row) for row in dict_rows(a.get("measurements", []))],
        "nerve_indices": [flatten_row(row) for row in dict_rows(indices)],
        "muscles": dict_rows((r.muscle or {}).get("muscles", [])),
        "differential": dict_rows((r.differential or {}).get("candidates", [])),
    }
    for title, rows in sheets.items():
        if not rows:
            continue
        sheet = wb.create_sheet(title)
        cols: list[str] = []
        for row in rows:
            cols.extend(k for k in row if k not in cols)
        sheet.append(cols)
        for row in rows:
            sheet.append([_cell(row.get(c)) for c in cols])
    out = Path(path)
    wb.save(out)
    return out
