"""Build the bundled demo study from the simulator (``python -m sonomsk.demo.build``).

The demo is a synthetic nerve study of one fictitious patient with a right carpal tunnel
syndrome pattern: an enlarged right median nerve at the wrist with a normal forearm, normal
left side. Nothing here comes from real patients or from ``../shared/data``. The files are
calibrated ultrasound DICOMs written by :func:`sonomsk.io.dicom_write.write_dicom`; the manifest
records each image's site, side and the simulator's exact truth.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"
MANIFEST = "manifest.json"

PATIENT: dict[str, Any] = {
    "name": "DEMO^Synthetic",
    "id": "DEMO-0001",
    "sex": "F",
    "birth_date": "19720301",
    "age": 54,
    "height_cm": 165,
    "weight_kg": 70,
}
STUDY_UID = "2.25.284867190420093757185426331874110300941"
SERIES_UID = "2.25.284867190420093757185426331874110300942"

#: (file stem, site, side, scene, nerve CSA in mm2, seed)
IMAGES: tuple[tuple[str, str, str, str, float, int], ...] = (
    ("median_wrist_right", "median_wrist", "right", "carpal-tunnel", 14.0, 101),
    ("median_forearm_right", "median_forearm", "right", "nerve", 7.0, 102),
    ("median_upper_arm_right", "median_upper_arm", "right", "nerve", 8.5, 103),
    ("median_wrist_left", "median_wrist", "left", "carpal-tunnel", 9.0, 104),
    ("median_forearm_left", "median_forearm", "left", "nerve", 6.5, 105),
    ("ulnar_elbow_right", "ulnar_elbow", "right", "nerve", 7.5, 106),
)


def build(out_dir: Path = DATA_DIR) -> dict[str, Any]:
    """Render every demo image, write the DICOMs and the manifest; returns the manifest."""
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.simulate.api import simulate_scene

    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (stem, site, side, scene, csa, seed) in enumerate(IMAGES, start=1):
        image, truth = simulate_scene(scene, seed=seed, overrides={"csa_mm2": csa})
        nerve = next(s for s in truth.structures if s.get("label_name") == "nerve")
        write_dicom(
            image,
            out_dir / f"{stem}.dcm",
            PatientName=PATIENT["name"],
            PatientID=PATIENT["id"],
            PatientSex=PATIENT["sex"],
            PatientBirthDate=PATIENT["birth_date"],
            StudyInstanceUID=STUDY_UID,
            SeriesInstanceUID=SERIES_UID,
            SOPInstanceUID=f"{SERIES_UID}.{i}",
            StudyDescription="Nerve ultrasound (synthetic demo)",
            SeriesDescription="Transverse nerve images",
            InstanceNumber=i,
            ImageComments=f"site={site} side={side}",
            Laterality="R" if side == "right" else "L",
        )
        entries.append(
            {
                "file": f"{stem}.dcm",
                "site": site,
                "side": side,
                "scene": scene,
                "seed": seed,
                "truth": {
                    "csa_mm2_requested": csa,
                    "nerve": {k: v for k, v in nerve.items() if isinstance(v, int | float | str)},
                    "spacing_mm": list(truth.spacing_mm),
                },
            }
        )
    manifest = {
        "description": "Synthetic nerve study (simulated with sonomsk.simulate); not a real patient.",
        "patient": PATIENT,
        "study_uid": STUDY_UID,
        "images": entries,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    m = build(args.out)
    print(f"wrote {len(m['images'])} images to {args.out}")


if __name__ == "__main__":
    main()
