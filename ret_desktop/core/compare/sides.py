"""The two sides of a comparison, each brought into a workbook file the diff can attach.

A side is the tables of a session workbook (read where they are, never written), an input to convert
(ZIP, XML files, folders), or an earlier export (a folder, ZIP or CSV file; ``manifest.json``, when
there, gives each table its group and record path).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from dataclasses import dataclass, field, replace
from itertools import chain, islice
from pathlib import Path, PurePosixPath
from typing import Callable

from ret_desktop.core.convert import ConversionCancelled, ConvertOptions, convert_documents
from ret_desktop.core.importing import IntakeCancelled, IntakeLimits, take_in
from ret_desktop.core.workbook import Workbook

PROVENANCE = ("_file", "_record")
_CSV_BATCH = 20000  # rows between looks at a cancel and the progress, where rows are checked one by one
_ROWS_PER_INSERT = 100  # rows bound to one INSERT of many VALUES, where rows go straight in
_PROGRESS_STEPS = 2_000_000  # SQLite steps between them, where rows go straight in (some 20,000 rows of 20 columns)


class CompareError(Exception):
    """A side cannot be read or the comparison cannot be made; the message is for the user."""


class CompareCancelled(Exception):
    pass


@dataclass(frozen=True)
class Side:
    """One side of a comparison. Make it with ``Side.session``, ``Side.convert``, ``Side.export`` or
    ``Side.from_path`` (which tells an export from an input by its contents)."""

    kind: str  # session | convert | export
    paths: tuple[Path, ...]
    tables: tuple[str, ...] | None = None  # session: only these tables (None: every table)

    @classmethod
    def session(cls, workbook_path: Path, tables: list[str] | None = None) -> Side:
        return cls("session", (Path(workbook_path),), tuple(tables) if tables is not None else None)

    @classmethod
    def convert(cls, inputs: list[Path]) -> Side:
        return cls("convert", tuple(Path(p) for p in inputs))

    @classmethod
    def export(cls, path: Path) -> Side:
        return cls("export", (Path(path),))

    @classmethod
    def from_path(cls, path: Path) -> Side:
        """A workbook file, an export (CSV files and no XML) or an input to convert."""
        path = Path(path)
        if not path.exists():
            raise CompareError(f"no such file or folder: {path}")
        if path.is_file() and path.suffix.lower() in (".sqlite", ".db"):
            return cls.session(path)
        if _names(path) and not any(n.lower().endswith(".xml") for n in _names(path)) and any(
                n.lower().endswith(".csv") for n in _names(path)):
            return cls.export(path)
        return cls.convert([path])

    @property
    def label(self) -> str:
        return ", ".join(p.name or str(p) for p in self.paths)


def _names(path: Path) -> list[str]:
    """The file names a folder, ZIP or single file holds (for telling an export from an input)."""
    if path.is_dir():
        return [p.name for p in path.rglob("*") if p.is_file()]
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                return [n for n in archive.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, OSError) as exc:
            raise CompareError(f"{path.name}: not a readable ZIP archive ({exc})") from None
    return [path.name]


@dataclass
class SideTable:
    name: str
    sql: str  # the table's SQLite name in its workbook (t<id>)
    group: str
    record_path: str
    parent: str | None
    columns: list[str]
    order: str  # the stored row order: "rowid" or "pos, rowid"
    rows: int


@dataclass
class LoadedSide:
    """A side as a workbook file: what the diff attaches."""

    label: str
    path: Path
    tables: list[SideTable]
    warnings: list[str] = field(default_factory=list)


def read_tables(path: Path, only: tuple[str, ...] | None = None) -> list[SideTable]:
    """The tables of a workbook file, read through a read-only connection."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CompareError(f"{path.name}: cannot open the workbook ({exc})") from None
    try:
        rows = conn.execute("SELECT id, name, grp, record_path, parent FROM wb_tables ORDER BY id").fetchall()
        ordered = {r[0] for r in conn.execute("SELECT table_id FROM wb_ordered")}
        tables = []
        for table_id, name, group, record_path, parent in rows:
            if only is not None and name not in only:
                continue
            columns = [r[0] for r in conn.execute(
                "SELECT name FROM wb_columns WHERE table_id = ? ORDER BY position", (table_id,))]
            (count,) = conn.execute(f"SELECT COUNT(*) FROM t{table_id}").fetchone()
            tables.append(SideTable(name, f"t{table_id}", group, record_path, parent, columns,
                                    "pos, rowid" if table_id in ordered else "rowid", count))
    except sqlite3.Error as exc:
        raise CompareError(f"{path.name}: not a RET workbook ({exc})") from None
    finally:
        conn.close()
    if only is not None:
        missing = sorted(set(only) - {t.name for t in tables})
        if missing:
            raise CompareError(f"{path.name}: no table named {', '.join(missing)}")
    return tables


