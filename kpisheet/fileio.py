"""Safe output: write to a temporary file in the target folder, then rename into place."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


class OutputExistsError(Exception):
    """One or more outputs exist and --force was not given."""

    def __init__(self, *paths: Path):
        self.paths = tuple(Path(p) for p in paths)
        self.path = self.paths[0]
        super().__init__(f"{', '.join(map(str, self.paths))} exists; use --force to replace it")


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
    os.chmod(tmp, new_file_mode())  # mkstemp's 0600 would keep colleagues from opening the output
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def is_disk_full(exc: BaseException) -> bool:
    """True for an OSError saying the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def new_file_mode() -> int:
    """The mode a new file gets here (0666 less the umask), for files made under a temporary name."""
    return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_or_empty(path: Path) -> str:
    """sha256_file, or '' when the file cannot be read (an output or input that has gone)."""
    try:
        return sha256_file(path)
    except OSError:
        return ""
