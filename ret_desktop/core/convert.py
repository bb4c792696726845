"""Conversion: documents of an intake -> tables in a workbook -> CSV / XLSX files.

One table per group and record path. Each document is converted inside a savepoint, so a
document that fails, for whatever reason, contributes no rows while the others go on; the whole run
is one transaction, so a cancelled run, or one the disk filled up under, leaves no half-written table.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ret_desktop.core.diskspace import DiskFullError, free_bytes, is_disk_full, needed_more
from ret_desktop.core.export import unique_file_stems, write_csv, write_xlsx, write_zip, zip_file_name
from ret_desktop.core.fsutil import atomic_write_json, exported_file_mode, make_export_dir
from ret_desktop.core.importing import Document, IntakeLimits, IntakeReport, take_in
from ret_desktop.core.jobs import failure_trace
from ret_desktop.core.parallel import FlattenPool, FlattenTask, Replay, ScanTask
from ret_desktop.core.profiles import ConversionProfile
from ret_desktop.core.scratch import scratch_folder, sweep_folder
from ret_desktop.core.workbook import TableInfo, TableWriter, Workbook, WorkbookAborted, WorkbookError, WorkbookFull
from ret_desktop.core.xmlflat.detect import (
    ANY_ELEMENT,
    DETECT_BYTES,
    MANY_WIDE_COLUMNS,
    ClarkPath,
    DocumentStructure,
    choose_record_path,
    record_display,
    record_instances,
    repeating_paths,
    resolve_record_path,
    scan_structure,
    wide_columns_estimate,
)
from ret_desktop.core.xmlflat.flatten import FlattenCancelled, flatten_document
from ret_desktop.core.xmlflat.names import XmlDocumentError

MODES = ("wide", "relational")
FORMATS = ("csv", "xlsx")
INTAKE_DISK_FULL = "disk full"  # in IntakeReport.limits_hit when the intake stopped for a full disk

log = logging.getLogger(__name__)


class ConversionCancelled(Exception):
    pass


@dataclass(frozen=True)
class ConvertOptions:
    mode: str = "wide"
    record_path: str | None = None  # one override for every group
    record_paths: dict[str, str] = field(default_factory=dict)  # per group, beats record_path
    group_by: str = "archive"
    detect_bytes: int = DETECT_BYTES
    # Remembered choices per kind of document; record_path / record_paths beat it.
    profile: ConversionProfile | None = None
    # Processes flattening documents side by side (core.parallel); 1: one after another in this one.
    workers: int = 1

    def override_for(self, group: str) -> str | None:
        return self.record_paths.get(group, self.record_path)


@dataclass
class FileOutcome:
    path: str
    group: str | None
    status: str  # ok | failed | skipped
    records: int = 0
    error: str | None = None
    table: str | None = None
    warnings: list[str] = field(default_factory=list)  # converted, but with something to know


@dataclass
class TableOutcome:
    name: str
    group: str
    record_path: str
    rows: int
    columns: list[str]
    parent: str | None = None
    files: list[str] = field(default_factory=list)
    xlsx_cells_cut: int = 0  # values longer than an Excel cell holds, cut in its XLSX file

    @classmethod
    def from_info(cls, info: TableInfo) -> TableOutcome:
        return cls(info.name, info.group, info.record_path, info.rows, info.columns, info.parent)


@dataclass
class ConversionResult:
    tables: list[TableOutcome]
    files: list[FileOutcome]

    @property
    def all_ok(self) -> bool:
        return all(f.status == "ok" for f in self.files)

    def manifest(self) -> dict:
        return {
            "tables": [
                {"name": t.name, "file": t.files[0] if t.files else None, "files": t.files, "group": t.group,
                 "record_path": t.record_path, "parent": t.parent, "rows": t.rows, "columns": t.columns,
                 **({"xlsx_cells_cut": t.xlsx_cells_cut} if any(f.endswith(".xlsx") for f in t.files) else {})}
                for t in self.tables
            ],
            "files": [asdict(f) for f in self.files],
        }


@dataclass
class _Plan:
    document: Document
    group: str
    structure: DocumentStructure
    record: ClarkPath | None = None
    record_display: str = ""
    table: str = ""
    mode: str = "wide"


def convert_documents(
    report: IntakeReport,
    workbook: Workbook,
    options: ConvertOptions = ConvertOptions(),
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int, str], None] = lambda done, total, current: None,
) -> ConversionResult:
    """Convert every document of ``report`` into tables of ``workbook``; tables of the same names
    from an earlier run are replaced. ``on_progress(done_bytes, total_bytes, current_document)``.

    Whatever one document raises, it is failed with the reason and the others go on. Raises
    ConversionCancelled, DiskFullError, or WorkbookAborted (the workbook cannot be written); the
    workbook is then as it was. With ``options.workers`` above 1 and more than one document, worker
    processes scan and flatten the documents (core.parallel) and this thread writes their rows:
    the same tables, byte for byte; progress then moves document by document."""
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    workers = min(options.workers, len(report.documents))
    if workers <= 1:
        return _convert(report, workbook, options, None, should_cancel, on_progress)
    try:
        with FlattenPool(workers) as pool:
            return _convert(report, workbook, options, pool, should_cancel, on_progress)
    except FlattenCancelled:  # while scanning
        raise ConversionCancelled() from None


def _convert(report: IntakeReport, workbook: Workbook, options: ConvertOptions, pool: FlattenPool | None,
             should_cancel: Callable[[], bool], on_progress: Callable[[int, int, str], None]) -> ConversionResult:
    """convert_documents, in this process alone (``pool`` None) or with the pool's workers."""
    outcomes: list[FileOutcome] = []
    plans: list[_Plan] = []
    scans = _scans(report.documents, options, pool, should_cancel)
    for (structure, failure), document in zip(scans, report.documents):  # read to its end: the pool's next run
        if structure is None:
            outcomes.append(FileOutcome(document_label(document), document.group, "failed", error=failure))
            continue
        group = structure.root_name.split(":")[-1].upper() if options.group_by == "type" else printable(document.group)
        plans.append(_Plan(document, group, structure))

    by_group: dict[str, list[_Plan]] = {}
    for plan in plans:
        by_group.setdefault(plan.group, []).append(plan)
    ready: list[_Plan] = []
    for group, members in sorted(by_group.items()):
        ready += _choose_records(group, members, options.override_for(group), outcomes, options)
    child_tables = _child_tables([plan for plan in ready if plan.mode == "relational"], {plan.table for plan in ready})

    total = sum(plan.document.size for plan in ready) or 1
    done = 0
    table_meta = {plan.table: (plan.group, plan.record_display, None) for plan in ready}
    for parent, children in child_tables.items():
        for child_name, display in children.values():
            table_meta[child_name] = (table_meta[parent][0], display, parent)
    sink = _WorkbookSink(workbook, table_meta)

    def advance(n: int, label: str) -> None:
        nonlocal done
        done += n
        on_progress(done, total, label)

    workbook.empty_log()
    room = workbook.room_bytes()
    try:
        with workbook.transaction():
            for name in table_meta:
                workbook.drop_table(name)
            child_names = {table: {clark: name for clark, (name, _d) in entries.items()}
                           for table, entries in child_tables.items()}
            if pool is not None:
                _write_in_parallel(ready, child_names, workbook, sink, pool, should_cancel, advance, outcomes)
            else:
                _write_in_process(ready, child_names, workbook, sink, should_cancel, advance, outcomes)
    except FlattenCancelled:
        raise ConversionCancelled() from None
    except WorkbookFull as error:
        # SQLite writes late (its page cache), so the share done overstates the progress; the tables
        # rarely take more than the XML they come from
        needed = max(needed_more(room, done, total), total - room)
        raise DiskFullError("the conversion", needed) from error

    order = {document_label(d): i for i, d in enumerate(report.documents)}
    for outcome in outcomes:
        outcome.path = printable(outcome.path)
        outcome.group = outcome.group and printable(outcome.group)
    outcomes.sort(key=lambda o: order.get(o.path, len(order)))
    tables = []
    for name in table_meta:
        try:
            info = workbook.info(name)
        except WorkbookError:
            continue  # never created: all its documents failed
        if info.rows == 0:
            workbook.drop_table(name)
            continue
        tables.append(TableOutcome.from_info(info))
    return ConversionResult(tables, outcomes)


