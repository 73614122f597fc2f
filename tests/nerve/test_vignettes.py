"""Clinical vignettes from the literature (data in ``vignettes/*.json``).

Each file names the publication that inspired it (``inspired_by``) and the answer the literature
describes (``literature_expectation``); the expected pattern was written from that description,
not from running sonomsk. Each test checks the pattern AND that the explanation names the rule
and the citation that produced it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.nerve.assess import assess

VIGNETTES = sorted((Path(__file__).parent / "vignettes").glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_at_least_twelve_vignettes_each_with_a_source() -> None:
    assert len(VIGNETTES) >= 12
    for path in VIGNETTES:
        v = _load(path)
        assert v["inspired_by"].strip() and v["literature_expectation"].strip(), path.name


@pytest.mark.parametrize("path", VIGNETTES, ids=lambda p: p.stem)
def test_vignette(path: Path) -> None:
    v = _load(path)
    expect = v["expect"]
    if "error" in expect:
        with pytest.raises(InvalidParameterError) as info:
            assess(v["request"])
        assert expect["message_contains"] in str(info.value)
        assert "\n" not in str(info.value)
        return
    result = assess(v["request"])
    d = result.to_dict()
    assert d["pattern"] == expect["pattern"], d["explanation"]
    for text in expect["explanation_contains"]:
        assert text in d["explanation"], f"{text!r} missing from: {d['explanation']}"
    for text in expect.get("explanation_excludes", []):
        assert text not in d["explanation"], f"{text!r} unexpected in: {d['explanation']}"
    for site in expect.get("no_lower_limit_sites_include", []):
        assert site in d["no_lower_limit_sites"], d["no_lower_limit_sites"]
    assert d["pattern_detail"]["citations"], "the pattern names no citation"
    if "zaidman_pattern" in expect:
        assert d["zaidman_pattern"] == expect["zaidman_pattern"]
    if "goedee" in expect:
        assert d["goedee"]["outcome"] == expect["goedee"]
    for name in expect.get("abnormal_indices", []):
        hits = [i for i in (*d["entrapment_indices"], *d["side_to_side"]) if i["name"] == name]
        assert hits and any(i["abnormal"] for i in hits), name
    for site in expect.get("deciding_sites_include", []):
        assert site in d["deciding_sites"], d["deciding_sites"]
    for site in expect.get("deciding_other_side_include", []):
        assert site in d["deciding_other_side"], d["deciding_other_side"]
        assert site in d["explanation"], d["explanation"]
    for site in expect.get("deciding_other_side_exclude", []):
        assert site not in d["deciding_other_side"], d["deciding_other_side"]
    if "candidates" in expect:
        assert set(expect["candidates"]) <= set(d["candidates"])
    if expect.get("internerve_high"):
        assert d["variability"]["internerve"]["high"] is True
    if "all_ratio_above" in expect:
        ratios = [m["ratio_to_uln"] for m in d["measurements"] if m["ratio_to_uln"] is not None]
        assert ratios and min(ratios) > expect["all_ratio_above"]
    for site in expect.get("z_score_sites", []):
        assert all(m["z_score"] is not None for m in d["measurements"] if m["site"] == site)
    if d["pattern"] == "indeterminate":
        assert d["candidates"], "an indeterminate pattern lists its candidates"
