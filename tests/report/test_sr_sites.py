"""The SR says where each nerve CSA was measured (nerve, level, region, side), and the largest
fascicle's area is never coded as the nerve's CSA (review ws10c, finding F1)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from sonomsk.core.results import Measurement, Method
from sonomsk.report import codes
from sonomsk.report.dicom_export import write_sr
from sonomsk.report.results import ImageRef, Structure, Study, StudyResults

from .report_tools import dciodvfy_errors

AREA = "42798000"  # SCT Area: the nerve's cross-sectional area


def _groups(path: Path) -> list:
    import highdicom as hd

    sr = hd.sr.srread(path)
    return hd.sr.MeasurementReport.from_sequence([sr]).get_planar_roi_measurement_groups()


def _sites(group) -> list[tuple[str, str | None, str | None]]:
    """(anatomic location, topographical modifier, laterality) code values of each finding site."""
    out = []
    for site in group.finding_sites:
        mods = {
            item.ConceptNameCodeSequence[0].CodeValue: item.ConceptCodeSequence[0].CodeValue
            for item in site.get("ContentSequence", [])
        }
        out.append((site.value.value, mods.get("106233006"), mods.get("272741003")))
    return out


def _study(tmp_sites: list[tuple[str, str, float, float]]) -> StudyResults:
    """One image per (site, side, CSA mm2, largest fascicle mm2) with an outlined median nerve."""
    images, structures, measurements = [], [], []
    for k, (site, side, csa, fascicle) in enumerate(tmp_sites):
        images.append(
            ImageRef(
                id=f"im{k}",
                rows=80,
                cols=90,
                spacing_mm=(0.05, 0.05),
                sop_instance_uid=f"1.2.826.0.1.3680043.8.498.77.{k + 1}",
                study_uid="1.2.826.0.1.3680043.8.498.77",
                series_uid="1.2.826.0.1.3680043.8.498.77.100",
            )
        )
        structures.append(
            Structure(
                id=f"s{k}",
                image=f"im{k}",
                label="median nerve",
                kind="nerve",
                contour=((10, 10), (10, 40), (40, 40), (40, 10)),
                site=site,
                side=side,
            )
        )
        ctx = {"structure": f"s{k}", "site": site, "side": side}
        for name, value in (("area_cross_section", csa), ("area_fascicle_max", fascicle)):
            measurements.append(
                Measurement(
                    name=name,
                    value=value,
                    unit="mm2",
                    method=Method("sonomsk.nerve.morphology.shape_measures", "1"),
                    label="median nerve",
                    context=ctx,
                )
            )
    return StudyResults(
        images=tuple(images),
        structures=tuple(structures),
        measurements=tuple(measurements),
        # the SR's times come from RESULTS (de-identified: the study's year): one object per content
        created="2026-01-02T09:00:00",
        study=Study(study_uid="1.2.826.0.1.3680043.8.498.77", date="2026-01-02"),
    )


WRIST_FOREARM = [("median_wrist", "right", 14.8, 0.78), ("median_forearm", "right", 7.24, 0.43)]


def test_wrist_and_forearm_groups_differ_by_site(tmp_path: Path) -> None:
    path = write_sr(_study(WRIST_FOREARM), tmp_path / "sr.dcm").path
    wrist, forearm = _groups(path)
    right = "24028007"
    # the nerve with the level measured on it, then the body region, each with its side
    assert _sites(wrist) == [("median_nerve", "median_wrist", right), ("8205005", None, right)]
    assert _sites(forearm) == [("median_nerve", "median_forearm", right), ("14975008", None, right)]
    assert "median_wrist" in wrist.tracking_identifier and "right" in wrist.tracking_identifier
    # the local scheme is identified in the data set that uses it
    ds = pydicom.dcmread(path)
    assert [i.CodingSchemeDesignator for i in ds.CodingSchemeIdentificationSequence] == [codes.LOCAL_SCHEME]
    assert dciodvfy_errors(path) == []


def test_the_example_study_site_without_the_nerve_in_its_name_is_coded(
    example: StudyResults, tmp_path: Path
) -> None:
    """The demo study names its sites "wrist" and "forearm"; the nerve comes from the label."""
    wrist, forearm = _groups(write_sr(example, tmp_path / "sr.dcm").path)
    assert _sites(wrist)[0][:2] == ("median_nerve", "median_wrist")
    assert _sites(forearm)[0][:2] == ("median_nerve", "median_forearm")


def test_dsrdump_shows_the_two_sites(tmp_path: Path) -> None:
    exe = shutil.which("dsrdump") or ("/usr/bin/dsrdump" if Path("/usr/bin/dsrdump").exists() else None)
    if exe is None:
        pytest.skip("dsrdump not installed (apt-get install dcmtk)")
    path = write_sr(_study(WRIST_FOREARM), tmp_path / "sr.dcm").path
    text = subprocess.run([exe, "+Pc", str(path)], capture_output=True, text=True, timeout=60).stdout
    groups = text.split('(125007,DCM,"Measurement Group")')[1:]
    assert len(groups) == 2
    assert '(median_wrist,99SONOMSK,"Carpal tunnel inlet (pisiform level)")' in groups[0]
    assert '(8205005,SCT,"Wrist region structure (body structure)")' in groups[0]
    assert '(median_forearm,99SONOMSK,"Mid-forearm (median nerve)")' in groups[1]
    assert '(14975008,SCT,"Forearm")' in groups[1]
    assert "median_wrist" not in groups[1] and "Wrist region" not in groups[1]


def test_largest_fascicle_is_not_coded_as_the_csa(tmp_path: Path) -> None:
    for group, (_, _, csa, fascicle) in zip(
        _groups(write_sr(_study(WRIST_FOREARM), tmp_path / "sr.dcm").path), WRIST_FOREARM, strict=True
    ):
        by_concept = {(m.name.scheme_designator, m.name.value): m for m in group.get_measurements()}
        areas = [m for m in group.get_measurements() if m.name.value == AREA]
        assert [m.value for m in areas] == [pytest.approx(csa)]  # one Area per group: the CSA
        fasc = by_concept[(codes.LOCAL_SCHEME, "fasc_area_max")]
        assert fasc.value == pytest.approx(fascicle)
        assert fasc.derivation is not None and fasc.derivation.value == "56851009"  # Maximum


def test_sites_survive_deidentification_and_the_sr_is_deterministic(fake_deidentify, tmp_path: Path) -> None:
    study = _study(WRIST_FOREARM)
    a = write_sr(study, tmp_path / "a.dcm", deidentify_key="k1").path
    b = write_sr(study, tmp_path / "b.dcm", deidentify_key="k1").path
    assert a.read_bytes() == b.read_bytes()
    assert (
        pydicom.dcmread(a).SOPInstanceUID
        != pydicom.dcmread(write_sr(study, tmp_path / "c.dcm").path).SOPInstanceUID
    )
    wrist, forearm = _groups(a)
    assert _sites(wrist)[0][1] == "median_wrist" and _sites(forearm)[0][1] == "median_forearm"
    plain = write_sr(study, tmp_path / "p1.dcm").path.read_bytes()
    assert plain == write_sr(study, tmp_path / "p2.dcm").path.read_bytes()


def test_every_site_of_the_vocabulary_has_codes() -> None:
    from sonomsk.reference.nerve_csa import site_names

    assert set(codes.nerve_site_names()) == set(site_names())
    levels = set()
    for name in site_names():
        where = codes.nerve_site(name)
        assert where is not None and where.site == name
        levels.add(where.level.code)
    assert len(levels) == len(site_names())  # one level code per site: sites never merge
    assert codes.nerve_site("wrist", "ulnar").level.code == "ulnar_wrist"  # type: ignore[union-attr]
    assert codes.nerve_site("biceps_mid") is None and codes.nerve_site(None) is None


def test_local_codes_fit_dicom_and_only_fill_gaps() -> None:
    from pydicom.sr.codedict import codes as dicom_codes

    meanings = {getattr(dicom_codes.SCT, kw).meaning.lower() for kw in dicom_codes.SCT.dir()}
    local = [c for c in codes.all_codes() if c.scheme == codes.LOCAL_SCHEME]
    assert len(local) >= 20
    for c in local:
        assert len(c.code) <= 16 and len(c.display) <= 64  # SH code value, LO meaning
        assert c.display.lower() not in meanings, f"{c.code}: PS3.16 has {c.display!r}; use its code"
    assert codes.local_schemes()[codes.LOCAL_SCHEME]["name"]


def test_a_structure_at_an_unknown_site_keeps_its_kind_and_side(tmp_path: Path) -> None:
    study = _study([("somewhere odd", "left", 5.0, 0.3)])
    (group,) = _groups(write_sr(study, tmp_path / "sr.dcm").path)
    assert _sites(group) == [("84782009", None, "7771000")]
    assert "somewhere odd" in group.tracking_identifier


def test_fhir_gives_the_csa_limit_to_the_csa_only(tmp_path: Path) -> None:
    """The assessment judged the nerve's CSA: its ULN and High/Normal interpretation belong to that
    Observation, never to the largest fascicle's area of the same site (was: 0.78 mm2 'High')."""
    import dataclasses
    import json

    from sonomsk.nerve.assess import assess
    from sonomsk.report.api import write_fhir

    rows = [("median_wrist", "right", 14.8, 0.78)]
    na = assess(
        {"measurements": [{"site": s, "side": side, "csa_mm2": c} for s, side, c, _ in rows]}
    ).to_dict()
    study = dataclasses.replace(_study(rows), nerve_assessment=na, created="2026-01-02T09:00:00+00:00")
    bundle = json.loads(write_fhir(study, tmp_path / "b.json").read_text())
    obs = {
        e["resource"]["code"]["text"].split(" of ")[0]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and "area" in e["resource"]["code"]["text"]
    }
    assert obs["area cross section"]["referenceRange"][0]["high"]["value"] == 11.0
    assert obs["area cross section"]["interpretation"][0]["coding"][0]["code"] == "H"
    assert (
        "referenceRange" not in obs["area fascicle max"] and "interpretation" not in obs["area fascicle max"]
    )


