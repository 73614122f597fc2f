"""Copies of one picture under two file names (``sonomsk.training.duplicates``): found by
content, kept in one fold by the split, and left out of held-out scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sonomsk.training.card import card_from_metrics, card_markdown, independent_validation
from sonomsk.training.crossval import pool
from sonomsk.training.datasets import Sample, split_holdout
from sonomsk.training.duplicates import (
    SAME_PICTURE_NCC,
    independent_holdout,
    picture_groups,
    same_picture_pairs,
)


def _scene(seed: int, shape: tuple[int, int] = (512, 512)) -> np.ndarray:
    """A grey image with structure at several scales (blurred noise), 0..255 float32."""
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, shape).astype(np.float32), (0, 0), 6)
    img += cv2.GaussianBlur(rng.uniform(0, 255, shape).astype(np.float32), (0, 0), 2)
    return np.asarray(255 * (img - img.min()) / (img.max() - img.min()), dtype=np.float32)


def _sample(ident: str, grey: np.ndarray) -> Sample:
    return Sample(ident=ident, grey=grey, labels=np.zeros(grey.shape, np.uint8))


def _copy_on_wider_canvas(grey: np.ndarray) -> np.ndarray:
    """As usgra-seg's twins: the same pixels on a 534-px-wide canvas, 4 rows down, 2 columns right."""
    out = np.zeros((512, 534), np.float32)
    out[4:512, 2:514] = grey[0:508, :]
    return out


def test_a_copy_on_a_shifted_wider_canvas_is_found_and_unrelated_images_are_not() -> None:
    a, b, c = _scene(1), _scene(2), _scene(3)
    samples = [
        _sample("0001", a),
        _sample("0002", b),
        _sample("0003", c),
        _sample("0071", _copy_on_wider_canvas(a)),
        _sample("0080", c + np.random.default_rng(9).normal(0, 8, c.shape).astype(np.float32)),
    ]
    pairs = same_picture_pairs(samples)
    assert [(x, y) for x, y, _ in pairs] == [("0001", "0071"), ("0003", "0080")]
    assert all(s >= SAME_PICTURE_NCC for _, _, s in pairs)
    groups = picture_groups([s.ident for s in samples], pairs)
    assert groups == {"0001": "0001", "0002": "0002", "0003": "0003", "0071": "0001", "0080": "0003"}


def test_groups_are_transitive_and_named_by_their_first_file() -> None:
    groups = picture_groups(["a", "b", "c", "d"], [("c", "b", 0.9), ("b", "a", 0.95)])
    assert groups == {"a": "a", "b": "a", "c": "a", "d": "d"}


def test_independent_holdout_leaves_out_twins_of_training_images_and_second_copies() -> None:
    groups = {"1": "1", "2": "1", "3": "3", "4": "3", "5": "5"}
    kept, dropped = independent_holdout(["2", "3", "4", "5"], ["1", "9"], groups)
    assert kept == ["3", "5"]
    assert dropped == {
        "2": "same picture as training image 1",
        "4": "same picture as held-out image 3 (counted once)",
    }


def test_the_split_keeps_each_picture_in_one_fold() -> None:
    """A picture whose copies lie in blocks of different folds goes to its first file's fold
    (the file-number blocks alone held 0071 out while its twin 0001 trained)."""
    a, b = _scene(1), _scene(2)
    samples = [_sample(f"{i:04d}", _scene(100 + i)) for i in range(0, 100, 7)]
    samples += [_sample("0001", a), _sample("0071", _copy_on_wider_canvas(a)), _sample("0043", b)]
    pairs = same_picture_pairs(samples)
    assert ("0001", "0071") in [(x, y) for x, y, _ in pairs]
    held = {}
    for fold in range(5):
        train, val = split_holdout(samples, fold=fold, pairs=pairs)
        assert not ({samples[i].ident for i in train} & {samples[i].ident for i in val})
        for i in val:
            held[samples[i].ident] = fold
    assert len(held) == len(samples)  # every image held out exactly once
    assert held["0071"] == held["0001"] == 0  # block 0's fold; block 7 alone would be fold 2
    without = {}
    for fold in range(5):
        _, val = split_holdout(samples, fold=fold, pairs=[])
        without.update({samples[i].ident: fold for i in val})
    assert without["0071"] != without["0001"]


def _row(i: str, nerve: float, vessel_pred_px: int = 0) -> dict[str, Any]:
    return {
        "id": i,
        "nerve": {"present": True, "dice": nerve, "area_error_rel": 0.1},
        "vessel": {"present": False, "dice": 1.0, "area_pred_px": vessel_pred_px, "area_error_rel": None},
    }