def load_side(
    side: Side,
    scratch: Path,
    convert_options: ConvertOptions,
    limits: IntakeLimits,
    should_cancel: Callable[[], bool],
    on_progress: Callable[[int, int, str], None],
) -> LoadedSide:
    """The side as a workbook file: the session's own, or a new one in ``scratch``."""
    if side.kind == "session":
        path = side.paths[0]
        if not path.is_file():
            raise CompareError(f"no such workbook: {path}")
        return LoadedSide(side.label, path, read_tables(path, side.tables))
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "side.sqlite"
    if side.kind == "convert":
        warnings = _convert(side, scratch, path, convert_options, limits, should_cancel, on_progress)
    elif side.kind == "export":
        warnings = _load_export(side.paths[0], path, should_cancel, on_progress)
    else:
        raise ValueError(f"unknown side kind {side.kind!r}")
    return LoadedSide(side.label, path, read_tables(path), warnings)


def _convert(side: Side, scratch: Path, path: Path, options: ConvertOptions, limits: IntakeLimits,
             should_cancel: Callable[[], bool], on_progress: Callable[[int, int, str], None]) -> list[str]:
    missing = [str(p) for p in side.paths if not p.exists()]
    if missing:
        raise CompareError(f"no such file or folder: {', '.join(missing)}")
    try:
        report = take_in(side.paths, scratch / "extracted", limits=limits,
                         group_by="archive" if options.group_by == "type" else options.group_by,
                         should_cancel=should_cancel)
        with Workbook(path, scratch=True) as workbook:
            result = convert_documents(report, workbook, options, should_cancel=should_cancel,
                                       on_progress=lambda done, total, current: on_progress(
                                           done, total, f"converting {side.label}: {current}"))
    except (IntakeCancelled, ConversionCancelled):
        raise CompareCancelled() from None
    warnings = [f"{side.label}: {f.path}: {f.error}" for f in result.files if f.status != "ok"]
    warnings += [f"{side.label}: {s.display}: {s.reason}" for s in report.skipped]
    if not result.tables:
        raise CompareError(f"{side.label}: no XML document could be converted"
                           + (f" ({warnings[0]})" if warnings else ""))
    return warnings


# ---------------------------------------------------------------------------------------- exports

