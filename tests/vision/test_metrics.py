"""Segmentation scores and their summary (the numbers docs/benchmarks.md quotes)."""

from __future__ import annotations

import numpy as np
import pytest

from sonomsk.vision.metrics import bootstrap_mean_ci, segmentation_scores, summarise_scores


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_more_images() -> None:
    rng = np.random.default_rng(1)
    few = rng.uniform(0, 1, 20)
    many = rng.uniform(0, 1, 2000)
    lo, hi = bootstrap_mean_ci(few)
    assert lo < few.mean() < hi
    lo2, hi2 = bootstrap_mean_ci(many)
    assert lo2 < many.mean() < hi2 and hi2 - lo2 < (hi - lo) / 5
    assert bootstrap_mean_ci(np.full(10, 0.7)) == pytest.approx([0.7, 0.7])
    assert bootstrap_mean_ci(few) == bootstrap_mean_ci(few)  # fixed seed: a benchmark repeats
    assert all(np.isnan(bootstrap_mean_ci(np.array([]))))


def test_summary_counts_only_images_with_the_class_and_reports_the_interval() -> None:
    truth = np.zeros((20, 20), np.uint8)
    truth[5:10, 5:10] = 1
    perfect = segmentation_scores(truth, truth)
    missed = segmentation_scores(np.zeros_like(truth), truth)
    s = summarise_scores([perfect, missed])
    assert s["nerve"]["n_present"] == 2 and s["nerve"]["dice_mean"] == pytest.approx(0.5)
    lo, hi = s["nerve"]["dice_mean_ci95"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    assert s["vessel"]["n_present"] == 0 and s["vessel"]["n_absent"] == 2