def document_label(document: Document) -> str:
    """The document's name as shown and stored (``_file``): its archive chain and path, with bytes
    that are not UTF-8 (a file name from a foreign system) written as ``\\xNN``."""
    return printable(document.display)


def printable(text: str) -> str:
    """``text`` with what cannot be written as UTF-8 (undecodable bytes of a file name, kept by
    Python as lone surrogates) written as backslash escapes."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def failure_reason(error: BaseException) -> str:
    """Why a document could not be converted, as one line for the person (no traceback); a parse
    error says where (line, column)."""
    if isinstance(error, (XmlDocumentError, WorkbookError)):
        return printable(str(error))
    if isinstance(error, OSError):
        return f"cannot read: {error.strerror or error}"
    log.warning("a document failed: %s", failure_trace(error))  # types and code locations: no data of the document
    if isinstance(error, RecursionError):
        return "nested too deeply to convert"
    if isinstance(error, MemoryError):
        return "too large to convert in the memory available"
    line = getattr(error, "lineno", None) or (getattr(error, "position", None) or (None,))[0]
    where = f"line {line}: " if isinstance(line, int) else ""
    return printable(f"{where}could not be converted ({type(error).__name__}: {error})")


def _choose_records(group: str, members: list[_Plan], override: str | None,
                    outcomes: list[FileOutcome], options: ConvertOptions) -> list[_Plan]:
    """Fix each document's record path, mode and table name; documents without the path asked
    for (by ``override`` or by the profile's choice for their kind) fail."""
    profile = options.profile or ConversionProfile()
    choices = [profile.choice_for(m.structure.root[0]) for m in members]
    undecided = [m.structure for m, choice in zip(members, choices) if not (choice and choice.record_path)]
    chosen = None if override else choose_record_path(undecided)
    ready = []
    for member, choice in zip(members, choices):
        structure = member.structure
        member.mode = (choice.mode if choice else None) or options.mode
        asked = override or (choice.record_path if choice else None)
        if asked:
            source = "" if override else " (from the profile)"
            try:
                record = resolve_record_path(asked, structure)
            except Exception as error:  # a path refused as such, or any fault of this document's
                outcomes.append(FileOutcome(member.document.display, group, "failed",
                                            error=failure_reason(error) + source))
                continue
            if record is None:
                outcomes.append(FileOutcome(member.document.display, group, "failed",
                                            error=f"record path {asked}{source} not found in this document"))
                continue
        elif chosen is not None and record_instances(structure, chosen):
            record = chosen
        else:
            record = choose_record_path([structure])  # this document lacks the group's record
        member.record = record
        member.record_display = record_display(structure, record) if record else "/" + structure.root_name
        ready.append(member)
    displays = sorted({m.record_display for m in ready})
    for member in ready:
        if len(displays) == 1:
            member.table = group
        else:
            last = member.record_display.rsplit("/", 1)[-1]
            member.table = f"{group}.{last if last != ANY_ELEMENT else 'record'}"
    names_in_use: dict[str, str] = {}
    for member in ready:  # two record paths ending in the same name: number the later one
        key = member.table
        if names_in_use.setdefault(key, member.record_display) != member.record_display:
            member.table = f"{key}.{displays.index(member.record_display) + 1}"
    return ready


def _child_tables(plans: list[_Plan], taken: set[str]) -> dict[str, dict[ClarkPath, tuple[str, str]]]:
    """Relational mode: for each main table, its repeating paths (tags below the record element)
    -> (child table, display path). Only the outermost repeats get tables; repeats inside them stay
    numbered columns. Table names are unique among themselves and the ``taken`` ones: a later path
    that would share a name is numbered."""
    result: dict[str, dict[ClarkPath, tuple[str, str]]] = {}
    by_table: dict[str, list[_Plan]] = {}
    for plan in plans:
        by_table.setdefault(plan.table, []).append(plan)
    taken = set(taken)
    for table, members in by_table.items():
        record = members[0].record or members[0].structure.root
        found = repeating_paths([m.structure for m in members], record)
        outermost = sorted(p for p in found if not any(p[:length] in found for length in range(1, len(p))))
        entries = {}
        for relative in outermost:
            base = name = f"{table}.{found[relative].replace('/', '.')}"
            number = 1
            while name in taken:
                number += 1
                name = f"{base}~{number}"
            taken.add(name)
            entries[relative] = (name, f"{members[0].record_display}/{found[relative]}")
        if entries:
            result[table] = entries
    return result


class _WorkerFailure(Exception):
    """A worker process could not flatten the document; the message is the reason."""


def _scans(documents: list[Document], options: ConvertOptions, pool: FlattenPool | None,
           should_cancel: Callable[[], bool]) -> Iterator[tuple[DocumentStructure | None, str | None]]:
    """Each document's structure, or None and why it cannot be read, in document order."""
    if pool is None:
        for document in documents:
            if should_cancel():
                raise ConversionCancelled()
            try:
                structure = scan_structure(document.path, options.detect_bytes)
            except Exception as error:  # this document's fault, whatever it is: the others are read
                yield None, failure_reason(error)
                continue
            yield structure, None
        return
    for run in pool.run([ScanTask(str(d.path), options.detect_bytes) for d in documents], should_cancel):
        run.wait()
        yield run.result, run.failure


def _write_in_process(ready: list[_Plan], children: dict[str, dict[ClarkPath, str]], workbook: Workbook,
                      sink: _WorkbookSink, should_cancel: Callable[[], bool], advance: Callable[[int, str], None],
                      outcomes: list[FileOutcome]) -> None:
    """Flatten the documents one after another, each inside its savepoint."""
    for plan in ready:
        label = document_label(plan.document)
        advance(0, label)
        warnings: list[str] = []
        try:
            with workbook.savepoint():
                records = flatten_document(
                    plan.document.path, plan.record, Replay(sink, sink.writer), file_label=label,
                    table=plan.table,
                    child_tables=children.get(plan.table, {}), should_cancel=should_cancel,
                    on_bytes=lambda n, _label=label: advance(n, _label), warnings=warnings,
                )
            outcomes.append(FileOutcome(label, plan.group, "ok", records, table=plan.table, warnings=warnings))
        except (FlattenCancelled, WorkbookAborted):
            raise  # the whole run ends: nothing of it is kept
        except Exception as error:  # this document's fault, whatever it is: its rows are gone
            outcomes.append(FileOutcome(label, plan.group, "failed", error=failure_reason(error),
                                        table=plan.table))


def _write_in_parallel(ready: list[_Plan], children: dict[str, dict[ClarkPath, str]], workbook: Workbook,
                       sink: _WorkbookSink, pool: FlattenPool, should_cancel: Callable[[], bool],
                       advance: Callable[[int, str], None], outcomes: list[FileOutcome]) -> None:
    """Flatten the documents in the pool's processes and write their rows here, in document order
    and each in its savepoint as one process would: the same tables, byte for byte. Progress moves
    document by document."""
    tasks = [FlattenTask(str(plan.document.path), plan.record, document_label(plan.document), plan.table,
                         children.get(plan.table, {})) for plan in ready]
    for run, plan, task in zip(pool.run(tasks, should_cancel), ready, tasks):
        label = task.file_label
        advance(0, label)
        replay = Replay(sink, sink.writer)
        try:
            with workbook.savepoint():
                for batch in run.batches():
                    replay.apply(batch)
                if run.failure is not None:
                    raise _WorkerFailure(run.failure)
            records, warnings = run.result
            outcomes.append(FileOutcome(label, plan.group, "ok", records, table=plan.table, warnings=warnings))
        except (FlattenCancelled, WorkbookAborted):
            raise  # the whole run ends: nothing of it is kept
        except _WorkerFailure as failure:
            outcomes.append(FileOutcome(label, plan.group, "failed", error=str(failure), table=plan.table))
        except Exception as error:  # writing its rows failed (a table too wide): its rows are gone
            run.discard()
            outcomes.append(FileOutcome(label, plan.group, "failed", error=failure_reason(error),
                                        table=plan.table))
        advance(plan.document.size, label)


class _WorkbookSink:
    """The workbook's table writers, for the rows of each document (``Replay``)."""

    def __init__(self, workbook: Workbook, meta: dict[str, tuple[str, str, str | None]]) -> None:
        self.workbook = workbook
        self.meta = meta  # table -> (group, record path, parent table)

    def writer(self, table: str) -> TableWriter:
        return self.workbook.writers.get(table) or self.workbook.writer(table, *self.meta[table])

    def backfill(self, table: str, first: int, last: int, pairs) -> None:
        self.writer(table).backfill(first, last, pairs)


def export_tables(
    workbook: Workbook,
    tables: Iterable[TableOutcome],
    out_dir: Path,
    formats: Iterable[str] = ("csv",),
    bom: bool = False,
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int, str], None] = lambda done, total, current: None,
    csv_raw: bool = False,
) -> list[Path]:
    """Write each table in each format into ``out_dir``; returns the files written and records each
    table's in its ``files`` (and how many values its XLSX file cut in ``xlsx_cells_cut``). File
    names are unique within the export, also where case does not count (``A:B`` and ``A_B`` give
    ``A_B.csv`` and ``A_B (2).csv``). CSV values a spreadsheet
    would run as formulas get a leading ``'`` unless ``csv_raw``."""
    written = []
    tables = list(tables)
    for number, (table, stem) in enumerate(zip(tables, unique_file_stems(t.name for t in tables))):
        on_progress(number, len(tables), table.name)
        columns = workbook.columns(table.name)  # as edited since the conversion
        table.xlsx_cells_cut = 0
        for fmt in formats:
            path = Path(out_dir) / f"{stem}.{fmt}"
            copy = workbook.csv_copy(table.name) if fmt == "csv" else None
            if copy is not None and copy.copyable(len(columns), raw=csv_raw):
                copy.write_csv(path, columns, bom=bom, should_cancel=should_cancel, raw=csv_raw)
            elif fmt == "csv":
                write_csv(path, columns, workbook.iter_batches(table.name), bom=bom, should_cancel=should_cancel,
                          raw=csv_raw)
            else:
                table.xlsx_cells_cut = write_xlsx(path, columns, workbook.iter_batches(table.name), sheet_name=stem,
                                                  should_cancel=should_cancel,
                                                  expected_rows=workbook.info(table.name).rows).cells_cut
            table.files.append(path.name)
            written.append(path)
    return written


