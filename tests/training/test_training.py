"""The training commands run end to end, are reproducible with a fixed seed, and their runs
become a model card that the ONNX backend can read (tiny runs; the real ones are in the card)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="training needs the train extra (pip install -e '.[train]')")
pytest.importorskip("onnx", reason="ONNX export needs the onnx package (train extra)")


def _weights(path: Path) -> list[np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]


def _same(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))


TINY_NERVE = ["--epochs", "1", "--size", "64", "--widths", "4,8,16", "--batch", "2", "--limit", "12"]
TINY_REFINE = ["--steps", "3", "--size", "32", "--widths", "4,8,16", "--batch", "2", "--limit", "12"]


def _twice(main: Callable[[list[str]], int], args: list[str], out: Path) -> tuple[Path, Path]:
    """Run a training command twice with the same arguments into out/run0 and out/run1."""
    runs = (out / "run0", out / "run1")
    for run in runs:
        assert main([*args, "--out", str(run)]) == 0
    return runs


def test_train_nerve_is_reproducible_and_holds_out_a_fold(shared_data: Path, tmp_path: Path) -> None:
    from sonomsk.training.train_nerve import main

    args = [
        "--data",
        str(shared_data / "usgra-seg"),
        "--seed",
        "3",
        "--holdout-fold",
        "0",
        "--simulated",
        "2",
    ]
    runs = _twice(main, [*args, *TINY_NERVE], tmp_path)
    assert _same(runs[0] / "nerve_unet.onnx", runs[1] / "nerve_unet.onnx")
    import onnx

    ops = {n.op_type for n in onnx.load(str(runs[0] / "nerve_unet.onnx")).graph.node}
    assert "Softmax" not in ops and "Exp" in ops  # exported with the element-wise softmax
    m = json.loads((runs[0] / "metrics.json").read_text())
    assert set(m["train_ids"]).isdisjoint(m["validation_ids"]) and m["validation_ids"]
    assert m["simulated_scenes"] == 2 and m["validation"]["summary"]["nerve"]["n_present"] > 0


def test_train_refine_is_reproducible_and_installs_a_card(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sonomsk.training.card import card_from_metrics, card_markdown
    from sonomsk.training.train_refine import main

    args = [
        "--data",
        str(shared_data / "usgra-seg"),
        "--seed",
        "5",
        "--holdout-fold",
        "1",
        "--simulated",
        "2",
    ]
    runs = _twice(main, [*args, *TINY_REFINE], tmp_path)
    assert _same(runs[0] / "nerve_refine.onnx", runs[1] / "nerve_refine.onnx")
    refine = json.loads((runs[0] / "metrics.json").read_text())
    assert set(refine["train_ids"]).isdisjoint(refine["validation_ids"])
    assert 0.0 <= refine["validation_real"]["dice_mean"] <= 1.0
    scores = {"n_present": 1, "dice_mean": 0.5, "dice_median": 0.5, "area_error_rel_median": 0.1}
    nerve_run = {
        "command": "x",
        "parameters": 1,
        "train_seconds": 1.0,
        "machine": "m",
        "torch": "t",
        "input_size": 256,
        "validation": {"summary": {"nerve": scores, "vessel": scores}},
    }
    card = card_from_metrics(nerve_run, "test", refine)
    assert card["refinement"]["window_factor"] == refine["window_factor"]
    assert card["refinement"]["input_size"] == 32
    assert "Refinement stage" in card_markdown(card)
    # --replace-refinement installs this run's refinement stage and keeps the rest of the card
    import shutil

    import sonomsk.training.card as card_mod

    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(card_mod.MODELS / "nerve_unet.json", models / "nerve_unet.json")
    before = json.loads((models / "nerve_unet.json").read_text())
    monkeypatch.setattr(card_mod, "MODELS", models)
    assert (
        card_mod.main(["--replace-refinement", str(runs[0]), "--data", str(shared_data / "usgra-seg")]) == 0
    )
    after = json.loads((models / "nerve_unet.json").read_text())
    assert {k: v for k, v in after.items() if k != "refinement"} == {
        k: v for k, v in before.items() if k != "refinement"
    }
    assert after["refinement"]["training"]["command"] == refine["command"]
    assert after["refinement"]["validation_real_independent"]["n_images"] > 0
    assert _same(models / "nerve_refine.onnx", runs[0] / "nerve_refine.onnx")
    assert "Refinement stage" in (models / "nerve_unet.md").read_text()
    assert "sonomsk.training.graph" in (models / "nerve_unet.md").read_text()
    with pytest.raises(SystemExit):  # a usage error: --data is needed
        card_mod.main(["--replace-refinement", str(runs[0])])


def test_simulated_nerves_cover_a_requested_csa_range() -> None:
    from sonomsk.simulate.api import simulate_scene
    from sonomsk.training.datasets import simulated_samples

    samples = simulated_samples(2, seed=11, csa_range_mm2=(20.0, 30.0))
    for i, (scene, s) in enumerate(zip(("nerve", "carpal-tunnel"), samples, strict=True)):
        _, truth = simulate_scene(scene, seed=11 + 1000 + i)
        area_mm2 = float((s.labels == 1).sum()) * truth.spacing_mm[0] * truth.spacing_mm[1]
        assert 20.0 * 0.98 <= area_mm2 <= 30.0 * 1.02, (scene, area_mm2)


@pytest.mark.parametrize("bad", ["abc", "30,4", "4", "0,10"])
def test_bad_sim_csa_range_is_a_one_line_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    from sonomsk.training.train_refine import main

    with pytest.raises(SystemExit) as exc:
        main(["--data", "x", "--out", "y", "--sim-csa-range", bad])
    assert exc.value.code == 2
    assert "--sim-csa-range" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["abc", "0", "1", "1.5", "-0.2"])
def test_bad_real_share_is_a_one_line_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    from sonomsk.training.train_refine import main

    with pytest.raises(SystemExit) as exc:
        main(["--data", "x", "--out", "y", "--real-share", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--real-share" in err and "expected" in err and "fraction" in err


def test_real_share_draws_that_fraction_of_each_batch_from_real_windows(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --real-share, the real windows (first in the pool) make up that share of the draws,
    whatever their number against the simulated ones; the run records the share."""
    import sonomsk.training.train_refine as tr

    drawn: list[bool] = []
    real_ids: set[str] = set()
    original = tr.training_pair

    def spy(sample, target, size, rng):  # type: ignore[no-untyped-def]
        drawn.append(sample.ident in real_ids)
        return original(sample, target, size, rng)

    monkeypatch.setattr(tr, "training_pair", spy)
    from sonomsk.training.datasets import real_split

    real, _ = real_split(shared_data / "usgra-seg", holdout_fold=1, n_folds=5, limit=12)
    real_ids.update(s.ident for s in real)
    args = ["--data", str(shared_data / "usgra-seg"), "--seed", "5", "--holdout-fold", "1"]
    tiny = [a if a != "3" else "40" for a in TINY_REFINE]  # 40 steps of 2 windows: 80 draws
    assert tr.main([*args, "--simulated", "8", "--real-share", "0.2", *tiny, "--out", str(tmp_path / "r")]) == 0
    assert len(drawn) == 80 and 0.05 <= sum(drawn) / 80 <= 0.4  # binomial(80, 0.2): 16 expected
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["real_share"] == 0.2
    with pytest.raises(SystemExit, match="needs both real and simulated windows"):
        tr.main([*args, "--simulated", "0", "--real-share", "0.5", *TINY_REFINE, "--out", str(tmp_path / "s")])