def test_pool_and_card_count_only_independent_held_out_images(tmp_path: Path) -> None:
    command = "python -m sonomsk.training.train_nerve --data D --out {out} --seed 0 --holdout-fold {k}"
    runs = []
    for k, rows, train in (
        (0, [_row("1", 0.9), _row("2", 0.3, 500)], ["3", "4", "sim0000"]),
        (1, [_row("3", 0.95), _row("4", 0.5)], ["1", "2", "sim0000"]),
    ):
        out = tmp_path / f"f{k}"
        out.mkdir()
        metrics = {
            "command": command.format(out=out, k=k),
            "split": f"grouped interleaved hold-out: blocks of 10 file numbers, block index mod 5 == {k} held out",
            "train_seconds": 1.0,
            "train_ids": train,
            "validation_ids": [r["id"] for r in rows],
            "validation": {"per_image": rows},
        }
        (out / "metrics.json").write_text(json.dumps(metrics))
        runs.append(out)
    groups = {"1": "1", "2": "2", "3": "1", "4": "4"}  # 3 is a copy of 1, in the other fold
    found = pool(runs, groups)
    assert found["pooled"]["n_images"] == 2
    assert found["pooled"]["nerve"]["dice_mean"] == pytest.approx(0.4)  # 2 and 4: 1 and 3 left out
    assert found["folds"][0]["excluded"] == {"1": "same picture as training image 3"}
    assert found["pooled"]["vessel"]["false_positive_images"] == 1
    assert found["pooled"]["vessel"]["n_absent"] == 2 and found["pooled"]["vessel"]["dice_mean"] is None
    assert pool(runs)["pooled"]["n_images"] == 4
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    summary = {
        c: {"n_present": 2, "dice_mean": 0.6, "dice_median": 0.6, "area_error_rel_median": 0.1}
        for c in ("nerve", "vessel")
    }
    metrics["validation"]["summary"] = summary
    ind = independent_validation(metrics, groups)
    assert ind["n_images"] == 1 and ind["nerve"]["dice_mean"] == pytest.approx(0.3)
    text = card_markdown(card_from_metrics(metrics, "test", None, found, ind))
    assert "Of its 2 held-out usgra-seg images, 1 are independent" in text
    assert "held-out images independent of each run's training images" in text
    assert "| nerve | 1 | 0.300" in text and "| vessel | 0 | - | - | - | 1 of 1 |" in text
    assert "Dice and area error over the images whose expert mask has the class" in text


def test_usgra_seg_twins_are_found_and_no_fold_holds_out_a_twin_of_its_training_images(
    shared_data: Path,
) -> None:
    from sonomsk.training.datasets import load_usgra_seg

    samples = load_usgra_seg(shared_data / "usgra-seg")
    pairs = same_picture_pairs(samples)
    found = {(a, b) for a, b, _ in pairs}
    # pixel-identical copies: a 512x512 file and its 534x512 copy, and one 761x632 file twice
    assert {("0006", "0056"), ("0021", "0104"), ("0039", "0153"), ("0043", "0077")} <= found
    groups = picture_groups([s.ident for s in samples], pairs)
    seen: set[str] = set()
    for fold in range(5):
        train, val = split_holdout(samples, fold=fold, pairs=pairs)
        trained = {groups[samples[i].ident] for i in train}
        held = {groups[samples[i].ident] for i in val}
        assert not trained & held, fold
        seen |= {samples[i].ident for i in val}
    assert len(seen) == len(samples)


def test_the_card_gives_the_refinement_windows_of_independent_images_first() -> None:
    refine = {
        "input_size": 160,
        "window_factor": 2.0,
        "min_window_px": 32,
        "command": "python -m sonomsk.training.train_refine --data D --out R",
        "parameters": 1,
        "train_seconds": 1.0,
        "machine": "x",
        "simulated_scenes": 2,
        "validation_real": {"n_windows": 69, "dice_mean": 0.757, "dice_median": 0.813},
        "validation_real_independent": {"n_windows": 57, "dice_mean": 0.737, "dice_median": 0.776},
    }
    summary = {
        c: {"n_present": 1, "dice_mean": 0.6, "dice_median": 0.6, "area_error_rel_median": 0.1}
        for c in ("nerve", "vessel")
    }
    metrics = {"command": "c", "split": "mod 5 == 0", "validation": {"summary": summary}}
    text = card_markdown(card_from_metrics(metrics, "test", refine))
    ind = text.index("57 held-out real windows of images independent of training")
    every = text.index(
        "69 held-out real windows of every held-out image (copies of training images included)"
    )
    assert ind < every
    del refine["validation_real_independent"]
    text = card_markdown(card_from_metrics(metrics, "test", refine))
    assert "69 held-out real windows centred" in text and "copies" not in text.split("## Refinement")[1]