def export_zip(
    workbook: Workbook,
    tables: Iterable[TableOutcome],
    zip_path: Path,
    formats: Iterable[str] = ("csv",),
    bom: bool = False,
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int, str], None] = lambda done, total, current: None,
    csv_raw: bool = False,
) -> Path:
    """One ZIP holding every table in every format (named as ``export_tables`` names them);
    nothing else is left beside it."""
    zip_path = Path(zip_path)
    with scratch_folder(make_export_dir(zip_path.parent)) as scratch:
        files = export_tables(workbook, tables, scratch, formats, bom, should_cancel, on_progress, csv_raw)
        write_zip(zip_path, files)
    return zip_path


@dataclass
class ElementPath:
    """One element path of a group's documents, as the record-path chooser shows it."""

    display: str  # "/doi_batch/body/journal", prefixes as written
    count: int  # elements seen (in the part of each document that was read)
    max_siblings: int  # the most under one parent: 2 or more means it repeats
    share: float  # of the group's text and attribute content, 0..1


@dataclass
class GroupStructure:
    group: str
    documents: int
    paths: list[ElementPath]  # in document order, parents before children
    detected: str | None  # the record path conversion would choose; None: each document's own
    failed: dict[str, str] = field(default_factory=dict)  # document -> why it could not be read
    kind: str | None = None  # the documents' root as a Clark name (for ConversionProfile); None: mixed
    wide_columns_estimate: int = 0  # about how many columns a wide row of the detected record has
    warning: str | None = None  # for the convert dialog: the detected record makes very wide rows
    complete: bool = True  # every document was read whole; else counts are from the first detect_bytes


