"""``sonomsk nerve assess`` and ``sonomsk nerve references`` through ``main([...])``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sonomsk.cli.main import main

CTS = {
    "patient": {"age": 54, "sex": "F", "height_cm": 165, "weight_kg": 70},
    "measurements": [
        {"site": "median_wrist", "side": "right", "csa_mm2": 14.2},
        {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
    ],
}


def write(tmp_path: Path, data: object, name: str = "in.json") -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(p)


def test_assess_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve", "assess", write(tmp_path, CTS), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["pattern"] == "focal_entrapment"
    wrist = d["measurements"][0]
    assert wrist["status"] == "enlarged" and wrist["limit"]["uln_mm2"] == 11.0
    assert wrist["limit"]["citation"]["evidence"] == "A"
    assert "wrist_forearm_ratio" in d["explanation"]


def test_assess_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve", "assess", write(tmp_path, CTS)]) == 0
    out = capsys.readouterr().out
    assert "pattern: focal_entrapment" in out and "median_wrist" in out and "enlarged" in out


def test_text_output_shows_what_was_recorded_and_the_variability_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "measurements": [
            {
                "site": "median_wrist",
                "side": "right",
                "csa_mm2": 14.2,
                "echogenicity": {"fraction_hypoechoic": 0.8, "class": 1},
                "intraneural_doppler": 3,
                "note": "hypervascular",
            },
            {"site": "median_forearm", "side": "right", "csa_mm2": 7.0, "intraneural_doppler": False},
            {"site": "ulnar_upper_arm", "side": "left", "csa_mm2": 17.0},
            {"site": "ulnar_forearm", "side": "left", "csa_mm2": 6.0},
        ]
    }
    assert main(["nerve", "assess", write(tmp_path, body)]) == 0
    out = capsys.readouterr().out
    assert (
        "recorded (median_wrist right): echogenicity class 1 (hypoechoic), fraction hypoechoic 0.80; "
        "intraneural Doppler 3 vessel signal(s); note: hypervascular (reported, not scored)"
    ) in out
    assert "recorded (median_forearm right): intraneural Doppler signal absent" in out
    assert "intranerve variability ulnar (left) = 17/6 = 2.83" in out and "ULN (mean+2SD) 2.55" in out
    line = next(x for x in out.splitlines() if "variability ulnar (left)" in x)
    assert line.endswith(": high")


def test_reference_set_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 12.0}]}
    assert main(["nerve", "assess", write(tmp_path, body), "--json", "--reference-set", "korean"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["reference_set"]["name"] == "korean" and d["measurements"][0]["status"] == "normal"
    # Bae 2021 median wrist 9.33 +- 1.55 mm2 (clinical-evidence.md 1.2): z = (12 - 9.33) / 1.55
    assert d["measurements"][0]["z_score"] == pytest.approx((12.0 - 9.33) / 1.55, abs=0.01)


def test_text_output_shows_fallback_population_and_source_caveats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "patient": {"wrist_circumference_cm": 15.0},
        "measurements": [
            {"site": "median_wrist", "side": "right", "csa_mm2": 10.5},
            {"site": "median_forearm", "side": "right", "csa_mm2": 6.0},
        ],
    }
    assert main(["nerve", "assess", write(tmp_path, body)]) == 0
    out = capsys.readouterr().out
    # the Korean fallback for the median forearm, the cm assumption of the formula, the [B] WFR
    assert "caveat: bae_2021: the Dutch table has no median forearm ULN" in out
    assert "caveat: olde_dubbelink_2020:" in out and "centimetres are assumed" in out
    assert "[B: WFR 1.4 read only in a secondary review table" in out
    assert main(["nerve", "assess", write(tmp_path, body), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    forearm = next(m for m in d["measurements"] if m["site"] == "median_forearm")
    assert "Korean" in forearm["limit"]["population"]


def test_unknown_reference_set_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve", "assess", write(tmp_path, CTS), "--reference-set", "martian"]) == 2
    assert "martian" in capsys.readouterr().err


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(CTS)))
    assert main(["nerve", "assess", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pattern"] == "focal_entrapment"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        (
            json.dumps({"measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 300}]}),
            "measurements[0].csa_mm2",
        ),
        (
            json.dumps({"measurements": [{"site": "median_elbow_x", "side": "right", "csa_mm2": 9}]}),
            "measurements[0].site",
        ),
        (json.dumps({"measurements": [{"site": "median_wrist", "csa_mm2": 9}]}), "measurements[0].side"),
        (json.dumps([1, 2]), "request"),
        # review item 6: a CSA typed in cm2, and an impossible sural CSA
        (
            json.dumps({"measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 0.14}]}),
            "measurements[0].csa_mm2: 0.14 mm2 is outside the plausible range",
        ),
        (
            json.dumps({"measurements": [{"site": "sural_calf", "side": "left", "csa_mm2": 150}]}),
            "measurements[0].csa_mm2: 150 mm2 is outside the plausible range",
        ),
        # review item 8: a mistyped level and a fractional Doppler vessel count
        (
            json.dumps(
                {"measurements": [{"site": "c5_root", "side": "left", "csa_mm2": 9, "level": "foramen"}]}
            ),
            "measurements[0].level",
        ),
        (
            json.dumps(
                {
                    "measurements": [
                        {"site": "median_wrist", "side": "left", "csa_mm2": 9, "intraneural_doppler": 2.7}
                    ]
                }
            ),
            "measurements[0].intraneural_doppler",
        ),
    ],
)
def test_bad_input_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    assert main(["nerve", "assess", write(tmp_path, content)]) == 1
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and err.startswith("sonomsk: error:")


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve", "assess", str(tmp_path / "nope.json")]) == 1
    assert "nope.json" in capsys.readouterr().err


def test_nerve_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve"]) == 2
    assert "assess" in capsys.readouterr().err


def test_references_listing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve", "references", "--json"]) == 0
    sets = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert sets["dutch"]["default"] is True
    sites = {(x["site"], x["side"]) for x in sets["dutch"]["limits"]}
    assert ("median_wrist", None) in sites and ("vagus_neck", "left") in sites
    assert main(["nerve", "references", "--reference-set", "korean"]) == 0
    assert "no reference" in capsys.readouterr().out


def test_references_text_gives_units_lower_limits_caveats_and_the_wrist_formula(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The text a clinician reads carries what the JSON has: mm2, the lower limit, the [B] caveat
    of the Dutch table's attribution, the Korean population of the Dutch set's fallbacks, and the
    wrist-circumference formula with its unit caveat."""
    assert main(["nerve", "references", "--reference-set", "dutch"]) == 0
    out = capsys.readouterr().out
    assert "ULN mm2" in out and "LLN mm2" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("median_forearm "))
    assert "10.00" in row and "4.00" in row
    notes = {line.split("]", 1)[0].strip() + "]": line for line in out.splitlines() if line.startswith("  [")}
    marks = row.rsplit("[", 1)[1].rstrip("]").split(",")
    cited = " ".join(notes[f"[{m}]"] for m in marks)
    assert "may over-call enlargement in Caucasian adults" in cited and "healthy Korean adults" in cited
    assert "the table-to-article attribution was not verified [B]" in out
    assert "ULN = 0.88 x wrist_circumference_cm - 4 mm2 [Olde Dubbelink 2020]" in out
    assert "a CSA between 8.3 mm2 and the fixed ULN is not judged" in out and "never below" not in out
    assert "centimetres are assumed" in out