def test_plexus_trunks_and_root_levels_are_told_apart(tmp_path: Path) -> None:
    """clinical-evidence.md 1.3: the protocol (root level, trunk) goes with every plexus value. Two
    trunks, and a C5 root at two levels, give groups that differ in their coded sites and their
    tracking text (they were identical)."""
    import dataclasses

    base = _study(
        [
            ("brachial_plexus_trunk", "right", 9.0, 0.3),
            ("brachial_plexus_trunk", "right", 12.0, 0.3),
            ("c5_root", "right", 6.0, 0.2),
            ("c5_root", "right", 9.0, 0.2),
        ]
    )
    extra = {
        "s0": {"trunk": "upper", "level": "supraclavicular"},
        "s1": {"trunk": "lower", "level": "supraclavicular"},
        "s2": {"level": "interscalene"},
        "s3": {"level": "foraminal"},
    }
    ms = tuple(
        dataclasses.replace(m, context={**m.context, **extra[m.context["structure"]]})
        for m in base.measurements
    )
    path = write_sr(dataclasses.replace(base, measurements=ms), tmp_path / "sr.dcm").path
    groups = _groups(path)
    sites = [_sites(g) for g in groups]
    ids = [g.tracking_identifier for g in groups]
    assert sites[0][0][1] == "bp_upper_trunk" and sites[1][0][1] == "bp_lower_trunk"
    assert sites[0][1][1] == "lvl_supraclav"  # the trunk's level qualifies its body region
    assert sites[2][0][1] == "lvl_interscalene" and sites[3][0][1] == "lvl_foraminal"
    assert len(set(map(str, sites))) == 4 and len(set(ids)) == 4
    assert "upper trunk" in ids[0] and "foraminal" in ids[3]


