"""Review ws15c (a re-check of the pattern rules through the differential): N1, N3-N5."""

from __future__ import annotations

from typing import Any

from sonomsk.knowledge.base import FindingState, load_knowledge
from sonomsk.knowledge.differential import rank
from sonomsk.knowledge.inputs import parse_findings
from sonomsk.nerve.assess import assess
from tests.nerve.test_review14_patterns import V21_CMT1A_UNIFORM_MILD, body


def _na(rows: list[tuple[Any, ...]], **patient: Any) -> dict[str, Any]:
    return assess(body(rows, **patient)).to_dict()


def test_a_study_that_cannot_judge_reduction_leaves_the_reduced_pattern_unknown() -> None:
    """Roots only (Dutch set): no measured site can show reduced CSA, so a normal pattern must not
    count "reduced pattern absent" against ALS (N3)."""
    rows = [
        ("c5_root", "right", 2.5),
        ("c5_root", "left", 2.5),
        ("c6_root", "right", 1.2),
        ("c6_root", "left", 1.1),
        ("c7_root", "right", 2.0),
    ]
    na = _na(rows, age=63)
    assert na["pattern"] == "normal"
    obs = parse_findings({"nerve_assessment": na}, load_knowledge())
    assert obs.states.get("nerve_pattern_normal") == FindingState.PRESENT
    assert obs.states.get("nerve_pattern_reduced", FindingState.UNKNOWN) == FindingState.UNKNOWN
    assert any("too few measured sites could show reduced CSA" in n for n in obs.notes)


def test_an_indeterminate_pattern_rules_out_the_patterns_it_does_not_offer() -> None:
    """Uniform mild enlargement is undecided between diffuse and multifocal: not a focal entrapment,
    not normal (N4: entrapments rose unopposed, UNE 3rd in a CMT1A family)."""
    na = _na(V21_CMT1A_UNIFORM_MILD, age=38, sex="F")
    assert na["pattern"] == "indeterminate"
    assert set(na["candidates"]) == {"diffuse", "multifocal_nonentrapment"}
    obs = parse_findings({"nerve_assessment": na}, load_knowledge())
    assert obs.states.get("nerve_pattern_focal_entrapment") == FindingState.ABSENT
    assert obs.states.get("nerve_pattern_normal") == FindingState.ABSENT
    assert obs.states.get("nerve_pattern_diffuse", FindingState.UNKNOWN) == FindingState.UNKNOWN
    d = rank(
        {
            "nerve_assessment": na,
            "patient": {"age": 38},
            "findings": {"family_history_neuromuscular": "present"},
        }
    )
    ranked = [c.condition for c in d.candidates]
    assert ranked[0] == "cmt1a"
    une = next(c for c in d.candidates if c.condition == "ulnar_neuropathy_elbow")
    assert any(x.finding == "nerve_pattern_focal_entrapment" for x in une.against)


def test_a_named_slowing_the_leader_does_not_explain_is_said() -> None:
    """A chronic asymmetric fibular-head block ranks ALS first (N5): the note says the slowing is not
    explained by it and names the fibular neuropathy's rank."""
    d = rank(
        {
            "patient": {"age": 40, "onset": "chronic", "symmetry": "asymmetric"},
            "findings": {"focal_slowing_fibular_head": "present"},
        }
    ).to_dict()
    lead = d["candidates"][0]["name"]
    note = next(
        n for n in d["notes"] if n.startswith("focal_slowing_fibular_head is present but not explained")
    )
    assert d["candidates"][0]["condition"] == "als"  # onset and asymmetry outweigh the block
    assert lead in note and "Fibular (peroneal) neuropathy at the fibular head (rank 2)" in note
    explained = rank({"findings": {"focal_slowing_fibular_head": "present"}}).to_dict()
    assert not any("not explained" in n for n in explained["notes"])
