"""The nerve site vocabulary for assessment (a view of ``sonomsk.reference`` data).

Sites are named ``<nerve>_<level>`` (``median_wrist``, ``ulnar_elbow``, ``c5_root``...); each
belongs to one of four regions (for the Zaidman pattern) and may be an entrapment site.
"""

from __future__ import annotations

from sonomsk.core.errors import InvalidParameterError
from sonomsk.reference.loader import load_data
from sonomsk.reference.nerve_csa import SiteInfo, regions, site_info, site_names

__all__ = [
    "SIDES",
    "SiteInfo",
    "check_side",
    "default_level",
    "entrapment_sites",
    "regions",
    "site_info",
    "site_names",
    "sites_of_nerve",
    "sites_of_region",
]

SIDES = ("left", "right")


def check_side(side: object, *, parameter: str = "side") -> str:
    """``"left"`` or ``"right"`` (case-insensitive, also ``L``/``R``); anything else is an error."""
    if isinstance(side, str):
        s = side.strip().lower()
        s = {"l": "left", "r": "right"}.get(s, s)
        if s in SIDES:
            return s
    raise InvalidParameterError(f"{parameter}: expected 'left' or 'right', got {side!r}")


def sites_of_nerve(nerve: str) -> tuple[str, ...]:
    return tuple(s for s in site_names() if site_info(s).nerve == nerve)


def sites_of_region(region: str) -> tuple[str, ...]:
    return tuple(s for s in site_names() if site_info(s).region == region)


def entrapment_sites() -> tuple[str, ...]:
    return tuple(s for s in site_names() if site_info(s).is_entrapment)


def default_level(site: str) -> str | None:
    """The measurement level assumed for a site when the input does not give one (roots)."""
    site_info(site)
    level = load_data("nerve_sites.json")["sites"][site].get("default_level")
    return None if level is None else str(level)
