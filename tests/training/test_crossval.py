"""Pooling the held-out scores of one recipe's fold runs (``sonomsk.training.crossval``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.training.card import card_from_metrics, card_markdown
from sonomsk.training.crossval import pool

COMMAND = (
    "python -m sonomsk.training.train_nerve --data D --out {out} --seed 0 --epochs 90 --holdout-fold {k}"
)


def _image(i: str, nerve: float, area_err: float, vessel: float | None) -> dict[str, Any]:
    return {
        "id": i,
        "nerve": {"present": True, "dice": nerve, "area_error_rel": area_err},
        "vessel": {"present": vessel is not None, "dice": vessel or 0.0, "area_error_rel": 0.1},
    }


def _run(root: Path, k: int, rows: list[dict[str, Any]], command: str = COMMAND) -> Path:
    out = root / f"f{k}"
    out.mkdir()
    metrics = {
        "command": command.format(out=out, k=k),
        "split": f"grouped interleaved hold-out: blocks of 10 file numbers, block index mod 5 == {k} held out",
        "train_seconds": 100.0 + k,
        "validation": {"per_image": rows},
    }
    (out / "metrics.json").write_text(json.dumps(metrics))
    return out


def test_pool_is_over_images_and_names_each_fold(tmp_path: Path) -> None:
    a = _run(tmp_path, 0, [_image("1", 0.9, -0.2, 0.8), _image("2", 0.0, 1.0, None)])
    b = _run(tmp_path, 1, [_image("3", 0.6, 0.4, 0.6)])
    found = pool([a, b])
    assert [f["fold"] for f in found["folds"]] == ["0", "1"]
    p = found["pooled"]
    assert p["n_images"] == 3
    assert p["nerve"]["n_present"] == 3 and p["nerve"]["dice_mean"] == pytest.approx(0.5)
    assert p["nerve"]["dice_median"] == pytest.approx(0.6)
    assert p["nerve"]["area_error_rel_median"] == pytest.approx(0.4)  # of |errors| 0.2, 1.0, 0.4
    assert p["nerve"]["dice_below_0_1"] == 1
    assert p["vessel"]["n_present"] == 2 and p["vessel"]["dice_mean"] == pytest.approx(0.7)
    lo, hi = p["nerve"]["dice_ci95"]
    assert lo <= 0.5 <= hi


def test_runs_of_other_recipes_or_overlapping_images_are_refused(tmp_path: Path) -> None:
    a = _run(tmp_path, 0, [_image("1", 0.9, 0.1, None)])
    other = _run(tmp_path, 1, [_image("2", 0.9, 0.1, None)], COMMAND.replace("90", "180"))
    with pytest.raises(InvalidParameterError, match="differ in more than output and fold"):
        pool([a, other])
    twin = _run(tmp_path, 2, [_image("1", 0.5, 0.1, None)])
    with pytest.raises(InvalidParameterError, match="image 1 is held out by both"):
        pool([a, twin])
    with pytest.raises(InvalidParameterError, match=r"no metrics\.json"):
        pool([a, tmp_path / "missing"])


def test_the_card_shows_the_recipe_cross_validation(tmp_path: Path) -> None:
    a = _run(tmp_path, 0, [_image("1", 0.9, -0.2, 0.8)])
    b = _run(tmp_path, 1, [_image("3", 0.5, 0.4, 0.6)])
    summary = {
        c: {"n_present": 1, "dice_mean": 0.9, "dice_median": 0.9, "area_error_rel_median": 0.2}
        for c in ("nerve", "vessel")
    }
    metrics = {**json.loads((a / "metrics.json").read_text()), "validation": {"summary": summary}}
    card = card_from_metrics(metrics, "test", None, pool([a, b]))
    text = card_markdown(card)
    assert "Cross-validation of the recipe** (2 folds" in text
    assert "| nerve | 2 | 0.700 (" in text and card["cross_validation"]["pooled"]["n_images"] == 2
    assert "Cross-validation" not in card_markdown(card_from_metrics(metrics, "test"))
