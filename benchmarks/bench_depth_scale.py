"""Depth-scale detection on real screen captures and on images without a ruler.

    nice python benchmarks/bench_depth_scale.py [--data ../shared/data] [--no-write]

Detection rate and relative error of px/cm on TimTrack dataset 2 (56 GE Logiq E9 captures, 115.25
px per cm given with the data), false calibrations on usgra-seg and TimTrack dataset 1 (cropped to
the image field, no ruler) and on DL_Track (some screens show a ruler whose ticks carry no numbers
between 0 and the last depth; the rule must decline those), the reasons given for declining, and
the median time per image. Writes the `io` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from sonomsk.io.depth_scale import find_depth_scale

ROOT = Path(__file__).resolve().parents[1]
KNOWN_PX_PER_CM = 115.25
NEGATIVE_SETS = {
    "usgra-seg": "usgra-seg/images/*.png",
    "dltrack apo": "dltrack/apo/images/*.png",
    "dltrack fasc": "dltrack/fasc/images/*.png",
    "timtrack dataset1": "timtrack/dataset1/**/*.png",
}


REASONS: Counter[str] = Counter()


def timed(path: Path) -> tuple[float | None, float]:
    frame = np.asarray(Image.open(path).convert("RGB"))
    t0 = time.perf_counter()
    scale, reason = find_depth_scale(frame)
    dt = time.perf_counter() - t0
    if scale is None:
        REASONS[reason] += 1
    return (None if scale is None else scale.pixels_per_cm), dt


def main() -> None:
    parser = argparse.ArgumentParser()
    default = Path(os.environ.get("SONOMSK_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    positives = sorted((args.data / "timtrack" / "dataset2").rglob("*.png"))
    found, errors, times, values = 0, [], [], []
    for p in positives:
        ppc, dt = timed(p)
        times.append(dt)
        if ppc is not None:
            found += 1
            errors.append(abs(ppc / KNOWN_PX_PER_CM - 1))
            values.append(round(ppc, 2))
    positive_reasons = dict(REASONS)
    REASONS.clear()
    neg_rows = []
    neg_total = neg_hits = 0
    for label, pattern in NEGATIVE_SETS.items():
        paths = sorted(args.data.glob(pattern))
        hits = 0
        for p in paths:
            ppc, dt = timed(p)
            times.append(dt)
            hits += ppc is not None
        neg_rows.append((label, len(paths), hits))
        neg_total += len(paths)
        neg_hits += hits

    med_err = 100 * statistics.median(errors) if errors else float("nan")
    max_err = 100 * max(errors) if errors else float("nan")
    lines = [
        "## Depth-scale detection (`sonomsk.io.depth_scale`)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other engineers' jobs; one run.",
        "Command: `nice python benchmarks/bench_depth_scale.py`",
        "",
        "| what | result |",
        "|---|---|",
        f"| TimTrack dataset 2 (GE Logiq E9 captures, {KNOWN_PX_PER_CM} px/cm known) detected | "
        f"{found} / {len(positives)} |",
        f"| relative error of px/cm, median / max | {med_err:.2f} % / {max_err:.2f} % |",
    ]
    lines += [f"| false calibrations, {label} | {h} / {n} |" for label, n, h in neg_rows]
    lines += [
        f"| false calibrations, all {neg_total} images without a labelled ruler | {neg_hits} / {neg_total} |",
        f"| median time per image (detection only, decoded frame) | {1000 * statistics.median(times):.1f} ms |",
        "",
        f"Detected px/cm on TimTrack dataset 2 (value: images): {dict(Counter(values))}. The error is",
        "the ruler as drawn on screen against the 115.25 px/cm given with the data, not detection noise.",
        "",
        "Reasons given when no ruler was reported (`find_depth_scale`), images without a known ruler:",
        "",
    ]
    lines += [f"- {reason}: {n}" for reason, n in REASONS.most_common()]
    if positive_reasons:
        lines += ["", f"Misses on TimTrack dataset 2: {positive_reasons}"]
    block = "\n".join(lines)
    print(block)
    if not args.no_write:
        doc = ROOT / "docs" / "benchmarks.md"
        text = doc.read_text(encoding="utf-8")
        new = re.sub(
            r"<!-- BEGIN io -->.*?<!-- END io -->",
            lambda _m: f"<!-- BEGIN io -->\n{block}\n<!-- END io -->",
            text,
            flags=re.S,
        )
        doc.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
