"""Realism of the phantom lab against theory and against real images.

Run: ``nice python benchmarks/bench_simulate_realism.py`` (needs ../shared/data or $SONOMSK_DATA
for the real-image part). Prints JSON and writes docs/images/sim_vs_real.png.

1. Speckle: envelope SNR (mean / std) in fully developed speckle; theory (Rayleigh) 1.91.
2. Resolution against frequency: FWHM of a simulated point target (axial and lateral) at
   5-18 MHz, against the PSF model's nominal values.
3. Grey-level statistics of nerve / vessel / surrounding tissue in usgra-seg (real, masks 1 nerve,
   2 vessel) and in simulated ``nerve`` scenes; muscle in TimTrack dataset 1 (real, rows between
   the median superficial and deep aponeurosis rows of observer 1's sheet) against simulated
   ``muscle-longitudinal`` scenes. Distances are 1-D Wasserstein distances between grey-level
   distributions, raw and after dividing by the median of the surrounding tissue (gain-free).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from sonomsk.simulate.acoustics import Scatterers, Settings, render
from sonomsk.simulate.api import simulate_scene
from sonomsk.simulate.probe import Probe
from sonomsk.simulate.tissues import Canvas

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SONOMSK_DATA", ROOT.parent / "shared" / "data"))
N_IMAGES = 40


def speckle_snr() -> dict[str, float]:
    out = {}
    for f in (5.0, 10.0, 15.0):
        canvas = Canvas(256, 256, 0.05)
        snr = []
        for seed in range(5):
            scat = Scatterers(np.random.default_rng(seed), 256, 256)
            env = render(
                canvas,
                Probe(f, focus_mm=6, aperture_mm=10),
                Settings(tgc_db_cm_mhz=0.7, noise_db=-160),
                scat.window(),
                np.random.default_rng(99),
            ).envelope[60:200, 40:216]
            snr.append(float(env.mean() / env.std()))
        out[f"{f:g}MHz"] = float(np.mean(snr))
    return out


def resolution() -> list[dict[str, float]]:
    rows = []
    for f in (5.0, 7.5, 10.0, 12.0, 15.0, 18.0):
        canvas = Canvas(256, 256, 0.01)
        canvas.echo_mod[:] = 0.0
        canvas.specular[128, 128] = 1.0
        probe = Probe(f, focus_mm=1.28, aperture_mm=8.0)
        scat = Scatterers(np.random.default_rng(0), 256, 256)
        env = render(
            canvas, probe, Settings(noise_db=-160, speckle=False), scat.window(), np.random.default_rng(0)
        ).envelope
        r, c = np.unravel_index(np.argmax(env), env.shape)
        half = 0.5 * env.max()
        rows.append(
            {
                "frequency_mhz": f,
                "axial_fwhm_mm_measured": float((env[:, c] >= half).sum() * 0.01),
                "axial_fwhm_mm_model": probe.axial_fwhm_mm,
                "lateral_fwhm_mm_measured": float((env[r] >= half).sum() * 0.01),
                "lateral_fwhm_mm_model": float(probe.lateral_fwhm_mm(1.28)),
            }
        )
    return rows


def _grey(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("L"), dtype=np.float32)


def _ring(mask: np.ndarray, width: int = 15) -> np.ndarray:
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool) & ~mask


def _stats(values: list[np.ndarray]) -> dict[str, float]:
    v = np.concatenate(values)
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "p10": float(np.percentile(v, 10)),
        "p90": float(np.percentile(v, 90)),
    }


def nerve_vessel(real_dir: Path) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    from PIL import Image
    from scipy.stats import wasserstein_distance

    groups: dict[str, dict[str, list[np.ndarray]]] = {
        k: {"nerve": [], "vessel": [], "surround": []} for k in ("real", "sim")
    }
    norm: dict[str, dict[str, list[np.ndarray]]] = {
        k: {"nerve": [], "vessel": [], "surround": []} for k in ("real", "sim")
    }
    examples: dict[str, np.ndarray] = {}
    masks = sorted((real_dir / "masks").glob("*.png"))[:N_IMAGES]
    for m in masks:
        img = _grey(real_dir / "images" / m.name)
        lab = np.asarray(Image.open(m))
        _collect(groups["real"], norm["real"], img, lab)
        examples.setdefault("real_nerve", img)
        examples.setdefault("real_nerve_labels", lab)
    for seed in range(N_IMAGES):
        image, truth = simulate_scene("nerve", seed=seed, overrides={"artery": True})
        _collect(groups["sim"], norm["sim"], image.array[0].astype(np.float32), truth.nerve_vessel_labels())
        examples.setdefault("sim_nerve", image.array[0])
        examples.setdefault("sim_nerve_labels", truth.nerve_vessel_labels())
    out: dict[str, object] = {}
    for region in ("nerve", "vessel", "surround"):
        r, s = np.concatenate(groups["real"][region]), np.concatenate(groups["sim"][region])
        rn, sn = np.concatenate(norm["real"][region]), np.concatenate(norm["sim"][region])
        out[region] = {
            "real": _stats(groups["real"][region]),
            "sim": _stats(groups["sim"][region]),
            "wasserstein_raw": float(wasserstein_distance(r[::7], s[::7])),
            "wasserstein_normalised": float(wasserstein_distance(rn[::7], sn[::7])),
            "real_over_surround_median": float(np.median(rn)),
            "sim_over_surround_median": float(np.median(sn)),
        }
        examples[f"hist_real_{region}"] = rn
        examples[f"hist_sim_{region}"] = sn
    return out, examples


def _collect(
    raw: dict[str, list[np.ndarray]], norm: dict[str, list[np.ndarray]], img: np.ndarray, lab: np.ndarray
) -> None:
    nerve, vessel = lab == 1, lab == 2
    surround = _ring(nerve | vessel) & ~(nerve | vessel)
    ref = float(np.median(img[surround])) or 1.0
    for key, m in (("nerve", nerve), ("vessel", vessel), ("surround", surround)):
        if m.any():
            raw[key].append(img[m])
            norm[key].append(img[m] / ref)


def muscle(real_dir: Path) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    import openpyxl
    from scipy.stats import wasserstein_distance

    wb = openpyxl.load_workbook(real_dir / "dataset1_for_manual_estimation.xlsx", read_only=True)
    ws = wb[wb.sheetnames[0]]
    sp, dp = [], []
    for row in list(ws.iter_rows(values_only=True))[1:]:
        if isinstance(row[5], int | float) and isinstance(row[6], int | float):
            sp.append(row[5])
            dp.append(row[6])
    r0, r1 = int(np.median(sp)) + 10, int(np.median(dp)) - 10
    real = []
    files = sorted(real_dir.glob("S*/*.png"))[:N_IMAGES]
    example = None
    for f in files:
        img = _grey(f)
        example = img if example is None else example
        real.append(img[r0:r1].ravel())
    sim = []
    sim_example = None
    for seed in range(N_IMAGES // 2):
        image, truth = simulate_scene("muscle-longitudinal", seed=seed)
        a = image.array[0]
        sim_example = a if sim_example is None else sim_example
        sim.append(a[truth.labels[0] == 3].astype(np.float32))
    r, s = np.concatenate(real), np.concatenate(sim)
    out = {
        "real": _stats(real),
        "sim": _stats(sim),
        "wasserstein_raw": float(wasserstein_distance(r[::13], s[::13])),
        "real_roi_rows": [r0, r1],
        "n_real": len(files),
        "n_sim": len(sim),
    }
    assert example is not None and sim_example is not None
    return out, {
        "real_muscle": example,
        "sim_muscle": sim_example,
        "hist_real_muscle": r,
        "hist_sim_muscle": s,
    }


def figure(ex: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    axes[0, 0].imshow(ex["real_nerve"], cmap="gray", vmin=0, vmax=255)
    axes[0, 0].contour(ex["real_nerve_labels"], levels=[0.5, 1.5], colors=["y", "r"], linewidths=0.7)
    axes[0, 0].set_title("real: usgra-seg 0000 (nerve yellow, vessel red)")
    axes[0, 1].imshow(ex["sim_nerve"], cmap="gray", vmin=0, vmax=255)
    axes[0, 1].contour(ex["sim_nerve_labels"], levels=[0.5, 1.5], colors=["y", "r"], linewidths=0.7)
    axes[0, 1].set_title("simulated: nerve scene, seed 0")
    bins = np.linspace(0, 4, 60)
    for region, colour in (("nerve", "y"), ("vessel", "r"), ("surround", "k")):
        axes[0, 2].hist(
            ex[f"hist_real_{region}"],
            bins=bins,
            density=True,
            histtype="step",
            color=colour,
            label=f"real {region}",
        )
        axes[0, 2].hist(
            ex[f"hist_sim_{region}"],
            bins=bins,
            density=True,
            histtype="step",
            color=colour,
            ls="--",
            label=f"sim {region}",
        )
    axes[0, 2].set_title("grey / median of surround")
    axes[0, 2].legend(fontsize=7)
    axes[1, 0].imshow(ex["real_muscle"], cmap="gray", vmin=0, vmax=255)
    axes[1, 0].set_title("real: TimTrack vastus lateralis")
    axes[1, 1].imshow(ex["sim_muscle"], cmap="gray", vmin=0, vmax=255)
    axes[1, 1].set_title("simulated: muscle-longitudinal, seed 0")
    b2 = np.linspace(0, 255, 60)
    axes[1, 2].hist(
        ex["hist_real_muscle"], bins=b2, density=True, histtype="step", color="k", label="real muscle"
    )
    axes[1, 2].hist(
        ex["hist_sim_muscle"], bins=b2, density=True, histtype="step", color="k", ls="--", label="sim muscle"
    )
    axes[1, 2].set_title("muscle grey levels")
    axes[1, 2].legend(fontsize=7)
    for ax in axes.ravel()[[0, 1, 3, 4]]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


def main() -> int:
    res: dict[str, object] = {"speckle_snr": speckle_snr(), "resolution": resolution()}
    if not (DATA / "usgra-seg").is_dir():
        print(json.dumps(res, indent=2))
        print(f"real data not found at {DATA}: skipped the comparison with real images", file=sys.stderr)
        return 0
    nv, ex = nerve_vessel(DATA / "usgra-seg")
    mu, ex2 = muscle(DATA / "timtrack" / "dataset1")
    res["nerve_vessel"] = nv
    res["muscle"] = mu
    figure({**ex, **ex2}, ROOT / "docs" / "images" / "sim_vs_real.png")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