def test_fhir_conclusion_names_no_leader_when_the_differential_does_not_separate(tmp_path: Path) -> None:
    """An EHR shows DiagnosticReport.conclusion on its own: with `separated` false it carries the
    differential's own 'do not separate' sentence, never 'Leading candidate: <first of a tie>'."""
    import dataclasses
    import json

    from sonomsk.knowledge.differential import rank
    from sonomsk.report.api import write_fhir

    tied = rank({"findings": {"focal_slowing_across_entrapment_site": "present"}}).to_dict()
    assert tied["separated"] is False
    study = dataclasses.replace(_study(WRIST_FOREARM), differential=tied, created="2026-01-02T09:00:00+00:00")
    bundle = json.loads(write_fhir(study, tmp_path / "b.json").read_text())
    report = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    assert "Leading candidate" not in report["conclusion"]
    assert "The findings do not separate" in report["conclusion"]
    clear = rank(
        {"findings": {"median_enlarged_carpal_tunnel": "present", "median_delta_csa_increased": "present"}}
    )
    d = clear.to_dict()
    assert d["separated"] is True
    study = dataclasses.replace(study, differential=d)
    bundle = json.loads(write_fhir(study, tmp_path / "c.json").read_text())
    report = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    assert f"Leading candidate (decision support): {d['candidates'][0]['name']}." in report["conclusion"]


