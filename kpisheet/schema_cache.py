"""fastjsonschema validators compiled once, kept as bytecode in the user's cache folder.

Turning a JSON Schema into a validator means generating Python source for it
(fastjsonschema) and compiling that source: ~100-150 ms per run for the
catalogue, branch-list and submission schemas, most of a `kpisheet validate`'s
start.  The compiled code object is kept in a cache file and loaded by a later
run with marshal in well under a millisecond.

Key: the sha256 of the schema as kpisheet prepared it (references inlined,
patterns rewritten; see schema_check.prepare_schema), the custom format names,
fastjsonschema's version, Python's bytecode magic number and CACHE_FORMAT.  Any
change to a schema, to how it is prepared or to either library makes a new key;
old files are simply no longer read.

Where: $KPISHEET_CACHE_DIR if set (empty or "off": no cache), else
$XDG_CACHE_HOME/kpisheet, else ~/.cache/kpisheet (on Windows
%LOCALAPPDATA%/kpisheet), in its folder `schemas`.  The same in an installed
package and in a fresh clone: the cache is filled by the first run.

A cache never makes a run fail or decide differently:
* a folder that cannot be created or written (read-only, full disk): the
  validator is compiled in memory, as without a cache, and nothing is said;
* a file is written under a temporary name and renamed into place, so two runs
  at once see the whole file or none;
* since its code is executed, a file is used only when it is a regular file
  owned by the user running kpisheet and writable by nobody else (POSIX), in a
  folder of that user's that nobody else may write to; otherwise it is ignored;
* a file that cannot be loaded (truncated, another Python) is ignored and
  rewritten.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import os
import re
import stat
import sys
import tempfile
from functools import partial, update_wrapper
from pathlib import Path
from typing import Any, Callable

import fastjsonschema

CACHE_FORMAT = 1  # bump when what a cache file holds changes
ENV = "KPISHEET_CACHE_DIR"
_ENTRY = re.compile(r"^def (\w+)\(data, custom_formats=", re.MULTILINE)


def cache_dir() -> Path | None:
    """The folder validators are cached in (not created here); None when caching is off."""
    explicit = os.environ.get(ENV)
    if explicit is not None:
        return None if explicit.strip() in ("", "off") else Path(explicit) / "schemas"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    elif os.environ.get("XDG_CACHE_HOME"):
        base = Path(os.environ["XDG_CACHE_HOME"])
    else:
        try:
            base = Path.home() / ".cache"
        except RuntimeError:  # no home folder to be found
            return None
    return base / "kpisheet" / "schemas"


def cache_key(schema: dict[str, Any], formats: dict[str, Callable[[Any], bool]]) -> str:
    text = json.dumps([CACHE_FORMAT, fastjsonschema.VERSION, importlib.util.MAGIC_NUMBER.hex(),
                       sorted(formats), schema], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compiled(schema: dict[str, Any], formats: dict[str, Callable[[Any], bool]]) -> Callable[[Any], Any]:
    """What fastjsonschema.compile(schema, formats=formats) returns, from the cache when it holds it."""
    folder = cache_dir()
    key = cache_key(schema, formats)
    path = folder / f"{key}.bin" if folder is not None else None
    loaded = _load(path, key) if path is not None else None
    if loaded is None:
        source = fastjsonschema.compile_to_code(schema, formats=formats)
        entry = _ENTRY.search(source)
        if entry is None:  # a fastjsonschema that writes its code otherwise: no cache
            return fastjsonschema.compile(schema, formats=formats)
        loaded = (entry.group(1), compile(source, f"<schema {key[:12]}>", "exec"))
        if path is not None:
            _store(path, key, *loaded)
    name, code = loaded
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - code fastjsonschema generated for our own schema (see the docstring)
    func = namespace[name]
    return update_wrapper(partial(func, custom_formats=dict(formats)), func) if formats else func


def _trusted(st: os.stat_result) -> bool:
    """Owned by this user and writable by nobody else (where the platform has owners)."""
    if not hasattr(os, "getuid"):
        return True
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _load(path: Path, key: str) -> tuple[str, Any] | None:
    try:
        if not _trusted(path.parent.stat()):
            return None
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or not _trusted(st):
                return None
            data = f.read()
        held = marshal.loads(data)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if (isinstance(held, tuple) and len(held) == 3 and held[0] == key and isinstance(held[1], str)
            and type(held[2]) is type(_load.__code__)):
        return held[1], held[2]
    return None


def _store(path: Path, key: str, name: str, code: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(marshal.dumps((key, name, code)))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:  # read-only, full, not ours: compiled in memory next time too
        return