def describe_groups(
    report: IntakeReport,
    groups: Iterable[str] | None = None,
    detect_bytes: int = DETECT_BYTES,
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int, str], None] = lambda done, total, current: None,
) -> dict[str, GroupStructure]:
    """The element paths of each group (all, or ``groups``) with counts and the detected record path,
    from the first ``detect_bytes`` of each document: what a person picks a record path from."""
    wanted = report.groups if groups is None else {g: report.groups[g] for g in groups if g in report.groups}
    total = sum(len(documents) for documents in wanted.values())
    done = 0
    result: dict[str, GroupStructure] = {}
    for group, documents in wanted.items():
        structures: list[DocumentStructure] = []
        failed: dict[str, str] = {}
        for document in documents:
            if should_cancel():
                raise ConversionCancelled()
            on_progress(done, total, document.display)
            done += 1
            try:
                structures.append(scan_structure(document.path, detect_bytes))
            except Exception as error:  # this document's fault, whatever it is: the others are read
                failed[document.display] = failure_reason(error)
        merged: dict[str, ElementPath] = {}  # by path as written: what a person picks and sees
        content_total = sum(s.total_content for s in structures) or 1
        for structure in structures:
            for stats in structure.paths.values():
                path = merged.setdefault(stats.display, ElementPath(stats.display, 0, 0, 0.0))
                path.count += stats.count
                path.max_siblings = max(path.max_siblings, stats.max_siblings)
                path.share += stats.content / content_total
        detected = choose_record_path(structures)
        detected_display = next(
            (record_display(s, detected) for s in structures if detected and record_instances(s, detected)), None)
        estimate = wide_columns_estimate(structures, detected) if structures else 0
        warning = None
        if estimate > MANY_WIDE_COLUMNS:
            warning = (f"each row of {detected_display or 'the whole document'} would have about {estimate:,} "
                       "columns (repeats are numbered): relational mode or a deeper record path reads better")
        kinds = {s.root[0] for s in structures}
        result[group] = GroupStructure(group, len(documents), list(merged.values()), detected_display, failed,
                                       kinds.pop() if len(kinds) == 1 else None, estimate, warning,
                                       complete=all(s.complete for s in structures))
    return result


