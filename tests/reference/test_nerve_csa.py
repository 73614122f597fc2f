"""Reference data files: completeness, evidence rules, derived limits and look-ups."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.reference import loader, nerve_csa
from sonomsk.reference.loader import citation, citation_keys, citation_short, load_data
from sonomsk.reference.nerve_csa import (
    default_reference_set,
    lookup_limit,
    reference_set_info,
    reference_sets,
    site_info,
    site_names,
    validate_reference_data,
)

REQUIRED_SITES = [
    "median_wrist",
    "median_forearm",
    "median_upper_arm",
    "ulnar_wrist",
    "ulnar_forearm",
    "ulnar_elbow",
    "ulnar_upper_arm",
    "radial_spiral_groove",
    "fibular_head",
    "fibular_popliteal",
    "tibial_popliteal",
    "tibial_ankle",
    "sural_calf",
    "vagus_neck",
    "c5_root",
    "c6_root",
    "c7_root",
    "brachial_plexus_trunk",
]
EVIDENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "clinical-evidence.md"


def test_data_files_are_sound() -> None:
    assert validate_reference_data() == []


def test_required_site_vocabulary_present() -> None:
    assert set(REQUIRED_SITES) <= set(site_names())


@pytest.mark.parametrize("ref", ["dutch", "korean"])
@pytest.mark.parametrize("site", REQUIRED_SITES)
def test_every_site_has_a_sourced_limit_or_an_explicit_no_reference(ref: str, site: str) -> None:
    for side in ("left", "right"):
        lim = lookup_limit(site, reference_set=ref, side=side, trunk="upper")
        if lim.status == "limit":
            assert lim.uln is not None and lim.uln > 0
            assert lim.kind in {k.value for k in nerve_csa.LimitKind}
            assert lim.citation is not None and lim.citation.evidence in ("A", "B")
        else:
            assert lim.status == "no_reference" and lim.reason and lim.uln is None


def test_default_set_is_dutch_and_documented() -> None:
    assert default_reference_set() == "dutch"
    info = reference_set_info(None)
    assert info.is_default and info.why_default
    assert set(reference_sets()) >= {"dutch", "korean"}


def test_citations_have_a_or_b_and_b_has_caveat() -> None:
    for key in citation_keys():
        c = citation(key)
        assert c.evidence in ("A", "B")
        if c.evidence == "B":
            assert c.caveat
            assert "[B:" in citation_short(key)


@pytest.mark.skipif(not EVIDENCE.is_file(), reason=f"evidence digest not found at {EVIDENCE}")
def test_every_doi_appears_in_the_evidence_digest() -> None:
    text = EVIDENCE.read_text(encoding="utf-8")
    for key in citation_keys():
        doi = citation(key).doi
        if doi:
            assert doi in text, key


@pytest.mark.skipif(not EVIDENCE.is_file(), reason=f"evidence digest not found at {EVIDENCE}")
def test_mean_sd_values_are_transcribed_from_the_digest() -> None:
    """Every mean+-SD pair in the data occurs in clinical-evidence.md."""
    text = EVIDENCE.read_text(encoding="utf-8")
    pairs = set(re.findall(r"(\d+\.\d+)±(\d+\.\d+)", text))
    found = {(float(a), float(b)) for a, b in pairs}
    for s in load_data("nerve_csa.json")["sets"].values():
        for site, e in s["sites"].items():
            variants = e["variants"].values() if e.get("by") else [e]
            for v in variants:
                if "mean" in v:
                    assert (v["mean"], v["sd"]) in found, (site, v)


def test_mean_plus_2sd_derivation() -> None:
    lim = lookup_limit("c5_root", reference_set="korean", level="foraminal")  # Won 2012
    assert lim.kind == "mean_plus_2sd"
    assert lim.uln == pytest.approx(5.66 + 2 * 1.02)
    assert lim.lln == pytest.approx(5.66 - 2 * 1.02)
    assert lim.z_score(5.66 + 1.02) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("ref", "site", "lln", "uln"),
    [
        ("korean", "median_wrist", 7, 13),
        ("korean", "median_forearm", 4, 10),
        ("korean", "ulnar_upper_arm", 4, 11),
        ("dutch", "median_forearm", 4, 10),
        ("dutch", "ulnar_forearm", 4, 9),
        ("dutch", "radial_spiral_groove", 4, 11),
    ],
)
def test_bae_limits_are_the_published_reference_range(ref: str, site: str, lln: float, uln: float) -> None:
    lim = lookup_limit(site, reference_set=ref)
    assert lim.kind == "published_reference_range" and lim.source == "bae_2021"
    assert (lim.lln, lim.uln) == (lln, uln)
    assert lim.mean is not None and lim.z_score(lim.mean) == pytest.approx(0.0)


@pytest.mark.skipif(not EVIDENCE.is_file(), reason=f"evidence digest not found at {EVIDENCE}")
def test_published_ranges_are_transcribed_from_the_digest() -> None:
    """Every Bae range in the data is the 'range' column of its row (mean+-SD | range)."""
    text = EVIDENCE.read_text(encoding="utf-8")
    rows = {
        (float(mean), float(sd)): (float(lo), float(hi))
        for mean, sd, lo, hi in re.findall(r"\| (\d+\.\d+)±(\d+\.\d+) \| (\d+)–(\d+) \|", text)
    }
    n = 0
    for s in load_data("nerve_csa.json")["sets"].values():
        for site, e in s["sites"].items():
            if e.get("kind") == "published_reference_range":
                assert rows[(e["mean"], e["sd"])] == tuple(e["range"]), site
                n += 1
    assert n >= 10


def test_csa_input_bounds_are_wide_engineering_checks() -> None:
    for site in site_names():
        lo, hi = nerve_csa.csa_input_bounds(site)
        ulns = [
            lookup_limit(site, reference_set=ref, side=side, trunk=t, level=lvl).uln
            for ref in reference_sets()
            for side in ("left", "right")
            for t in ("upper", "middle", "lower")
            for lvl in (None, *site_info(site).levels)
        ]
        top = max((u for u in ulns if u is not None), default=None)
        if top is not None:
            assert hi >= 10 * top, site  # hypertrophic nerves (CMT1A, CIDP) are never refused
        assert lo <= 1.0
    assert nerve_csa.csa_input_bounds("sural_calf")[1] < 150  # 150 mm2 at the sural nerve is refused
    assert nerve_csa.csa_input_bounds("median_wrist")[0] > 0.14  # 14 mm2 typed in cm2 is refused


def test_uln_table_has_no_z_and_no_lower_limit() -> None:
    lim = lookup_limit("median_wrist", reference_set="dutch")
    assert lim.uln == 11.0 and lim.kind == "uln_table"
    assert lim.z_score(12.0) is None and lim.lln is None and lim.lln_note


def test_non_positive_mean_minus_2sd_gives_no_lower_limit() -> None:
    lim = lookup_limit("c7_root", reference_set="dutch")  # Bedewi 6.3 +- 3.4
    assert lim.lln is None and "not positive" in (lim.lln_note or "")


def test_wrist_circumference_formula_olde_dubbelink() -> None:
    lim = lookup_limit("median_wrist", wrist_circumference_cm=16.0)
    assert lim.uln == pytest.approx(0.88 * 16.0 - 4.0)
    assert lim.source == "olde_dubbelink_2020" and lim.kind == "regression_roc_cutoff"
    assert lim.citation is not None and "unit" in (lim.citation.caveat or "")
    with pytest.raises(InvalidParameterError, match="wrist_circumference_cm"):
        lookup_limit("median_wrist", wrist_circumference_cm=40.0)
    assert any("no validity range" in n for n in lim.notes)


def test_mistyped_level_is_an_error() -> None:
    with pytest.raises(InvalidParameterError, match="level: expected one of 'interscalene', 'foraminal'"):
        lookup_limit("c5_root", level="foramen")
    with pytest.raises(InvalidParameterError, match="level"):
        lookup_limit("median_wrist", level="interscalene")


def test_vagus_is_side_specific() -> None:
    right = lookup_limit("vagus_neck", side="right")
    left = lookup_limit("vagus_neck", side="left")
    assert right.uln == pytest.approx(2.86 + 2 * 1.27)
    assert left.uln == pytest.approx(2.14 + 2 * 0.79)
    assert lookup_limit("vagus_neck", side=None).status == "no_reference"


def test_plexus_protocol_is_stored_and_checked() -> None:
    c5 = lookup_limit("c5_root", reference_set="dutch")
    assert c5.protocol == {"structure": "root", "level": "interscalene"}
    mismatch = lookup_limit("c5_root", reference_set="korean", level="interscalene")
    assert mismatch.status == "no_reference" and "protocol mismatch" in (mismatch.reason or "")
    assert lookup_limit("c5_root", reference_set="korean", level="foraminal").has_limit
    trunk = lookup_limit("brachial_plexus_trunk", reference_set="korean", trunk="middle")
    assert (
        trunk.uln == pytest.approx(14.01 + 2 * 2.70)
        and trunk.protocol
        and trunk.protocol["structure"] == "trunk"
    )
    assert lookup_limit("brachial_plexus_trunk", reference_set="dutch").status == "no_reference"


def test_unknown_site_and_set_are_errors() -> None:
    with pytest.raises(InvalidParameterError, match="site: unknown site 'median_knee'"):
        site_info("median_knee")
    with pytest.raises(InvalidParameterError, match="reference_set"):
        lookup_limit("median_wrist", reference_set="martian")
    with pytest.raises(InvalidParameterError, match="citation"):
        citation("nope")
    with pytest.raises(InvalidParameterError, match="does not exist"):
        load_data("nope.json")


def test_limit_to_dict_is_json_safe() -> None:
    for site in site_names():
        json.dumps(lookup_limit(site, side="left", trunk="lower").to_dict(), allow_nan=False)


@pytest.fixture
def patched_csa(monkeypatch: pytest.MonkeyPatch):
    data = copy.deepcopy(load_data("nerve_csa.json"))
    real = loader.load_data

    def fake(name: str):
        return data if name == "nerve_csa.json" else real(name)

    monkeypatch.setattr(nerve_csa, "load_data", fake)
    return data


def test_validator_refuses_a_ci_bound_as_uln(patched_csa: dict) -> None:
    patched_csa["sets"]["dutch"]["sites"]["tibial_ankle"] = {
        "status": "limit",
        "kind": "ci_bound",
        "uln": 11.8,
        "source": "senarai_2023",
    }
    assert any("CI bound" in p for p in validate_reference_data())


def test_validator_refuses_missing_site_and_unknown_source(patched_csa: dict) -> None:
    del patched_csa["sets"]["korean"]["sites"]["sural_calf"]
    patched_csa["sets"]["dutch"]["sites"]["median_wrist"]["source"] = "someone_2099"
    problems = validate_reference_data()
    assert any("sural_calf" in p for p in problems)
    assert any("someone_2099" in p for p in problems)