def test_fhir_sends_the_assessments_csa_when_no_image_measured_it(tmp_path: Path) -> None:
    """RESULTS built from `sonomsk nerve assess` input (no images): each CSA the assessment judged
    becomes an Observation with its limit, so an index is never the only nerve value sent; a CSA
    an image measured is not sent twice."""
    import dataclasses
    import json

    from sonomsk.nerve.assess import assess
    from sonomsk.report.api import write_fhir

    rows = [("median_wrist", "right", 14.8, 0.78), ("median_forearm", "right", 7.24, 0.43)]
    na = assess(
        {"measurements": [{"site": s, "side": side, "csa_mm2": c} for s, side, c, _ in rows]}
    ).to_dict()
    bare = StudyResults(
        nerve_assessment=na,
        created="2026-01-02T09:00:00+00:00",
        study=Study(study_uid="1.2.826.0.1.3680043.8.498.77", date="2026-01-02"),
    )

    def csa_obs(study: StudyResults, name: str) -> list[dict]:
        bundle = json.loads(write_fhir(study, tmp_path / name).read_text())
        return [
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation"
            and e["resource"]["code"]["text"].startswith("area cross section")
        ]

    got = csa_obs(bare, "bare.json")
    assert sorted(o["valueQuantity"]["value"] for o in got) == [7.24, 14.8]
    wrist = next(o for o in got if o["valueQuantity"]["value"] == 14.8)
    assert wrist["referenceRange"][0]["high"]["value"] == 11.0
    assert wrist["interpretation"][0]["coding"][0]["code"] == "H"
    imaged = dataclasses.replace(_study(rows), nerve_assessment=na, created="2026-01-02T09:00:00+00:00")
    assert len(csa_obs(imaged, "imaged.json")) == 2


def test_fhir_csa_carries_the_level_caveats_lower_limit_and_child_note(tmp_path: Path) -> None:
    """What the report prints beside a CSA row goes into its Observation too: the measured level of
    a root, the limit's [B] caveat, a lower limit that was applied (referenceRange.low) and the
    under-18 note on adult limits."""
    import dataclasses
    import json

    from sonomsk.nerve.assess import assess
    from sonomsk.report.api import write_fhir

    na = assess(
        {
            "reference_set": "korean",
            "patient": {"age": 9},
            "measurements": [
                {"site": "c5_root", "side": "right", "level": "foraminal", "csa_mm2": 6.0},
                {"site": "median_forearm", "side": "right", "csa_mm2": 3.5},
            ],
        }
    ).to_dict()
    bare = StudyResults(
        nerve_assessment=na,
        created="2026-01-02T09:00:00+00:00",
        study=Study(study_uid="1.2.826.0.1.3680043.8.498.77", date="2026-01-02"),
    )
    bundle = json.loads(write_fhir(bare, tmp_path / "b.json").read_text())
    obs = {
        e["resource"]["code"]["text"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["text"].startswith("area cross section")
    }
    root = next(o for t, o in obs.items() if "c5_root" in t)
    assert "foraminal" in root["code"]["text"]
    forearm = next(o for t, o in obs.items() if "median_forearm" in t)
    assert "low" not in forearm["referenceRange"][0]  # the adult lower limit is not applied below 18
    text = " ".join(n["text"] for n in forearm.get("note", []))
    assert "younger than 18" in text and "not mean+-2SD" in text  # the child note and Bae's caveat
    adult = assess(
        {
            "reference_set": "korean",
            "measurements": [{"site": "median_forearm", "side": "right", "csa_mm2": 3.5}],
        }
    ).to_dict()
    bundle = json.loads(
        write_fhir(dataclasses.replace(bare, nerve_assessment=adult), tmp_path / "a.json").read_text()
    )
    (low,) = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["text"].startswith("area cross section")
    ]
    assert low["referenceRange"][0]["low"]["value"] == adult["measurements"][0]["limit"]["lln_mm2"] == 4.0
    assert low["interpretation"][0]["coding"][0]["code"] == "L"


