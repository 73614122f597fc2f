"""Dataset loaders for training: usgra-seg (real, expert masks) and simulated scenes.

usgra-seg (tmkand/usgra-seg, CC BY 4.0): 204 transverse B-mode images of peripheral nerves and
vessels with palette masks (0 background, 1 nerve, 2 vessel). Numpy, OpenCV and Pillow only.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonomsk.core.errors import CorruptDataError, InputPathError
from sonomsk.vision.preprocess import to_grey

#: Identifiers of 10 consecutive file numbers form one group for splitting (neighbouring
#: files may come from the same patient or session, so they are never split apart).
GROUP_SIZE = 10


@dataclass(frozen=True)
class Sample:
    """One image (grey float32, original size) with its label mask (uint8, same size)."""

    ident: str
    grey: np.ndarray
    labels: np.ndarray

    @property
    def group(self) -> int:
        return int(self.ident) // GROUP_SIZE if self.ident.isdigit() else hash(self.ident) % 1000


def load_usgra_seg(root: str | Path) -> list[Sample]:
    """All image/mask pairs of usgra-seg under ``root`` (``images/`` and ``masks/``), sorted."""
    from PIL import Image

    root = Path(root)
    images = root / "images"
    masks = root / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise InputPathError(f"{root}: expected folders images/ and masks/ (usgra-seg layout)")
    out: list[Sample] = []
    for img_path in sorted(images.glob("*.png")):
        mask_path = masks / img_path.name
        if not mask_path.is_file():
            raise InputPathError(f"{mask_path}: mask missing for {img_path.name}")
        with Image.open(img_path) as im:
            grey = to_grey(np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im))
        with Image.open(mask_path) as m:
            labels = np.asarray(m).astype(np.uint8)
        if labels.shape != grey.shape or labels.max() > 2:
            raise CorruptDataError(
                f"{mask_path}: expected labels 0..2 of shape {grey.shape}, got {labels.shape} "
                f"max {labels.max()}"
            )
        out.append(Sample(ident=img_path.stem, grey=grey, labels=labels))
    if not out:
        raise InputPathError(f"{images}: no PNG images found")
    return out


def split_holdout(
    samples: list[Sample],
    *,
    fold: int = 0,
    n_folds: int = 5,
    pairs: list[tuple[str, str, float]] | None = None,
) -> tuple[list[int], list[int]]:
    """Grouped interleaved hold-out: groups (blocks of :data:`GROUP_SIZE` file numbers) whose
    index modulo ``n_folds`` equals ``fold`` are held out; returns (train, validation) indices.

    Interleaving spreads the held-out part over the whole file order (and so over the anatomical
    sites, which the files appear to be ordered by) while neighbouring files stay together.
    Images of one picture (``pairs``, by default found by
    :func:`sonomsk.training.duplicates.same_picture_pairs`) go together to the fold of the block
    of their first file, so that no held-out image has a twin in training. (Joining their whole
    blocks instead would chain most of usgra-seg into one fold: its twins link files 0000-0039
    to blocks all over the file order.)
    """
    from sonomsk.training.duplicates import picture_groups, same_picture_pairs

    if pairs is None:
        pairs = same_picture_pairs(samples)
    blocks = sorted({s.group for s in samples})
    fold_of_block = {g: i % n_folds for i, g in enumerate(blocks)}
    block = {s.ident: s.group for s in samples}
    picture = picture_groups(block, [p for p in pairs if p[0] in block and p[1] in block])
    # the group's name is its smallest ident: its first file
    held = {i for i in block if fold_of_block[block[picture[i]]] == fold}
    train = [i for i, s in enumerate(samples) if s.ident not in held]
    val = [i for i, s in enumerate(samples) if s.ident in held]
    return train, val


def run_parser(
    prog: str, description: str | None, *, size: int, batch: int, simulated: int
) -> argparse.ArgumentParser:
    """The arguments every training command shares (data, output, seed, network, split, threads)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--data", required=True, help="usgra-seg folder (images/, masks/)")
    p.add_argument("--out", required=True, help="output folder for the ONNX model and metrics")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=size, help="network input side in px")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--widths", default="8,16,32,64,128", help="channels per U-Net level")
    p.add_argument("--holdout-fold", type=int, default=None, help="hold out this usgra-seg fold")
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--simulated", type=int, default=simulated, help="simulated scenes added to training")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="use only the first N images (smoke test)")
    return p


def real_split(
    data: str | Path, *, holdout_fold: int | None, n_folds: int = 5, limit: int | None = None
) -> tuple[list[Sample], list[Sample]]:
    """usgra-seg as (training, validation) samples: fold ``holdout_fold`` held out (see
    :func:`split_holdout`), or every image for training when it is None; ``limit`` keeps only
    the first images (smoke runs)."""
    samples = load_usgra_seg(data)
    if limit:
        samples = samples[:limit]
    if holdout_fold is None:
        return samples, []
    train_idx, val_idx = split_holdout(samples, fold=holdout_fold, n_folds=n_folds)
    return [samples[i] for i in train_idx], [samples[i] for i in val_idx]


def simulated_samples(n: int, *, seed: int, csa_range_mm2: tuple[float, float] | None = None) -> list[Sample]:
    """``n`` simulated transverse scenes with nerve/vessel truth from :mod:`sonomsk.simulate`.

    ``csa_range_mm2`` draws each nerve's CSA log-uniformly from that range (instead of the
    scene's own range), so that enlarged nerves (severe carpal tunnel syndrome, 20-30 mm2) and
    small ones are in the training data. Raises ImportError (caught by the trainer) when the
    simulator is not available.
    """
    from sonomsk.simulate.api import simulate_scene

    rng = np.random.default_rng(seed + 104729)
    out: list[Sample] = []
    # transverse scenes with nerves and vessels; parameters (CSA, depth, gain, look) vary by seed
    names = ("nerve", "carpal-tunnel", "vessel", "nerve")
    for i in range(n):
        name = names[i % len(names)]
        overrides = {}
        if csa_range_mm2 is not None and name != "vessel":
            lo, hi = np.log(csa_range_mm2[0]), np.log(csa_range_mm2[1])
            overrides["csa_mm2"] = float(np.exp(rng.uniform(lo, hi)))
        image, truth = simulate_scene(name, seed=seed + 1000 + i, overrides=overrides)
        out.append(Sample(ident=f"sim{i:04d}", grey=image.grey_frame(0), labels=truth.nerve_vessel_labels(0)))
    return out