def convert_to_folder(
    inputs: Iterable[Path],
    out_dir: Path,
    options: ConvertOptions = ConvertOptions(),
    formats: Iterable[str] = ("csv",),
    bom: bool = False,
    zip_name: str | None = None,
    limits: IntakeLimits = IntakeLimits(),
    on_progress: Callable[[int, int, str], None] = lambda done, total, current: None,
    csv_raw: bool = False,
) -> ConversionResult:
    """The whole headless path: intake into a scratch folder, convert, export, ``manifest.json``.

    Everything is made in a scratch folder inside ``out_dir`` and moved into ``out_dir`` only when
    all of it is complete, so a run that fails (DiskFullError, say) leaves ``out_dir`` as it was,
    and removes it if this run created it. Scratch that killed runs left in ``out_dir`` is removed
    first. ``zip_name`` must be a plain file name (``zip_file_name``: ValueError otherwise)."""
    inputs, out_dir, formats = [Path(p) for p in inputs], Path(out_dir), tuple(formats)
    zip_name = None if zip_name is None else zip_file_name(zip_name)
    created = not out_dir.exists()
    make_export_dir(out_dir)
    try:
        sweep_folder(out_dir)
        return _convert_into(inputs, out_dir, options, formats, bom, zip_name, limits, on_progress, csv_raw)
    except BaseException:
        if created:
            try:
                out_dir.rmdir()  # only when empty
            except OSError:
                pass
        raise


