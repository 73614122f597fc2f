"""Differential vignettes written from literature descriptions (tests/knowledge/vignettes/*.json).

Each vignette names its sources and the condition the literature describes. The test asserts that
this condition ranks first, or, where the vignette says the literature itself cannot separate the
conditions, that the engine reports them as not separated and names discriminating findings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonomsk.knowledge.base import load_knowledge
from sonomsk.knowledge.differential import rank

VIGNETTES = sorted((Path(__file__).parent / "vignettes").glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_enough_vignettes() -> None:
    assert len(VIGNETTES) >= 12


@pytest.mark.parametrize("path", VIGNETTES, ids=[p.stem for p in VIGNETTES])
def test_vignette(path: Path) -> None:
    v = _load(path)
    kb = load_knowledge()
    assert v["citations"], "a vignette must name its literature source"
    for ref in v["citations"]:
        assert ref in kb.citations
    result = rank(v["input"])
    d = result.to_dict()
    assert d["can_rank"] is True
    expect = v["expect"]
    if "first" in expect:
        assert expect["first"] in kb.conditions
        assert result.top == expect["first"], [
            (c["condition"], c["score_log10"]) for c in d["candidates"][:3]
        ]
        top = d["candidates"][0]
        # never a single answer without its evidence
        assert top["supporting"] and top["citations"]
        assert any(s["state"] == "present" for s in top["supporting"])
        if not result.separated:  # ranked first, but the engine must say it is not separated
            assert "do not separate" in d["message"]
            assert d["missing_discriminators"]
    else:
        names = {c["condition"] for c in d["candidates"][:2]}
        assert result.separated is False
        assert names == set(expect["not_separated"])
        disc = {m["finding"] for m in d["missing_discriminators"]}
        assert disc & set(expect["discriminators_include_any"]), disc


def test_hnpp_vignette_is_ranked_first_but_flagged_against_ulnar_neuropathy() -> None:
    """HNPP's focal enlargement at entrapment sites resembles a single entrapment (J Neurol 2015)."""
    d = rank(_load(Path(__file__).parent / "vignettes" / "hnpp.json")["input"]).to_dict()
    assert d["candidates"][0]["condition"] == "hnpp"
    others = [c["condition"] for c in d["candidates"][1:3]]
    assert "ulnar_neuropathy_elbow" in others
