"""The compiled-validator cache (kpisheet.schema_cache): same decisions, never a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kpisheet import schema_cache
from kpisheet.schema_check import _is_date, load_schema

FORMATS = {"date": _is_date}
SCHEMA = "hq_settings.schema.json"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(schema_cache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "schemas"


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.bin")) if folder.is_dir() else []


def _decisions(check) -> list[bool]:  # noqa: ANN001
    import fastjsonschema

    out = []
    for data in ({}, {"deadline_day": 10}, {"deadline_day": "x"}, [], None, {"unknown": 1}):
        try:
            check(data)
            out.append(True)
        except fastjsonschema.JsonSchemaException:
            out.append(False)
    return out


def test_the_first_run_stores_the_validator_and_the_next_loads_it(cache: Path) -> None:
    import fastjsonschema

    schema = load_schema(SCHEMA)
    expected = _decisions(fastjsonschema.compile(schema, formats=FORMATS))
    first = schema_cache.compiled(schema, FORMATS)
    stored = _files(cache)
    assert len(stored) == 1 and stored[0].stem == schema_cache.cache_key(schema, FORMATS)
    mtime = stored[0].stat().st_mtime_ns
    second = schema_cache.compiled(schema, FORMATS)
    assert stored[0].stat().st_mtime_ns == mtime  # loaded, not written again
    assert _decisions(first) == _decisions(second) == expected


def test_every_schema_decides_as_fastjsonschema_compiled_in_memory(cache: Path) -> None:
    import fastjsonschema

    from kpisheet.resources import data_dir

    for path in sorted(data_dir("schemas").glob("*.json")):
        schema = load_schema(path.name)
        for check in (schema_cache.compiled(schema, FORMATS), schema_cache.compiled(schema, FORMATS)):
            assert _decisions(check) == _decisions(fastjsonschema.compile(schema, formats=FORMATS)), path.name


def test_a_changed_schema_gets_a_key_of_its_own(cache: Path) -> None:
    schema = load_schema(SCHEMA)
    changed = {**schema, "title": "changed"}
    assert schema_cache.cache_key(schema, FORMATS) != schema_cache.cache_key(changed, FORMATS)


def test_a_broken_cache_file_is_ignored_and_rewritten(cache: Path) -> None:
    schema = load_schema(SCHEMA)
    schema_cache.compiled(schema, FORMATS)
    (stored,) = _files(cache)
    stored.write_bytes(b"\x00 not marshal data")
    check = schema_cache.compiled(schema, FORMATS)
    assert _decisions(check)[0] is not None
    assert stored.read_bytes() != b"\x00 not marshal data"


def test_a_read_only_cache_folder_compiles_in_memory(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*_a: object, **_k: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(schema_cache.tempfile, "mkstemp", read_only)  # as root, chmod would not stop the write
    check = schema_cache.compiled(load_schema(SCHEMA), FORMATS)
    assert _files(cache) == []
    assert _decisions(check)


def test_a_cache_folder_that_cannot_be_made_compiles_in_memory(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(schema_cache.ENV, str(blocker))
    assert _decisions(schema_cache.compiled(load_schema(SCHEMA), FORMATS))


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="no file owners here")
def test_a_file_others_may_write_is_not_executed(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = load_schema(SCHEMA)
    schema_cache.compiled(schema, FORMATS)
    (stored,) = _files(cache)
    stored.chmod(0o666)
    loaded = []
    real = schema_cache.marshal.loads
    monkeypatch.setattr(schema_cache.marshal, "loads", lambda data: loaded.append(1) or real(data))
    assert _decisions(schema_cache.compiled(schema, FORMATS))
    assert loaded == []


def test_off_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("", "off"):
        monkeypatch.setenv(schema_cache.ENV, value)
        assert schema_cache.cache_dir() is None
    monkeypatch.delenv(schema_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert schema_cache.cache_dir() == Path("/somewhere/kpisheet/schemas")
