"""Safe output: write to a temporary file in the target folder, then rename into place."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator


class OutputExistsError(Exception):
    """The output exists and --force was not given."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(f"{path} exists; use --force to replace it")


@contextlib.contextmanager
def atomic_path(final: Path, *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `final`; rename it into place only on success.

    A failure part-way (exception, KeyboardInterrupt) leaves no partial file behind.
    """
    final = Path(final)
    if final.exists() and not force:
        raise OutputExistsError(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".kpisheet-", suffix=final.suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(final: Path, writer: Callable[[Path], None], *, force: bool = True) -> Path:
    with atomic_path(final, force=force) as tmp:
        writer(tmp)
    return Path(final)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()
