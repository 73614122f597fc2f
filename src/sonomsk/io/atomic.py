"""Replace a file atomically: write a temporary file beside it, then rename it over the target."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


def replace_atomically(out: Path, write: Callable[[str], None], *, keep_mode: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary file in ``out``'s folder, then rename it to ``out``.

    A reader sees the old file or the new one, never a half-written one, and a failed write leaves
    ``out`` as it was. The new file gets the permissions of a newly created file (0o666 less the
    umask), or ``out``'s own permissions when ``keep_mode`` and ``out`` exists. OSError propagates.
    """
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        keep = keep_mode and out.exists()
        os.chmod(tmp, stat.S_IMODE(out.stat().st_mode) if keep else 0o666 & ~_current_umask())
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