def _convert_into(inputs: list[Path], out_dir: Path, options: ConvertOptions, formats: tuple[str, ...], bom: bool,
                  zip_name: str | None, limits: IntakeLimits, on_progress: Callable[[int, int, str], None],
                  csv_raw: bool) -> ConversionResult:
    with scratch_folder(out_dir) as scratch_dir:
        staged = scratch_dir / "out"
        staged.mkdir()
        room = free_bytes(scratch_dir)
        # at least the inputs unpacked, then tables about as large, then those once per format
        unpacking_full = DiskFullError("unpacking the input", sum(map(_size, inputs)) * (2 + len(formats)) - room)
        try:
            report = take_in(inputs, scratch_dir / "extracted", limits=limits, not_inputs=[out_dir],
                             group_by="archive" if options.group_by == "type" else options.group_by)
        except OSError as error:
            if not is_disk_full(error):
                raise
            raise unpacking_full from error
        if INTAKE_DISK_FULL in report.limits_hit:  # the intake stopped there: the tables would lack documents
            raise unpacking_full
        with Workbook(scratch_dir / "workbook.sqlite", scratch=True) as workbook:
            if "csv" in formats:
                workbook.keep_csv_copies(scratch_dir)
            room = workbook.room_bytes()
            try:
                result = convert_documents(report, workbook, options, on_progress=on_progress)
            except DiskFullError as error:  # and then the tables are written out once per format
                raise DiskFullError("the conversion", error.needed_bytes
                                    + (room + error.needed_bytes) * len(formats)) from error
            room = free_bytes(scratch_dir)
            result.files += [FileOutcome(printable(s.display), None, "skipped", error=s.reason)
                             for s in report.skipped]
            try:
                written = export_tables(workbook, result.tables, staged, formats, bom, csv_raw=csv_raw)
                if zip_name:
                    written.append(staged / zip_name)
                    write_zip(written[-1], written[:-1])
                manifest = result.manifest()  # with the files each table went to
                manifest["limits_hit"] = report.limits_hit
                if "csv" in formats:
                    manifest["csv_formulas"] = "raw" if csv_raw else "neutralised"
                atomic_write_json(staged / "manifest.json", manifest, mode=exported_file_mode())
            except OSError as error:
                if not is_disk_full(error):
                    raise
                # the tables take about what they take in the workbook, once per format (and the ZIP)
                expected = _size(workbook.path) * (len(formats) + (1 if zip_name else 0))
                raise DiskFullError("writing the tables", expected - room) from error
        finished = (*written, staged / "manifest.json")
        in_the_way = [out_dir / path.name for path in finished if (out_dir / path.name).is_dir()]
        if in_the_way:  # found before the first rename: out_dir stays as it was
            raise IsADirectoryError(errno.EISDIR, "a folder has the name of an output file", str(in_the_way[0]))
        for path in finished:  # renames within one folder: no new space
            os.replace(path, out_dir / path.name)
    return result


def _size(path: Path) -> int:
    """Bytes of a file, or of every file in a folder."""
    path = Path(path)
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0
