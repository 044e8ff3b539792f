"""Files that readers in other processes may open at any moment: written whole or not at all."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write `content` to a partial file beside `path`, then rename it over `path`: a reader,
    in this process or another, sees the old file or the new one, never half of one. The
    partial is removed when the write fails; the error is the caller's to handle."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        if isinstance(content, bytes):
            partial.write_bytes(content)
        else:
            partial.write_text(content)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
