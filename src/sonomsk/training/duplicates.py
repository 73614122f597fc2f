"""Images of one picture under two file names: found by content, so that a split never holds
out an image whose twin it trained on, and a score never counts one picture twice.

usgra-seg holds such twins: each 512x512 image of files 0000-0039 reappears among the 534x512
images on a canvas shifted by a few pixels, and two 761x632 files are the same picture annotated
twice. File numbers do not reveal them; their grey levels do.

Method: each image is reduced by :data:`REDUCE` (area average) and compared with every other
image of the same size class (a shift of at most :data:`MAX_SHIFT_PX` frame pixels, as a canvas
offset, and the same scale): the normalised cross-correlation of the first image's centre with
the second, at the best shift. Two images at or above :data:`SAME_PICTURE_NCC` show the same
picture (or frames of one sweep a moment apart, which leak as much); the groups are the connected
sets of such pairs. The limits are engineering values, checked on usgra-seg by eye (decision
003): its 22 twins score above 0.99, one more pair 0.98, five pairs of frames of one sweep
0.81-0.89, and the next pair, 0.78, shows two different scenes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

#: reduction factor before comparison (area average)
REDUCE = 4
#: the largest canvas offset between two copies, in frame pixels
MAX_SHIFT_PX = 16
#: normalised cross-correlation at or above which two images show the same picture
SAME_PICTURE_NCC = 0.8
#: images whose sides differ by more than this fraction are not compared (another scale)
SIZE_TOLERANCE = 0.1


class _Image(Protocol):
    @property
    def ident(self) -> str: ...

    @property
    def grey(self) -> np.ndarray: ...


def _reduced(grey: np.ndarray) -> np.ndarray:
    import cv2

    rows, cols = grey.shape
    small = cv2.resize(
        np.asarray(grey, dtype=np.float32), (cols // REDUCE, rows // REDUCE), interpolation=cv2.INTER_AREA
    )
    return np.asarray(small, dtype=np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Best normalised cross-correlation of reduced image ``a``'s centre within reduced image
    ``b`` over offsets of up to :data:`MAX_SHIFT_PX` frame pixels each way (-1..1)."""
    import cv2

    m = MAX_SHIFT_PX // REDUCE
    rows = min(a.shape[0], b.shape[0])
    cols = min(a.shape[1], b.shape[1])
    if rows <= 4 * m or cols <= 4 * m:
        return -1.0
    template = a[m : rows - m, m : cols - m]
    if float(template.std()) == 0.0:
        return -1.0
    search = b[:rows, :cols]
    scores = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED)
    return float(np.nanmax(scores))


def same_picture_pairs(images: Sequence[_Image]) -> list[tuple[str, str, float]]:
    """(ident, ident, similarity) of every pair at or above :data:`SAME_PICTURE_NCC`."""
    reduced = [(im.ident, _reduced(im.grey)) for im in images]
    pairs: list[tuple[str, str, float]] = []
    for i, (ia, a) in enumerate(reduced):
        for ib, b in reduced[i + 1 :]:
            if any(abs(x - y) > SIZE_TOLERANCE * max(x, y) for x, y in zip(a.shape, b.shape, strict=True)):
                continue
            s = max(similarity(a, b), similarity(b, a))
            if s >= SAME_PICTURE_NCC:
                pairs.append((ia, ib, round(s, 4)))
    return pairs


def picture_groups(idents: Iterable[str], pairs: Iterable[tuple[str, str, float]]) -> dict[str, str]:
    """Each ident's group: the smallest ident of its connected set of same-picture pairs."""
    parent = {i: i for i in idents}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _ in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: root(i) for i in parent}


def independent_holdout(
    validation_ids: Sequence[str], train_ids: Iterable[str], groups: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The held-out ids that are independent of the training set, one per picture, and why each
    other one is left out: a twin in training (leaked) or a second copy of a held-out picture."""
    train = list(train_ids)
    trained = {groups.get(t, t) for t in train}
    kept: list[str] = []
    seen: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for ident in sorted(validation_ids):
        g = groups.get(ident, ident)
        if g in trained:
            twins = sorted(t for t in train if groups.get(t, t) == g)
            dropped[ident] = f"same picture as training image {', '.join(twins)}"
        elif g in seen:
            dropped[ident] = f"same picture as held-out image {seen[g]} (counted once)"
        else:
            seen[g] = ident
            kept.append(ident)
    return kept, dropped
