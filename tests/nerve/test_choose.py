"""The one chooser of the CSA per site and side: the largest, with the references it came from."""

from __future__ import annotations

import math

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.nerve.choose import ChosenCsa, choose_largest_csa


def test_largest_per_site_and_side_with_every_reference_in_input_order() -> None:
    chosen = choose_largest_csa(
        [
            ("median_wrist", "right", 10.0, 1),
            ("median_wrist", "left", 8.0, 2),
            ("median_wrist", "right", 12.5, 3),
            ("median_wrist", "right", 11.0, 4),
        ]
    )
    assert chosen == [
        ChosenCsa("median_wrist", "left", 8.0, 2, (2,)),
        ChosenCsa("median_wrist", "right", 12.5, 3, (1, 3, 4)),
    ]


def test_tie_takes_the_first_reference_in_input_order() -> None:
    (c,) = choose_largest_csa([("ulnar_elbow", "left", 9.0, "b"), ("ulnar_elbow", "left", 9.0, "a")])
    assert c.csa_mm2 == 9.0 and c.reference == "b" and c.references == ("b", "a")


@pytest.mark.parametrize(
    "item",
    [
        (None, "right", 10.0, "x"),
        ("", "right", 10.0, "x"),
        ("median_wrist", None, 10.0, "x"),
        ("median_wrist", "", 10.0, "x"),
        ("median_wrist", "right", None, "x"),
    ],
)
def test_items_without_site_side_or_csa_are_skipped(
    item: tuple[str | None, str | None, float | None, str],
) -> None:
    chosen = choose_largest_csa([item, ("median_forearm", "right", 7.0, "y")])
    assert [(c.site, c.side, c.references) for c in chosen] == [("median_forearm", "right", ("y",))]


def test_nothing_usable_gives_an_empty_list() -> None:
    assert choose_largest_csa([]) == []
    assert choose_largest_csa([(None, None, None, 1)]) == []


def test_order_is_by_site_then_side_whatever_the_input_order() -> None:
    items = [
        ("ulnar_elbow", "right", 9.0, 1),
        ("median_wrist", "right", 12.0, 2),
        ("ulnar_elbow", "left", 8.0, 3),
        ("median_wrist", "left", 10.0, 4),
    ]
    keys = [(c.site, c.side) for c in choose_largest_csa(items)]
    assert keys == [
        ("median_wrist", "left"),
        ("median_wrist", "right"),
        ("ulnar_elbow", "left"),
        ("ulnar_elbow", "right"),
    ]
    assert choose_largest_csa(reversed(items)) == [
        ChosenCsa(c.site, c.side, c.csa_mm2, c.reference, c.references[::-1])
        for c in choose_largest_csa(items)
    ]


def test_accepts_a_generator_once() -> None:
    chosen = choose_largest_csa(("median_wrist", "right", float(v), v) for v in (3, 5, 4))
    assert chosen[0].csa_mm2 == 5.0 and chosen[0].references == (3, 5, 4)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_a_non_finite_or_negative_area_is_refused(bad: float) -> None:
    with pytest.raises(InvalidParameterError, match=r"items\[1\]\.csa_mm2"):
        choose_largest_csa([("median_wrist", "right", 10.0, 0), ("median_wrist", "right", bad, 1)])
