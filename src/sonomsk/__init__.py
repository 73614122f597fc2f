"""sonomsk: quantitative musculoskeletal and neuromuscular ultrasound.

``import sonomsk`` is fast and has no side effects; heavy dependencies load inside the functions
that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sonomsk.core.image import UltrasoundImage

__all__ = ["__version__", "read"]


def read(path: Any, **kwargs: Any) -> UltrasoundImage:
    """Read an ultrasound image or cine, choosing the reader by content. See :func:`sonomsk.io.read`."""
    from sonomsk.io.read import read as _read

    return _read(path, **kwargs)