class _ExportSource:
    """The CSV files and manifest of an export: a folder, a ZIP or one CSV file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._archive = zipfile.ZipFile(path) if path.is_file() and path.suffix.lower() == ".zip" else None

    def names(self) -> list[str]:
        if self._archive is not None:
            return sorted(n for n in self._archive.namelist() if not n.endswith("/"))
        if self.path.is_dir():
            return sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file())
        return [self.path.name]

    def size(self, name: str) -> int:
        if self._archive is not None:
            return self._archive.getinfo(name).file_size
        return self._file(name).stat().st_size

    def open(self, name: str):
        if self._archive is not None:
            return self._archive.open(name)
        return open(self._file(name), "rb")

    def _file(self, name: str) -> Path:
        return self.path / name if self.path.is_dir() else self.path

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()


def _load_export(source_path: Path, path: Path, should_cancel: Callable[[], bool],
                 on_progress: Callable[[int, int, str], None]) -> list[str]:
    try:
        source = _ExportSource(source_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CompareError(f"{source_path.name}: cannot read ({exc})") from None
    try:
        names = source.names()
        meta = _manifest_tables(source, names)
        csv_names = [n for n in names if n.lower().endswith(".csv")]
        if not csv_names:
            raise CompareError(f"{source_path.name}: no CSV file in this export")
        Workbook(path, scratch=True).close()  # the workbook's tables
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=OFF")  # a scratch file, removed when the compare stops: nothing resumes it
        conn.execute("PRAGMA synchronous=OFF")
        total = sum(source.size(n) for n in csv_names) or 1
        done = 0
        try:
            conn.execute("BEGIN")
            for name in csv_names:
                table_name, group, record_path, parent = meta.get(
                    PurePosixPath(name).name, (PurePosixPath(name).stem, "", "", None))
                label = f"reading {source_path.name}: {name}"
                on_progress(done, total, label)
                _load_csv(conn, lambda: source.open(name), table_name, group, record_path, parent, should_cancel,
                          lambda n: on_progress(done + n, total, label))
                done += source.size(name)
            conn.execute("COMMIT")
        finally:
            conn.close()
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, csv.Error) as exc:
        raise CompareError(f"{source_path.name}: cannot read ({exc})") from None
    finally:
        source.close()
    return []


def conversion_options(side: Side, default: ConvertOptions) -> ConvertOptions:
    """The options an earlier export was converted with, as far as its ``manifest.json`` tells (the
    mode, and the record path when it has one main table), over ``default``; so that an input compared
    with it is converted alike."""
    if side.kind != "export":
        return default
    try:
        source = _ExportSource(side.paths[0])
    except (zipfile.BadZipFile, OSError):
        return default  # reading the side will say what is wrong
    try:
        manifest = next((n for n in source.names() if PurePosixPath(n).name == "manifest.json"), None)
        if manifest is None:
            return default
        with source.open(manifest) as handle:
            tables = json.load(handle).get("tables", [])
        record_paths = {t.get("record_path") for t in tables if not t.get("parent")}
        relational = any(t.get("parent") for t in tables)
    except (OSError, ValueError, AttributeError, TypeError):
        return default
    finally:
        source.close()
    return replace(default, mode="relational" if relational else default.mode,
                   record_path=record_paths.pop() if len(record_paths) == 1 else default.record_path)


def _manifest_tables(source: _ExportSource, names: list[str]) -> dict[str, tuple[str, str, str, str | None]]:
    """CSV file name -> (table, group, record path, parent), from ``manifest.json`` if the export has one."""
    manifest = next((n for n in names if PurePosixPath(n).name == "manifest.json"), None)
    if manifest is None:
        return {}
    try:
        with source.open(manifest) as handle:
            data = json.load(handle)
        result = {}
        for table in data.get("tables", []):
            for file in table.get("files") or [table.get("file")]:
                if file and file.lower().endswith(".csv"):
                    result[file] = (table["name"], table.get("group") or "", table.get("record_path") or "",
                                    table.get("parent"))
        return result
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CompareError(f"{source.path.name}: manifest.json cannot be read ({exc})") from None


def _load_csv(conn: sqlite3.Connection, open_file: Callable, name: str, group: str, record_path: str,
              parent: str | None, should_cancel: Callable[[], bool], on_bytes: Callable[[int], None]) -> None:
    """One CSV file (``open_file()`` opens it, in bytes) as a new table. Its rows go to SQLite straight
    from the reader, ``_ROWS_PER_INSERT`` to a statement; a row of another width than the header's
    stops that, and the file is read again with each row checked: short ones padded, long ones refused."""
    with open_file() as handle:
        reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
        header = next(reader, None)
        if header is None:
            return
        if conn.execute("SELECT 1 FROM wb_tables WHERE name = ?", (name,)).fetchone():
            raise CompareError(f"two CSV files of one export are both table {name}")
        sql = create_table(conn, name, group, record_path, parent, header)
        width = len(header)
        if not width:
            return
        insert = f"INSERT INTO {sql} ({', '.join(f'c{i + 1}' for i in range(width))}) VALUES ({', '.join('?' * width)})"

        def progress() -> int:
            """Called by SQLite every so many steps: the bytes read so far, and a cancel (non-zero stops)."""
            on_bytes(handle.tell())
            return 1 if should_cancel() else 0

        per_insert = max(1, min(_ROWS_PER_INSERT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
        insert_many = insert + f", ({', '.join('?' * width)})" * (per_insert - 1)
        conn.set_progress_handler(progress, _PROGRESS_STEPS)
        try:
            while True:
                rows = list(islice(reader, per_insert))
                if len(rows) < per_insert:
                    conn.executemany(insert, rows)
                    return
                if set(map(len, rows)) != {width}:
                    break
                conn.execute(insert_many, list(chain.from_iterable(rows)))
        except sqlite3.ProgrammingError:  # "Incorrect number of bindings supplied": a ragged row at the end
            pass
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise CompareCancelled() from None
            raise
        finally:
            conn.set_progress_handler(None, 0)
    conn.execute(f"DELETE FROM {sql}")
    with open_file() as handle:
        reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
        next(reader)

        def rows():
            for line, row in enumerate(reader, start=2):
                if len(row) != width:
                    if len(row) > width and any(row[width:]):
                        raise CompareError(f"{name}: row {line} has {len(row)} fields, the header {width}")
                    row = (row + [""] * width)[:width]
                if not line % _CSV_BATCH:
                    if should_cancel():
                        raise CompareCancelled()
                    on_bytes(handle.tell())
                yield row

        conn.executemany(insert, rows())


def create_table(conn: sqlite3.Connection, name: str, group: str, record_path: str, parent: str | None,
                 columns: list[str], extra: str = "") -> str:
    """A new table in the workbook layout (``workbook.py``): ``t<id>`` of TEXT columns ``c1...``,
    names in ``wb_columns``; ``extra`` adds columns no view shows. Returns its SQLite name."""
    table_id = conn.execute(
        "INSERT INTO wb_tables (name, grp, record_path, parent, created_at) VALUES (?, ?, ?, ?, 0)",
        (name, group, record_path, parent)).lastrowid
    conn.execute(f"CREATE TABLE t{table_id} (rowid INTEGER PRIMARY KEY"
                 + "".join(f", c{i + 1} TEXT" for i in range(len(columns))) + extra + ")")
    conn.executemany("INSERT INTO wb_columns (table_id, position, name) VALUES (?, ?, ?)",
                     [(table_id, i, c) for i, c in enumerate(columns)])
    return f"t{table_id}"