def test_average_of_refinement_runs_is_the_mean_of_their_probabilities(
    shared_data: Path, tmp_path: Path
) -> None:
    import onnxruntime as ort

    from sonomsk.training.average import main as average
    from sonomsk.training.card import card_from_metrics, card_markdown
    from sonomsk.training.train_refine import main as train

    data = ["--data", str(shared_data / "usgra-seg"), "--holdout-fold", "1", "--simulated", "2"]
    runs = [tmp_path / "a", tmp_path / "b"]
    for seed, run in zip(("5", "6"), runs, strict=True):
        assert train([*data, "--seed", seed, *TINY_REFINE, "--out", str(run)]) == 0
    out = tmp_path / "mean"
    assert average([*map(str, runs), "--out", str(out), "--data", str(shared_data / "usgra-seg")]) == 0

    x = np.random.default_rng(0).normal(size=(1, 1, 32, 32)).astype(np.float32)

    def prob(path: Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {"image": x})[0])

    members = [prob(r / "nerve_refine.onnx") for r in runs]
    assert not np.allclose(members[0], members[1], atol=1e-3)
    np.testing.assert_allclose(prob(out / "nerve_refine.onnx"), (members[0] + members[1]) / 2, atol=1e-5)
    m = json.loads((out / "metrics.json").read_text())
    assert [k["seed"] for k in m["members"]] == [5, 6] and m["input_size"] == 32
    assert m["validation_real"]["n_windows"] > 0
    scores = {"n_present": 1, "dice_mean": 0.5, "dice_median": 0.5, "area_error_rel_median": 0.1}
    nerve_run = {"command": "x", "parameters": 1, "train_seconds": 1.0, "machine": "m", "torch": "t"}
    summary = {"nerve": scores, "vessel": scores}
    card = card_from_metrics({**nerve_run, "input_size": 256, "validation": {"summary": summary}}, "test", m)
    assert card_markdown(card).count("Averaged member") == 2


def test_runs_of_different_recipes_are_not_averaged(shared_data: Path, tmp_path: Path) -> None:
    from sonomsk.training.average import read_runs

    for name, widths in (("a", [4, 8, 16]), ("b", [4, 8, 32])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "nerve_refine.pt").write_bytes(b"")
        metrics = {"input_size": 32, "window_factor": 2.0, "min_window_px": 32, "widths": widths}
        (tmp_path / name / "metrics.json").write_text(json.dumps({**metrics, "validation_ids": ["1"]}))
    with pytest.raises(ValueError, match="differ in widths"):
        read_runs([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ValueError, match="not a train_refine output"):
        read_runs([tmp_path / "a", tmp_path])
