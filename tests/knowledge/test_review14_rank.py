"""Review ws14b (a neurologist's review of `differential`): findings 1, 2, 4 and 9."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from sonomsk.cli.main import main
from sonomsk.core.errors import InvalidParameterError
from sonomsk.knowledge.base import FindingState, load_knowledge
from sonomsk.knowledge.differential import rank
from sonomsk.knowledge.inputs import parse_findings
from sonomsk.nerve.assess import assess
from tests.nerve.test_review14_patterns import V21_CMT1A_UNIFORM_MILD as V21


def assessment(rows: list[tuple[str, str, float]], **patient: Any) -> dict[str, Any]:
    req = {
        "patient": patient,
        "measurements": [{"site": s, "side": side, "csa_mm2": v} for s, side, v in rows],
    }
    return assess(req).to_dict()


V08_ALS_REDUCED = [
    ("median_forearm", "right", 3.2),
    ("median_upper_arm", "right", 5.5),
    ("median_wrist", "right", 6.0),
    ("ulnar_forearm", "right", 3.0),
    ("ulnar_upper_arm", "right", 4.5),
    ("radial_spiral_groove", "right", 3.0),
    ("c5_root", "right", 3.5),
    ("c6_root", "right", 3.5),
    ("c7_root", "right", 4.0),
    ("vagus_neck", "right", 1.5),
    ("sural_calf", "right", 2.3),
]


def test_reduced_csa_chronic_asymmetric_ranks_als_first() -> None:
    doc = {
        "patient": {"onset": "chronic", "symmetry": "asymmetric"},
        "nerve_assessment": assessment(V08_ALS_REDUCED, age=63, sex="M"),
    }
    d = rank(doc).to_dict()
    ids = [c["condition"] for c in d["candidates"]]
    assert ids[0] == "als", ids
    assert ids.index("sma") > 0
    sma = next(c for c in d["candidates"] if c["condition"] == "sma")
    assert any(e["finding"] == "asymmetric_presentation" for e in sma["against"]), sma["against"]


def test_new_als_and_sma_entries_are_qualitative_with_the_b_citation() -> None:
    kb = load_knowledge()
    for cid, fid, weight in [
        ("als", "onset_chronic", "moderate_for"),
        ("als", "asymmetric_presentation", "moderate_for"),
        ("sma", "asymmetric_presentation", "against"),
    ]:
        entry = kb.conditions[cid].entries[fid]
        assert entry.basis.value == "qualitative" and f"'{weight}'" in entry.derivation
        assert entry.citations == ("clinical_definitions",) and entry.statement


def test_raw_nerve_assessment_is_refused_with_how_to_wrap_it(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = assessment(V08_ALS_REDUCED, age=63)
    with pytest.raises(InvalidParameterError, match=re.escape('put it under "nerve_assessment"')):
        rank(raw)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(raw))
    assert main(["differential", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nerve assessment" in err and '"nerve_assessment"' in err


V30 = [
    ("median_forearm", "right", 10.5),
    ("median_upper_arm", "right", 8.0),
    ("ulnar_forearm", "right", 6.0),
    ("c5_root", "right", 6.0),
    ("tibial_popliteal", "right", 18.0),
    ("sural_calf", "right", 2.0),
]


def test_one_enlarged_goedee_site_is_counted_once() -> None:
    kb = load_knowledge()
    firm = [("median_forearm", "right", 12.0), *V30[1:]]  # 2 mm2 over the cut-off: beyond the SD 1.7
    obs = parse_findings({"nerve_assessment": assessment(firm, age=38)}, kb)
    assert obs.states.get("proximal_median_or_plexus_enlarged") == FindingState.PRESENT
    assert (
        obs.states.get("nerve_pattern_multifocal_nonentrapment", FindingState.UNKNOWN) == FindingState.UNKNOWN
    )


def test_a_goedee_criterion_met_within_the_measurement_sd_is_not_counted() -> None:
    """Median forearm 10.5 against the cut-off 10 (SD 1.7): a second measurement may not meet it,
    so Goedee's 99 % specificity is not given to it (review ws15c N1)."""
    kb = load_knowledge()
    obs = parse_findings({"nerve_assessment": assessment(V30, age=38)}, kb)
    assert obs.states.get("proximal_median_or_plexus_enlarged", FindingState.UNKNOWN) == FindingState.UNKNOWN
    assert any("met only within the between-investigator SD" in n for n in obs.notes)


V10_CHILD_REGIONAL = [
    ("median_forearm", "right", 25.0),
    ("ulnar_upper_arm", "right", 20.0),
    ("tibial_popliteal", "right", 15.0),
]


def test_child_multifocal_from_adult_limits_does_not_count_against_cmt1a() -> None:
    kb = load_knowledge()
    na = assessment(V10_CHILD_REGIONAL, age=8)
    # an assessment written by an older version still says multifocal: not read for a child
    na["pattern"] = "multifocal_nonentrapment"
    obs = parse_findings({"nerve_assessment": na}, kb)
    for fid in ("nerve_pattern_multifocal_nonentrapment", "nerve_pattern_diffuse"):
        assert obs.states.get(fid, FindingState.UNKNOWN) == FindingState.UNKNOWN, fid
    # any other pattern from a child on adult limits implies no "not diffuse" either
    na["pattern"] = "focal_entrapment"
    obs = parse_findings({"nerve_assessment": na}, kb)
    assert obs.states.get("nerve_pattern_diffuse", FindingState.UNKNOWN) == FindingState.UNKNOWN


def test_uniform_mild_enlargement_with_family_history_does_not_put_cidp_first() -> None:
    doc = {
        "patient": {"onset": "chronic", "symmetry": "symmetric", "family_history": True},
        "nerve_assessment": assessment(V21, age=38, sex="F"),
    }
    d = rank(doc).to_dict()
    ids = [c["condition"] for c in d["candidates"]]
    assert ids[0] == "cmt1a", ids
    cmt = next(c for c in d["candidates"] if c["condition"] == "cmt1a")
    against = [e["finding"] for e in cmt["against"]]
    assert "nerve_pattern_multifocal_nonentrapment" not in against
    assert "nerve_pattern_diffuse" not in against
