"""The knowledge base files: vocabulary, citations, likelihood ratios derived as documented."""

from __future__ import annotations

import math

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.knowledge.base import Basis, _derive, load_knowledge, vocabulary

REQUIRED_CONDITIONS = {
    "carpal_tunnel_syndrome",
    "ulnar_neuropathy_elbow",
    "traumatic_nerve_injury",
    "cmt1a",
    "hnpp",
    "cidp",
    "mmn",
    "gbs",
    "axonal_polyneuropathy",
    "parsonage_turner",
    "schwannoma",
    "neurofibroma",
    "mpnst",
    "muscular_dystrophy",
    "inflammatory_myopathy",
    "inclusion_body_myositis",
    "als",
    "sma",
    "tendinopathy",
    "tendon_tear",
    "sasd_bursitis",
    "knee_joint_effusion",
}


def test_required_conditions_present() -> None:
    kb = load_knowledge()
    assert set(kb.conditions) >= REQUIRED_CONDITIONS


def test_every_entry_cites_a_source_with_an_evidence_tag() -> None:
    kb = load_knowledge()
    for cond in kb.conditions.values():
        assert cond.entries
        for e in cond.entries.values():
            assert e.citations
            for ref in e.citations:
                c = kb.citations[ref]
                assert c.evidence in ("A", "B")
                if c.evidence == "B":
                    assert c.caveat


def test_quantitative_entries_use_published_numbers_only_from_digest_sources() -> None:
    """Numbers come from sources of the project digest; non-digest sources are qualitative only."""
    kb = load_knowledge()
    for cond in kb.conditions.values():
        for e in cond.entries.values():
            if e.basis != Basis.QUALITATIVE:
                for ref in e.citations:
                    assert "not in the project evidence digest" not in (kb.citations[ref].caveat or ""), (
                        cond.id,
                        ref,
                    )


def test_sens_spec_derivation() -> None:
    kb = load_knowledge()
    e = kb.conditions["carpal_tunnel_syndrome"].entries["median_enlarged_carpal_tunnel"]
    assert e.lr_present == pytest.approx(0.873 / (1 - 0.833))
    assert e.lr_absent == pytest.approx((1 - 0.873) / 0.833)


def test_frequency_derivation_with_cohort_mean() -> None:
    kb = load_knowledge()
    e = kb.conditions["cmt1a"].entries["nerve_pattern_diffuse"]
    assert e.lr_present == pytest.approx(0.89 / ((0.36 + 0.05 + 0.0) / 3))
    assert e.lr_absent == pytest.approx(0.11 / (1 - (0.36 + 0.05) / 3))


def test_clamps_applied() -> None:
    kb = load_knowledge()
    lo, hi = kb.method["lr_clamp"]["min"], kb.method["lr_clamp"]["max"]
    e = kb.conditions["schwannoma"].entries["mass_target_sign"]  # 82.5% vs 0%
    assert e.lr_present == hi
    assert "clamped" in e.derivation
    for cond in kb.conditions.values():
        for x in cond.entries.values():
            assert lo <= x.lr_present <= hi and lo <= x.lr_absent <= hi


def test_group_bound_from_published_combination() -> None:
    kb = load_knowledge()
    g = kb.conditions["schwannoma"].groups["yuan_signs"]
    published = math.log10(0.952 / (1 - 0.961))  # LR+ 24.4, above the global clamp of 20
    assert g.log10_max == pytest.approx(min(published, math.log10(kb.method["lr_clamp"]["max"])))
    lo = math.log10(kb.method["lr_clamp"]["min"])
    assert g.log10_min == pytest.approx(max(math.log10((1 - 0.952) / 0.961), lo))


def test_qualitative_weight_unknown_is_refused() -> None:
    kb = load_knowledge()
    with pytest.raises(InvalidParameterError, match="weight"):
        _derive({"basis": "qualitative", "weight": "huge"}, kb.method, "x")
    with pytest.raises(InvalidParameterError, match="basis"):
        _derive({"basis": "guess"}, kb.method, "x")


def test_vocabulary_has_definitions_and_sourced_thresholds() -> None:
    vocab = vocabulary()
    kb = load_knowledge()
    assert "fasciculations_us" in vocab and "conduction_block" in vocab
    for name, d in vocab.items():
        assert d["definition"], name
        if d["threshold"]:
            assert d["threshold"]["citation"] in kb.citations
    assert vocab["joint_effusion"]["threshold"]["value"] == 4
    assert vocab["bursa_sasd_thickened"]["threshold"]["value"] == 2


def test_citations_claimed_from_the_digest_have_their_doi_in_it() -> None:
    """A source not flagged 'not in the project evidence digest' must be findable in the digest."""
    from pathlib import Path

    digest = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "clinical-evidence.md"
    if not digest.is_file():
        pytest.skip(f"evidence digest not found at {digest}")
    text = digest.read_text(encoding="utf-8")
    kb = load_knowledge()
    for key, c in kb.citations.items():
        if c.doi and "not in the project evidence digest" not in (c.caveat or ""):
            assert c.doi in text, key