def test_fhir_names_trunk_level_and_the_side_of_each_index(tmp_path: Path) -> None:
    """Two trunks (and an index per side) must not be Observations that differ only in value."""
    import dataclasses
    import json

    from sonomsk.nerve.assess import assess
    from sonomsk.report.api import write_fhir

    base = _study(
        [("brachial_plexus_trunk", "right", 9.0, 0.3), ("brachial_plexus_trunk", "right", 12.0, 0.3)]
    )
    extra = {
        "s0": {"trunk": "upper", "level": "supraclavicular"},
        "s1": {"trunk": "lower", "level": "supraclavicular"},
    }
    ms = tuple(
        dataclasses.replace(m, context={**m.context, **extra[m.context["structure"]]})
        for m in base.measurements
    )
    rows = [
        {"site": "median_wrist", "side": s, "csa_mm2": c} for s, c in (("right", 14.0), ("left", 9.0))
    ] + [{"site": "median_forearm", "side": s, "csa_mm2": 7.0} for s in ("right", "left")]
    na = assess({"measurements": rows}).to_dict()
    study = dataclasses.replace(
        base, measurements=ms, nerve_assessment=na, created="2026-01-02T09:00:00+00:00"
    )
    texts = [
        e["resource"]["code"]["text"]
        for e in json.loads(write_fhir(study, tmp_path / "b.json").read_text())["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]
    trunks = [t for t in texts if t.startswith("area cross section") and "brachial_plexus_trunk" in t]
    assert any("upper trunk supraclavicular" in t for t in trunks) and any("lower trunk" in t for t in trunks)
    wfr = [t for t in texts if "wrist-to-forearm" in t]
    assert (
        sorted(wfr) == sorted({t for t in wfr})
        and any("(right)" in t for t in wfr)
        and any("(left)" in t for t in wfr)
    )


def test_a_root_without_a_declared_level_is_coded_at_its_default_level(tmp_path: Path) -> None:
    """The assessment judges a C5 root with no level given as an interscalene one (the site's
    default level): the SR codes that level, as it codes a declared one."""
    groups = _groups(write_sr(_study([("c5_root", "right", 6.0, 0.2)]), tmp_path / "sr.dcm").path)
    assert _sites(groups[0])[0][1] == "lvl_interscalene"
    assert "interscalene" in groups[0].tracking_identifier


def _with_context(base: StudyResults, extra: dict[str, dict[str, str]]) -> StudyResults:
    import dataclasses

    ms = tuple(
        dataclasses.replace(m, context={**m.context, **extra[m.context["structure"]]})
        for m in base.measurements
    )
    return dataclasses.replace(base, measurements=ms)


def _csa_observations(study: StudyResults, path: Path) -> list[dict]:
    import json

    from sonomsk.report.api import write_fhir

    bundle = json.loads(write_fhir(study, path).read_text())
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["text"].startswith("area cross section")
    ]


def test_fhir_matches_an_image_csa_to_its_own_level_and_trunk_row(tmp_path: Path) -> None:
    """Two C5 levels of one side: the foraminal image does not take the interscalene row's limit and
    verdict; two assessed trunks give two CSA Observations, not a third copy 'as entered'."""
    import dataclasses

    from sonomsk.nerve.assess import assess

    base = _with_context(
        _study([("c5_root", "right", 6.0, 0.2), ("c5_root", "right", 9.0, 0.2)]),
        {"s0": {"level": "interscalene"}, "s1": {"level": "foraminal"}},
    )
    na = assess(
        {"measurements": [{"site": "c5_root", "side": "right", "csa_mm2": 6.0}]}
    ).to_dict()  # default level
    csa = _csa_observations(
        dataclasses.replace(base, nerve_assessment=na, created="2026-01-02T09:00:00+00:00"),
        tmp_path / "a.json",
    )
    interscalene = next(o for o in csa if o["valueQuantity"]["value"] == 6.0)
    foraminal = next(o for o in csa if o["valueQuantity"]["value"] == 9.0)
    assert interscalene["referenceRange"][0]["high"]["value"] == 8.0
    assert "referenceRange" not in foraminal and "interpretation" not in foraminal
    trunks = _with_context(
        _study([("brachial_plexus_trunk", "right", 9.0, 0.3), ("brachial_plexus_trunk", "right", 12.0, 0.3)]),
        {
            "s0": {"trunk": "upper", "level": "supraclavicular"},
            "s1": {"trunk": "lower", "level": "supraclavicular"},
        },
    )
    rows = [
        {
            "site": "brachial_plexus_trunk",
            "side": "right",
            "trunk": t,
            "level": "supraclavicular",
            "csa_mm2": v,
        }
        for t, v in (("upper", 9.0), ("lower", 12.0))
    ]
    na = assess({"measurements": rows}).to_dict()
    csa = _csa_observations(
        dataclasses.replace(trunks, nerve_assessment=na, created="2026-01-02T09:00:00+00:00"),
        tmp_path / "t.json",
    )
    assert len(csa) == 2
