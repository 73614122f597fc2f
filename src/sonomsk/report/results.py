"""The study RESULTS: everything a study's analyses produced, as one JSON document.

RESULTS is what ``sonomsk report`` and ``sonomsk export`` read and what the workstation stores.
It is a tree of frozen dataclasses with a lossless JSON round trip
(``StudyResults.from_json(r.to_json()) == r``) and a schema name and version checked on reading.

Parts written by other analyses (the nerve assessment of ``sonomsk nerve assess``, the
differential, muscle and procedure sections) are kept as plain JSON mappings, so that their final
field names need no change here; the report renders what they provide.

Coordinates are pixels in (row, column) order of the referenced image; spacing is (row, column)
in mm or None when the image is not calibrated (then every length/area is in px/px2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from sonomsk.core.errors import CorruptDataError, InvalidParameterError
from sonomsk.core.results import Measurement, _check_json_value

SCHEMA_NAME = "sonomsk.study-results"
SCHEMA_VERSION = 1


class StructureKind(StrEnum):
    """What an outlined structure is."""

    NERVE = "nerve"
    VESSEL = "vessel"
    MUSCLE = "muscle"
    TENDON = "tendon"
    BONE = "bone"
    NEEDLE = "needle"
    INJECTATE = "injectate"
    OTHER = "other"


class SignOffState(StrEnum):
    """Where the report stands: a draft, signed by a person, or amended after signing."""

    DRAFT = "draft"
    SIGNED = "signed"
    AMENDED = "amended"


def _json_mapping(name: str, value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidParameterError(f"{name}: expected a JSON object, got {type(value).__name__}")
    _check_json_value(name, value)
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class Patient:
    """Patient header. ``pseudonymised`` is True when name/id are pseudonyms."""

    name: str | None = None
    id: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    pseudonymised: bool = False


@dataclass(frozen=True)
class Study:
    """Study header (``date`` is ISO 8601, ``YYYY-MM-DD`` or just ``YYYY`` when de-identified)."""

    study_uid: str | None = None
    accession: str | None = None
    date: str | None = None
    description: str | None = None
    institution: str | None = None
    operator: str | None = None
    referring: str | None = None
    indication: str | None = None


@dataclass(frozen=True)
class ImageRef:
    """An image of the study.

    ``spacing_mm`` is (row, column) in mm, or None when uncalibrated (results in px).
    ``frame`` is the 0-based key frame of a cine. ``sop_class_uid`` defaults to US Image Storage.
    """

    id: str
    path: str | None = None
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    rows: int = 0
    cols: int = 0
    spacing_mm: tuple[float, float] | None = None
    frame: int = 0
    n_frames: int = 1
    frame_time_s: float | None = None
    description: str | None = None
    key: bool = True

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "frame", "n_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameterError(f"image {self.id}: {name} must be a whole number, got {value!r}")
        if self.rows <= 0 or self.cols <= 0:
            raise InvalidParameterError(
                f"image {self.id}: rows and cols must be positive pixels, got {self.rows} x {self.cols}"
            )
        if self.spacing_mm is not None:
            sp = tuple(float(v) for v in self.spacing_mm)
            if len(sp) != 2 or min(sp) <= 0:
                raise InvalidParameterError(
                    f"image {self.id}: spacing_mm must be (row, col) > 0 mm, got {self.spacing_mm}"
                )
            object.__setattr__(self, "spacing_mm", sp)
        if not 0 <= self.frame < max(self.n_frames, 1):
            raise InvalidParameterError(
                f"image {self.id}: frame must be 0..{self.n_frames - 1}, got {self.frame}"
            )

    @property
    def calibrated(self) -> bool:
        return self.spacing_mm is not None


@dataclass(frozen=True)
class Structure:
    """An outlined structure on one frame of one image.

    ``contour`` is a closed polygon of (row, col) pixel points (first point not repeated);
    ``mask_path`` a PNG/NPY mask of the image size. ``site``/``side`` locate nerves and muscles.
    """

    id: str
    image: str
    label: str
    kind: StructureKind = StructureKind.OTHER
    frame: int = 0
    contour: tuple[tuple[float, float], ...] | None = None
    mask_path: str | None = None
    site: str | None = None
    side: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StructureKind(self.kind))
        if self.contour is not None:
            pts = tuple((float(p[0]), float(p[1])) for p in self.contour)
            if len(pts) < 3:
                raise InvalidParameterError(
                    f"structure {self.id}: contour needs at least 3 (row, col) points, got {len(pts)}"
                )
            _check_json_value(f"structure {self.id}.contour", pts)
            object.__setattr__(self, "contour", pts)


@dataclass(frozen=True)
class MethodVersion:
    """A method (function, model) that produced part of the results, with its version."""

    name: str
    version: str
    backend: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class SignOff:
    """Who signed the report and when (ISO 8601); a draft has neither."""

    state: SignOffState = SignOffState.DRAFT
    by: str | None = None
    at: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", SignOffState(self.state))
        if self.state is not SignOffState.DRAFT and not (self.by and self.at):
            raise InvalidParameterError(f"signoff: a {self.state.value} report needs 'by' and 'at'")


#: The start of ``signoff.note`` of a report signed without an identified person (a workstation
#: without sign-in records its requests as the user "local"): the SR is then not VERIFIED and
#: names no Verifying Observer (review ws14c F6).
UNIDENTIFIED_SIGNER_NOTE = "signed without an identified user"
#: The names the workstation gives requests without a person behind them: "local" (no sign-in)
#: and "token" (the shared bearer token). They name nobody: a de-identified copy keeps them as
#: they are (a pseudonym would suggest a hidden person; review ws15d N5).
UNIDENTIFIED_LOGINS = frozenset({"local", "token"})

_SECTION_FIELDS = ("nerve_assessment", "differential", "muscle", "procedure")
#: Units that need a pixel spacing (no silent millimetres).
_SPATIAL = frozenset({"mm", "mm2"})


def _check_spatial_unit(index: int, m: Measurement, images: Mapping[str, ImageRef]) -> None:
    """A measurement in mm or mm2 of an image without one spacing must name the spacing it used.

    An image whose calibrated regions differ has no single ``spacing_mm`` and may still hold mm
    measurements, each made in one region: those carry ``provenance.spacing_mm``. Without either,
    the millimetres have no calibration behind them and are refused.
    """
    image = m.context.get("image")
    if m.unit not in _SPATIAL or m.value is None or not isinstance(image, str) or image not in images:
        return
    if images[image].spacing_mm is not None:
        return
    named = m.provenance.get("spacing_mm")
    ok = (
        isinstance(named, (list, tuple))
        and len(named) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in named)
    )
    if not ok:
        raise InvalidParameterError(
            f"measurements[{index}] ({m.name}): in {m.unit} but image {image!r} has no spacing_mm "
            "and the measurement names none in provenance.spacing_mm; an uncalibrated image is "
            "measured in px"
        )


@dataclass(frozen=True)
class StudyResults:
    """Everything one study's analyses produced; see :mod:`sonomsk.report.results`."""

    study: Study = field(default_factory=Study)
    patient: Patient = field(default_factory=Patient)
    images: tuple[ImageRef, ...] = ()
    structures: tuple[Structure, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    nerve_assessment: Mapping[str, Any] | None = None
    differential: Mapping[str, Any] | None = None
    muscle: Mapping[str, Any] | None = None
    procedure: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    methods: tuple[MethodVersion, ...] = ()
    signoff: SignOff = field(default_factory=SignOff)
    created: str | None = None
    software_version: str | None = None

    def __post_init__(self) -> None:
        for name in _SECTION_FIELDS:
            object.__setattr__(self, name, _json_mapping(name, getattr(self, name)))
        object.__setattr__(self, "extra", _json_mapping("extra", self.extra) or {})
        ids = [im.id for im in self.images]
        if len(set(ids)) != len(ids):
            raise InvalidParameterError(f"images: image ids must be unique, got {ids}")
        sids = [s.id for s in self.structures]
        if len(set(sids)) != len(sids):
            raise InvalidParameterError(f"structures: structure ids must be unique, got {sids}")
        for s in self.structures:
            if s.image not in ids:
                raise InvalidParameterError(
                    f"structure {s.id}: image {s.image!r} is not one of the study's images {ids}"
                )
            im = self.images[ids.index(s.image)]
            # an outline lies on its image (pixel centres 0..rows-1, edges half a pixel beyond)
            outside = [
                p
                for p in (s.contour or ())
                if not (-0.5 <= p[0] <= im.rows - 0.5 and -0.5 <= p[1] <= im.cols - 0.5)
            ]
            if outside:
                raise InvalidParameterError(
                    f"structure {s.id}: point {list(outside[0])} lies outside its image "
                    f"({im.rows} x {im.cols} px)"
                )

        by_id = dict(zip(ids, self.images, strict=True))
        for i, m in enumerate(self.measurements):
            _check_spatial_unit(i, m, by_id)

    # -- look-ups ----------------------------------------------------------------------------
    def image(self, image_id: str) -> ImageRef:
        for im in self.images:
            if im.id == image_id:
                return im
        raise InvalidParameterError(f"image: no image with id {image_id!r}")

    def structures_of(self, image_id: str) -> list[Structure]:
        return [s for s in self.structures if s.image == image_id]

    def measurements_of(self, structure: Structure) -> list[Measurement]:
        """Measurements whose context names this structure (or, failing that, its label and image)."""
        out = []
        for m in self.measurements:
            ctx = m.context
            if ctx.get("structure") == structure.id or (
                "structure" not in ctx and m.label == structure.label and ctx.get("image") == structure.image
            ):
                out.append(m)
        return out

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION}
        d["study"] = _plain(self.study)
        d["patient"] = _plain(self.patient)
        d["images"] = [_plain(im) for im in self.images]
        d["structures"] = [_plain(s) for s in self.structures]
        d["measurements"] = [m.to_dict() for m in self.measurements]
        for name in _SECTION_FIELDS:
            d[name] = getattr(self, name)
        d["extra"] = dict(self.extra)
        d["methods"] = [_plain(m) for m in self.methods]
        d["signoff"] = _plain(self.signoff)
        d["created"] = self.created
        d["software_version"] = self.software_version
        return json.loads(json.dumps(d, allow_nan=False))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyResults:
        if not isinstance(data, Mapping):
            raise InvalidParameterError(f"results: expected a JSON object, got {type(data).__name__}")
        if data.get("schema") != SCHEMA_NAME:
            raise InvalidParameterError(f"schema: expected {SCHEMA_NAME!r}, got {data.get('schema')!r}")
        top = {"schema", "schema_version"} | {f.name for f in fields(cls)}
        unknown = sorted(set(data) - top)
        if unknown:  # a misspelt section would be left out of every output without a word
            raise InvalidParameterError(f"results: unknown fields {unknown} (expected some of {sorted(top)})")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise InvalidParameterError(
                f"schema_version: expected {SCHEMA_VERSION}, got {data.get('schema_version')!r}"
            )
        try:
            return cls(
                study=_build(Study, data.get("study") or {}, "study"),
                patient=_build(Patient, data.get("patient") or {}, "patient"),
                images=tuple(
                    _build(ImageRef, im, f"images[{i}]") for i, im in enumerate(data.get("images") or ())
                ),
                structures=tuple(
                    _build(Structure, s, f"structures[{i}]")
                    for i, s in enumerate(data.get("structures") or ())
                ),
                measurements=tuple(_measurement(m, i) for i, m in enumerate(data.get("measurements") or ())),
                nerve_assessment=data.get("nerve_assessment"),
                differential=data.get("differential"),
                muscle=data.get("muscle"),
                procedure=data.get("procedure"),
                extra=data.get("extra") or {},
                methods=tuple(
                    _build(MethodVersion, m, f"methods[{i}]") for i, m in enumerate(data.get("methods") or ())
                ),
                signoff=_build(SignOff, data.get("signoff") or {}, "signoff"),
                created=data.get("created"),
                software_version=data.get("software_version"),
            )
        except ValueError as exc:
            if isinstance(exc, InvalidParameterError):
                raise
            raise InvalidParameterError(f"results: {exc}") from None

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> StudyResults:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorruptDataError(f"results: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data)


def _plain(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, Enum):
            v = v.value
        elif isinstance(v, tuple):
            v = json.loads(json.dumps(v))
        out[f.name] = v
    return out


def _build(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"{where}: expected a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidParameterError(f"{where}: unknown fields {unknown} (expected some of {sorted(known)})")
    d = dict(data)
    if cls is ImageRef and d.get("spacing_mm") is not None:
        d["spacing_mm"] = tuple(d["spacing_mm"])
    if cls is Structure and d.get("contour") is not None:
        d["contour"] = tuple(tuple(p) for p in d["contour"])
    try:
        return cls(**d)
    except TypeError as exc:
        raise InvalidParameterError(f"{where}: {exc}") from None


def _measurement(data: Any, i: int) -> Measurement:
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"measurements[{i}]: expected a JSON object")
    try:
        return Measurement.from_dict(data)
    except KeyError as exc:
        raise InvalidParameterError(f"measurements[{i}]: missing field {exc}") from None
    except TypeError as exc:
        raise InvalidParameterError(f"measurements[{i}]: {exc}") from None


def load_results(path: str | os.PathLike[str]) -> StudyResults:
    """Read a RESULTS JSON file; errors name the file."""
    from sonomsk.io.sniff import check_path

    p = check_path(path)
    try:
        return StudyResults.from_json(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CorruptDataError(f"{p}: not a UTF-8 JSON file") from None
    except (InvalidParameterError, CorruptDataError) as exc:
        raise type(exc)(f"{p}: {exc}") from None


def save_results(results: StudyResults, path: str | os.PathLike[str]) -> Path:
    """Write RESULTS as JSON (UTF-8, indented)."""
    out = Path(path)
    out.write_text(results.to_json() + "\n", encoding="utf-8")
    return out


def measurement_rows(results: StudyResults) -> list[dict[str, Any]]:
    """One flat dict per measurement (for tables): name, value, unit, label, site, side, ..."""
    rows = []
    for m in results.measurements:
        ctx = m.context
        rows.append(
            {
                "name": m.name,
                "value": m.value,
                "unit": m.unit,
                "label": m.label,
                "site": ctx.get("site"),
                "side": ctx.get("side"),
                "image": ctx.get("image"),
                "frame": ctx.get("frame"),
                "structure": ctx.get("structure"),
                "method": m.method.function,
                "method_version": m.method.version,
                "backend": m.method.backend,
                "uncertainty": m.uncertainty,
                "failure": m.failure,
            }
        )
    return rows


def as_results(value: StudyResults | Mapping[str, Any] | str | os.PathLike[str]) -> StudyResults:
    """Accept a StudyResults, its dict form, or a path to its JSON file."""
    if isinstance(value, StudyResults):
        return value
    if isinstance(value, Mapping):
        return StudyResults.from_dict(value)
    if isinstance(value, str | os.PathLike):
        return load_results(value)
    raise InvalidParameterError(f"results: expected StudyResults, dict or path, got {type(value).__name__}")


def dict_rows(value: Any) -> list[dict[str, Any]]:
    """A list of dicts from whatever a producer gave (a list of dicts, a dict of dicts, ...)."""
    if isinstance(value, Mapping):
        if all(isinstance(v, Mapping) for v in value.values()) and value:
            return [{"key": k, **dict(v)} for k, v in value.items()]
        return [dict(value)]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [dict(v) if isinstance(v, Mapping) else {"value": v} for v in value]
    return []


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of RESULTS, from ``data/results.schema.json``."""
    from importlib import resources

    text = resources.files("sonomsk.report").joinpath("data/results.schema.json").read_text("utf-8")
    return dict(json.loads(text))


# -- tolerant readers of assessment rows (field names differ between producers) ---------------
def _first_number(row: Mapping[str, Any], keys: Sequence[str]) -> float | None:
    for k in keys:
        v = row.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def row_csa(row: Mapping[str, Any]) -> float | None:
    """The CSA of an assessment row (``csa``, ``csa_mm2`` or ``value``)."""
    return _first_number(row, ("csa", "csa_mm2", "value"))


def row_limit(row: Mapping[str, Any]) -> float | None:
    """The upper limit of an assessment row: a number ``limit``/``uln``, or ``limit.uln_mm2`` etc."""
    direct = _first_number(row, ("limit", "uln", "uln_mm2", "cutoff"))
    if direct is not None:
        return direct
    nested = row.get("limit")
    if isinstance(nested, Mapping):
        return _first_number(nested, ("uln_mm2", "uln", "value", "limit"))
    return None


def row_nerve_site(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(nerve, site level) of a row: ``nerve`` + ``site``, or a ``<nerve>_<level>`` site name."""
    site = None if row.get("site") is None else str(row["site"])
    if row.get("nerve") is not None:
        return str(row["nerve"]), site
    if site and "_" in site:
        nerve, level = site.split("_", 1)
        return nerve, level
    return None, site


def flatten_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One level of nested objects becomes ``parent.child`` columns (for generic tables)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, Mapping):
            for k2, v2 in v.items():
                out[f"{k}.{k2}"] = v2
        else:
            out[k] = v
    return out
