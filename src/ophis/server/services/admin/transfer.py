"""A whole server in one portable file, and back: how an installation moves from SQLite to
PostgreSQL (or from local files to S3) without losing anything.

The export is a tar archive: ``manifest.json`` (format, schema revision, row counts),
``tables/<table>.jsonl`` (every row of every table, parents before children) and, with
``files``, ``files/<storage key>`` for each stored package file. Import writes every row in
one transaction into an empty database of the same schema revision, then stores the files,
then checks the row counts against the manifest: it either completes or leaves the target
database as empty as it found it. Rows, not SQL: the same file loads into either engine.
"""

from __future__ import annotations

import datetime as dt
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Connection, Date, DateTime, Engine, Table, func, select, text
from sqlalchemy.exc import DataError, IntegrityError

from ophis.core.errors import OphisError
from ophis.server.db.engine import schema_status
from ophis.server.db.models import Base, File, Package
from ophis.server.storage.interfaces import Storage

FORMAT = "ophis-server-export"
VERSION = 1
MANIFEST = "manifest.json"
_BATCH = 1000

#: called with (what, done, total) as rows and files move
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TransferSummary:
    schema: str
    rows: dict[str, int]
    files: int
    bytes: int


def export_server(
    engine: Engine,
    storage: Storage,
    url: str,
    target: Path,
    *,
    files: bool,
    progress: Progress | None = None,
) -> TransferSummary:
    """Write the database (and, with ``files``, the stored package files) to ``target``,
    atomically: a reader never finds half an export."""
    status = schema_status(url)
    if status.pending:
        raise OphisError(
            f"The database is at schema {status.current}, not the newest ({status.head}).",
            "Run `ophis server migrate` first, then export.",
        )
    partial = target.with_name(f".{target.name}.partial")
    rows: dict[str, int] = {}
    stored = size = 0
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(partial, "w") as archive:
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                dump = Path(scratch) / f"{table.name}.jsonl"
                rows[str(table.name)] = _dump_table(connection, table, dump)
                archive.add(dump, f"tables/{table.name}.jsonl")
                _report(progress, "rows", sum(rows.values()), 0)
            keys = _storage_keys(connection) if files else []
        for done, key in enumerate(keys, 1):
            size += _add_blob(archive, storage, key)
            stored = done
            _report(progress, "files", done, len(keys))
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "schema": status.head,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "tables": rows,
            "files": stored,
        }
        _add_bytes(archive, MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    partial.replace(target)
    return TransferSummary(status.head, rows, stored, size)


def import_server(
    engine: Engine,
    storage: Storage,
    url: str,
    source: Path,
    *,
    progress: Progress | None = None,
) -> TransferSummary:
    """Load an export into the empty database at ``url`` (already migrated) and ``storage``."""
    with _open_export(source) as archive:
        manifest = _manifest(archive, source)
        status = schema_status(url)
        if manifest["schema"] != status.head or status.pending:
            raise OphisError(
                f"{source} holds schema {manifest['schema']}; this database is at "
                f"{status.current} (this Ophis's newest: {status.head}).",
                "Export with the same Ophis version as imports it, after "
                "`ophis server migrate` on both.",
            )
        stored, size = _load_files(archive, storage, progress)
        try:
            with engine.begin() as connection:
                _check_empty(connection)
                rows = _load_tables(connection, archive, manifest["tables"], source, progress)
                _reset_sequences(connection)
        except (IntegrityError, DataError) as error:
            raise _damaged(source, str(error.orig).splitlines()[0]) from error
    return TransferSummary(manifest["schema"], rows, stored, size)


# --- export --------------------------------------------------------------------------------


def _dump_table(connection: Connection, table: Table, path: Path) -> int:
    count = 0
    order = list(table.primary_key.columns) or list(table.columns)
    with path.open("wb") as out:
        result = connection.execution_options(yield_per=_BATCH).execute(
            select(table).order_by(*order)
        )
        for row in result.mappings():
            out.write(orjson.dumps(dict(row)) + b"\n")
            count += 1
    return count


def _storage_keys(connection: Connection) -> list[str]:
    """Every stored object a row refers to: package files and package icons."""
    files = select(File.storage_key)
    icons = select(Package.icon_key).where(Package.icon_key.is_not(None))
    return sorted(set(connection.scalars(files.union(icons))))


def _add_blob(archive: tarfile.TarFile, storage: Storage, key: str) -> int:
    local = storage.local_path(key)
    if local is not None:
        archive.add(local, f"files/{key}")
        return local.stat().st_size
    with tempfile.NamedTemporaryFile() as copy:
        for chunk in storage.iter_bytes(key):
            copy.write(chunk)
        copy.flush()
        archive.add(copy.name, f"files/{key}")
        return Path(copy.name).stat().st_size


def _add_bytes(archive: tarfile.TarFile, name: str, body: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    with tempfile.TemporaryFile() as handle:
        handle.write(body)
        handle.seek(0)
        archive.addfile(info, handle)


def _report(progress: Progress | None, what: str, done: int, total: int) -> None:
    if progress is not None:
        progress(what, done, total)


# --- import --------------------------------------------------------------------------------


class _Export:
    def __init__(self, archive: tarfile.TarFile) -> None:
        self.archive = archive

    def open(self, name: str) -> IO[bytes]:
        try:
            member = self.archive.getmember(name)
        except KeyError as error:
            raise OphisError(
                f"The export has no {name}.", "Use a complete `ophis server export` file."
            ) from error
        if not member.isfile():
            raise OphisError(f"{name} in the export is not a file.", "Export again.")
        handle = self.archive.extractfile(member)
        assert handle is not None
        return handle

    def blobs(self) -> Iterator[tuple[str, tarfile.TarInfo]]:
        for member in self.archive:
            if member.name.startswith("files/"):
                if not member.isfile():
                    raise OphisError(
                        f"{member.name} in the export is not a regular file.",
                        "Use a file written by `ophis server export`.",
                    )
                yield member.name.removeprefix("files/"), member


@contextmanager
def _open_export(source: Path) -> Iterator[_Export]:
    try:
        archive = tarfile.open(source, "r:")  # noqa: SIM115 -- closed by the with below
    except (OSError, tarfile.TarError) as error:
        raise OphisError(
            f"{source} is not an Ophis server export ({error}).",
            "Give the file `ophis server export` wrote.",
        ) from error
    with archive:
        yield _Export(archive)


def _manifest(archive: _Export, source: Path) -> dict[str, Any]:
    try:
        manifest = orjson.loads(archive.open(MANIFEST).read())
    except orjson.JSONDecodeError as error:
        raise OphisError(f"{source}'s manifest is not JSON.", "Export again.") from error
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise OphisError(
            f"{source} is not a version-{VERSION} Ophis server export.",
            "Give the file `ophis server export` wrote.",
        )
    return manifest


def _check_empty(connection: Connection) -> None:
    for table in Base.metadata.sorted_tables:
        if connection.scalar(select(func.count()).select_from(table)):
            raise OphisError(
                f"The target database is not empty (its table {table.name} has rows).",
                "Import into a new database: create it, then run `ophis server import` "
                "before the first `ophis server start`.",
            )


def _load_table(
    connection: Connection, table: Table, archive: _Export, progress: Progress | None
) -> int:
    convert = _converters(table)
    count, batch = 0, []
    for line in archive.open(f"tables/{table.name}.jsonl"):
        row = orjson.loads(line)
        for name, parse in convert.items():
            if row.get(name) is not None:
                row[name] = parse(row[name])
        batch.append(row)
        if len(batch) >= _BATCH:
            count += _insert(connection, table, batch)
            _report(progress, "rows", count, 0)
    return count + _insert(connection, table, batch)


def _insert(connection: Connection, table: Table, batch: list[dict[str, Any]]) -> int:
    if batch:
        connection.execute(table.insert(), batch)
    done = len(batch)
    batch.clear()
    return done


def _converters(table: Table) -> dict[str, Callable[[str], Any]]:
    """JSON has no dates: the columns whose strings become datetimes or dates again."""
    converters: dict[str, Callable[[str], Any]] = {}
    for column in table.columns:
        if isinstance(column.type, Date):
            converters[column.name] = dt.date.fromisoformat
        elif isinstance(column.type, DateTime) or "DateTime" in type(column.type).__name__:
            converters[column.name] = dt.datetime.fromisoformat
    return converters


def _load_tables(
    connection: Connection,
    archive: _Export,
    expected: dict[str, int],
    source: Path,
    progress: Progress | None,
) -> dict[str, int]:
    rows = {}
    for table in Base.metadata.sorted_tables:
        name = str(table.name)
        rows[name] = _load_table(connection, table, archive, progress)
        if rows[name] != expected.get(name, 0):
            raise _damaged(
                source, f"{name} has {rows[name]} rows, its manifest {expected.get(name)}"
            )
    return rows


def _damaged(source: Path, detail: str) -> OphisError:
    return OphisError(f"{source} is damaged ({detail}).", "Export again; nothing was imported.")


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL's id sequences start over the imported ids (SQLite needs nothing)."""
    if connection.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        column = table.columns.get("id")
        if column is None or not column.primary_key or column.type.python_type is not int:
            continue
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )


def _load_files(archive: _Export, storage: Storage, progress: Progress | None) -> tuple[int, int]:
    """Files go first: a package row never points at a file that is not stored yet."""
    count = size = 0
    for key, member in archive.blobs():
        handle = archive.archive.extractfile(member)
        assert handle is not None
        with tempfile.NamedTemporaryFile(dir=storage.temp_dir(), delete=False) as copy:
            while chunk := handle.read(1024 * 1024):
                copy.write(chunk)
        try:
            storage.put_file(key, Path(copy.name))
        finally:
            Path(copy.name).unlink(missing_ok=True)
        count, size = count + 1, size + member.size
        _report(progress, "files", count, 0)
    return count, size