GOOD = '{"measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 14.2}]}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("14.2", "NaN"), "NaN is not a number a measurement can have"),
        (GOOD.replace("14.2", "Infinity"), "Infinity is not a number"),
        (GOOD.replace("14.2", "1e400"), "is out of range"),
        (GOOD.replace("14.2", "1" + "0" * 5000), "characters; not a measurement"),
        ('{"measurements": [], "measurements": []}', "the key 'measurements' is given twice"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_hostile_json_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (tmp_path / "in.json").write_text(text)
    for command in (["nerve", "assess"], ["differential"]):
        assert main([*command, str(tmp_path / "in.json")]) == 1
        err = capsys.readouterr().err
        assert message in err and "internal error" not in err and err.count("\n") == 1, err


def test_a_bom_is_read_and_a_folder_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert main(["nerve", "assess", str(tmp_path / "bom.json"), "--json"]) == 0
    capsys.readouterr()
    assert main(["nerve", "assess", str(tmp_path)]) == 1
    assert "is a folder; expected a JSON file" in capsys.readouterr().err


def test_output_into_a_closed_pipe_is_quiet() -> None:
    import subprocess
    import sys

    r = subprocess.run(
        f"{sys.executable} -m sonomsk nerve references | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "internal error" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


def test_long_decimals_a_spreadsheet_writes_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "14." + "1234567890" * 5  # 53 characters, as some exports write
    (tmp_path / "in.json").write_text(GOOD.replace("14.2", long))
    assert main(["nerve", "assess", str(tmp_path / "in.json"), "--json"]) == 0


def test_stdin_bytes_with_a_bom_and_bad_utf8(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Stdin:
        def __init__(self, data: bytes) -> None:
            self.buffer = io.BytesIO(data)

    monkeypatch.setattr("sys.stdin", Stdin(b"\xef\xbb\xbf" + GOOD.encode()))
    assert main(["nerve", "assess", "-", "--json"]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", Stdin(b'{"x": "\xff"}'))
    assert main(["nerve", "assess", "-"]) == 1
    assert "<stdin>: cannot be read as UTF-8 text" in capsys.readouterr().err


def test_help_lists_the_levels_and_the_recorded_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve", "assess", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "c5_root: interscalene (default), foraminal" in out and "utrecht_protocol" in out
    assert "vagus_neck: carotid bifurcation (default), thyroid" in out
    assert "intraneural_doppler (a vessel count, or true/false)" in out and "reported, not scored" in out


def test_references_list_each_plexus_trunk_with_its_own_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve", "references", "--reference-set", "korean", "--json"]) == 0
    limits = json.loads(capsys.readouterr().out)[0]["limits"]
    trunks = {
        lim["trunk"]: lim["uln_mm2"]
        for lim in limits
        if lim["site"] == "brachial_plexus_trunk" and not lim["level"]
    }
    assert set(trunks) == {"upper", "middle", "lower"}
    assert trunks["upper"] == pytest.approx(22.46) and trunks["middle"] == pytest.approx(19.41)
    assert trunks["lower"] == pytest.approx(18.89)
