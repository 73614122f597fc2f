"""A later signed report says, under its header, which report it replaces (review ws15a
finding 8: it was only a key/value table with raw UIDs under "Other results")."""

from __future__ import annotations

import dataclasses

from sonomsk.report.api import render_html
from sonomsk.report.results import StudyResults


def test_a_report_that_replaces_another_says_so_under_the_header_without_uids(example: StudyResults) -> None:
    prev = {
        "report": 1,
        "signed_by": "Dr A",
        "signed_at": "2026-11-20T10:00:00",
        "study_uid": "1.2.3",
        "series_uid": "1.2.3.4",
        "sop_instance_uid": "1.2.3.4.5",
    }
    later = dataclasses.replace(example, extra={**dict(example.extra), "supersedes": prev})
    html = render_html(later)
    assert 'data-testid="report-supersedes"' in html
    assert "This report replaces report 1, signed by Dr A (2026-11-20T10:00:00)" in html
    assert html.index("report-supersedes") < html.index("<h2>Measurements")
    assert "1.2.3.4.5" not in html and "sop_instance_uid" not in html
    assert "report-supersedes" not in render_html(example)
    anonymous = render_html(later, deidentify_key="k")
    from sonomsk.report.deid import date_shift, shift_time

    # de-identified: the signing time shifted as the images' dates are (review ws15d N3)
    shifted = shift_time(prev["signed_at"], date_shift("k"))
    assert shifted and shifted[:10] != "2026-11-20"
    assert f"This report replaces report 1 ({shifted})" in anonymous and "Dr A" not in anonymous
    assert "2026-11-20" not in anonymous
