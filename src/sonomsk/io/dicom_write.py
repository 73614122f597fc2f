"""Write an :class:`UltrasoundImage` as an ultrasound DICOM object with its calibration.

Single frames become US Image Storage, cines US Multi-frame Image Storage. The Sequence of
Ultrasound Regions carries every region with its kind and spacing, so the file reads back
calibrated through :func:`sonomsk.read`. Output is uncompressed explicit VR little endian.
Strict when writing: an image whose regions do not fit its pixels is refused.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk import __version__
from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.image import Region, RegionKind, UltrasoundImage
from sonomsk.core.units import Unit
from sonomsk.io.atomic import replace_atomically

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"

#: DICOM Region Data Type (0018,6014) per region kind.
_DATA_TYPE = {
    RegionKind.TISSUE: 0x0001,
    RegionKind.COLOR_DOPPLER: 0x0002,
    RegionKind.POWER_DOPPLER: 0x0002,
    RegionKind.SPECTRAL_DOPPLER: 0x0003,
    RegionKind.M_MODE: 0x0001,
    RegionKind.OTHER: 0x0000,
}
#: DICOM Region Spatial Format (0018,6012) per region kind.
_SPATIAL_FORMAT = {
    RegionKind.TISSUE: 0x0001,
    RegionKind.COLOR_DOPPLER: 0x0001,
    RegionKind.POWER_DOPPLER: 0x0001,
    RegionKind.SPECTRAL_DOPPLER: 0x0003,
    RegionKind.M_MODE: 0x0002,
    RegionKind.OTHER: 0x0000,
}
#: DICOM Physical Units codes (0018,6024): sonomsk unit -> (code, divisor from sonomsk's unit).
_UNITS = {
    Unit.MM.value: (0x0003, 10.0),  # mm -> cm
    Unit.S.value: (0x0004, 1.0),
    Unit.CM_PER_S.value: (0x0007, 1.0),
    Unit.HZ.value: (0x0005, 1.0),
    Unit.DB.value: (0x0002, 1.0),
    Unit.PERCENT.value: (0x0001, 1.0),
}


def _region_item(region: Region) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RegionSpatialFormat = _SPATIAL_FORMAT[region.kind]
    item.RegionDataType = _DATA_TYPE[region.kind]
    item.RegionFlags = 0
    r0, c0, r1, c1 = region.box
    item.RegionLocationMinX0 = int(c0)
    item.RegionLocationMinY0 = int(r0)
    item.RegionLocationMaxX1 = int(c1 - 1)
    item.RegionLocationMaxY1 = int(r1 - 1)
    for axis, (units_kw, delta_kw) in (
        (region.col_axis, ("PhysicalUnitsXDirection", "PhysicalDeltaX")),
        (region.row_axis, ("PhysicalUnitsYDirection", "PhysicalDeltaY")),
    ):
        code, divisor = _UNITS.get(axis.unit, (0x0000, 1.0))
        setattr(item, units_kw, code)
        setattr(item, delta_kw, float(axis.delta) / divisor if axis.delta is not None else 0.0)
    item.ReferencePixelX0 = int(c0)
    item.ReferencePixelY0 = int(r0)
    item.ReferencePixelPhysicalValueX = 0.0
    item.ReferencePixelPhysicalValueY = 0.0
    return item


def build_dataset(image: UltrasoundImage, **meta: Any) -> Any:
    """The pydicom Dataset for ``image``; ``meta`` may set any DICOM keyword (PatientName, ...)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

    array = image.array
    if array.dtype != np.uint8:
        if array.dtype.kind == "f" or array.max(initial=0) > 255 or array.min(initial=0) < 0:
            raise InvalidParameterError(
                f"image: expected uint8 pixel values 0..255 for ultrasound DICOM, got {array.dtype}"
            )
        array = array.astype(np.uint8)
    for region in image.regions:
        r0, c0, r1, c1 = region.box
        if not (0 <= r0 < r1 <= image.rows and 0 <= c0 < c1 <= image.columns):
            raise InvalidParameterError(
                f"region box {region.box}: does not fit an image of {image.rows} x {image.columns} px"
            )
    multiframe = image.n_frames > 1
    sop_class = UID(US_MULTIFRAME_STORAGE if multiframe else US_IMAGE_STORAGE)
    sop_uid = UID(str(meta.pop("SOPInstanceUID", None) or generate_uid()))

    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = sop_class
    fm.MediaStorageSOPInstanceUID = sop_uid
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    fm.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    fm.ImplementationVersionName = f"SONOMSK_{__version__}"[:16]

    ds = Dataset()
    ds.file_meta = fm
    now = _dt.datetime.now()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = meta.pop("StudyInstanceUID", None) or generate_uid()
    ds.SeriesInstanceUID = meta.pop("SeriesInstanceUID", None) or generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = "US"
    ds.Manufacturer = "sonomsk"
    ds.ManufacturerModelName = "sonomsk"
    ds.SoftwareVersions = __version__
    ds.ReferringPhysicianName = ""
    ds.PatientName = "ANONYMOUS"
    ds.PatientID = "ANONYMOUS"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ImageType = ["DERIVED", "PRIMARY", "", "0001"]
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"

    colour = image.channels >= 3
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
        array = array[..., :3]
    ds.Rows = image.rows
    ds.Columns = image.columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if multiframe:
        ds.NumberOfFrames = image.n_frames
        ds.FrameIncrementPointer = 0x00181063  # Frame Time
        ds.FrameTime = float((image.frame_time_s or 0.04) * 1000.0)
        ds.CineRate = round(1.0 / (image.frame_time_s or 0.04))
    if image.regions:
        ds.SequenceOfUltrasoundRegions = [_region_item(r) for r in image.regions]
    ds.PixelData = np.ascontiguousarray(array if multiframe else array[0]).tobytes()
    for key, value in meta.items():
        setattr(ds, key, value)
    return ds


def write_dicom(image: UltrasoundImage, path: str | os.PathLike[str], **meta: Any) -> Path:
    """Write ``image`` to ``path`` atomically (temporary file, then rename) and return the path.

    Parameters
    ----------
    image
        8-bit grey or RGB image or cine; its regions become the Sequence of Ultrasound Regions.
    path
        Output file; its folder must exist.
    **meta
        DICOM keywords to set (PatientName, PatientID, StudyInstanceUID, SeriesDescription, ...).
    """
    ds = build_dataset(image, **dict(meta))
    return replace_atomically(Path(path), lambda tmp: ds.save_as(tmp, enforce_file_format=True))


def study_meta(study: Mapping[str, Any]) -> dict[str, Any]:
    """DICOM keywords from a plain study dict {patient_name, patient_id, study_uid, ...}."""
    keys = {
        "patient_name": "PatientName",
        "patient_id": "PatientID",
        "patient_sex": "PatientSex",
        "patient_birth_date": "PatientBirthDate",
        "study_uid": "StudyInstanceUID",
        "series_uid": "SeriesInstanceUID",
        "study_description": "StudyDescription",
        "series_description": "SeriesDescription",
        "body_part": "BodyPartExamined",
        "laterality": "Laterality",
    }
    return {keys[k]: v for k, v in study.items() if k in keys and v is not None}
