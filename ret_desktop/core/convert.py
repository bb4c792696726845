"""Conversion: documents of an intake -> tables in a workbook -> CSV / XLSX files.

One table per group and record path. Each document is converted inside a savepoint, so a
malformed one contributes no rows while the others go on; the whole run is one transaction, so a
cancelled or failed run leaves no half-written table.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ret_desktop.core.export import unique_file_stems, write_csv, write_xlsx, write_zip
from ret_desktop.core.fsutil import atomic_write_json, exported_file_mode, make_export_dir
from ret_desktop.core.importing import Document, IntakeLimits, IntakeReport, take_in
from ret_desktop.core.workbook import TableInfo, Workbook, WorkbookError
from ret_desktop.core.xmlflat.detect import (
    DETECT_BYTES,
    ClarkPath,
    DocumentStructure,
    choose_record_path,
    repeating_paths,
    resolve_record_path,
    scan_structure,
)
from ret_desktop.core.xmlflat.flatten import FlattenCancelled, flatten_document
from ret_desktop.core.xmlflat.names import XmlDocumentError

MODES = ("wide", "relational")
FORMATS = ("csv", "xlsx")


class ConversionCancelled(Exception):
    pass


@dataclass(frozen=True)
class ConvertOptions:
    mode: str = "wide"
    record_path: str | None = None  # one override for every group
    record_paths: dict[str, str] = field(default_factory=dict)  # per group, beats record_path
    group_by: str = "archive"
    detect_bytes: int = DETECT_BYTES

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


@dataclass
class TableOutcome:
    name: str
    group: str
    record_path: str
    rows: int
    columns: list[str]
    parent: str | None = None
    files: list[str] = field(default_factory=list)

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
                 "record_path": t.record_path, "parent": t.parent, "rows": t.rows, "columns": t.columns}
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


def convert_documents(
    report: IntakeReport,
    workbook: Workbook,
    options: ConvertOptions = ConvertOptions(),
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int, str], None] = lambda done, total, current: None,
) -> ConversionResult:
    """Convert every document of ``report`` into tables of ``workbook``; tables of the same names
    from an earlier run are replaced. ``on_progress(done_bytes, total_bytes, current_document)``."""
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    outcomes: list[FileOutcome] = []
    plans: list[_Plan] = []
    for document in report.documents:
        if should_cancel():
            raise ConversionCancelled()
        try:
            structure = scan_structure(document.path, options.detect_bytes)
        except XmlDocumentError as error:
            outcomes.append(FileOutcome(document.display, document.group, "failed", error=str(error)))
            continue
        except OSError as error:
            outcomes.append(FileOutcome(document.display, document.group, "failed", error=f"cannot read: {error}"))
            continue
        group = structure.root_name.split(":")[-1].upper() if options.group_by == "type" else document.group
        plans.append(_Plan(document, group, structure))

    by_group: dict[str, list[_Plan]] = {}
    for plan in plans:
        by_group.setdefault(plan.group, []).append(plan)
    ready: list[_Plan] = []
    for group, members in sorted(by_group.items()):
        ready += _choose_records(group, members, options.override_for(group), outcomes)
    child_tables = _child_tables(ready) if options.mode == "relational" else {}

    total = sum(plan.document.size for plan in ready) or 1
    done = 0
    table_meta = {plan.table: (plan.group, plan.record_display, None) for plan in ready}
    for parent, children in child_tables.items():
        for child_name, display in children.values():
            table_meta[child_name] = (table_meta[parent][0], display, parent)
    sink = _WorkbookSink(workbook, table_meta)
    try:
        with workbook.transaction():
            for name in table_meta:
                workbook.drop_table(name)
            for plan in ready:
                label = plan.document.display
                on_progress(done, total, label)

                def progress(n: int, _label=label) -> None:
                    nonlocal done
                    done += n
                    on_progress(done, total, _label)

                try:
                    with workbook.savepoint():
                        records = flatten_document(
                            plan.document.path, plan.record, sink, file_label=label, table=plan.table,
                            child_tables={clark: name for clark, (name, _d) in child_tables.get(plan.table, {}).items()},
                            should_cancel=should_cancel, on_bytes=progress,
                        )
                    outcomes.append(FileOutcome(label, plan.group, "ok", records, table=plan.table))
                except (XmlDocumentError, WorkbookError) as error:
                    outcomes.append(FileOutcome(label, plan.group, "failed", error=str(error), table=plan.table))
                except OSError as error:
                    outcomes.append(FileOutcome(label, plan.group, "failed", error=f"cannot read: {error}"))
    except FlattenCancelled:
        raise ConversionCancelled() from None

    order = {d.display: i for i, d in enumerate(report.documents)}
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


def _choose_records(group: str, members: list[_Plan], override: str | None,
                    outcomes: list[FileOutcome]) -> list[_Plan]:
    """Fix each document's record path and table name; documents without the path fail."""
    chosen = None if override else choose_record_path([m.structure for m in members])
    ready = []
    for member in members:
        structure = member.structure
        if override:
            record = resolve_record_path(override, structure)
            if record is None:
                outcomes.append(FileOutcome(member.document.display, group, "failed",
                                            error=f"record path {override} not found in this document"))
                continue
        elif chosen is not None and chosen in structure.paths:
            record = chosen
        else:
            record = choose_record_path([structure])  # this document lacks the group's record
        member.record = record
        member.record_display = structure.paths[record].display if record else "/" + structure.root_name
        ready.append(member)
    displays = sorted({m.record_display for m in ready})
    for member in ready:
        if len(displays) == 1:
            member.table = group
        else:
            member.table = f"{group}.{member.record_display.rsplit('/', 1)[-1]}"
    names_in_use: dict[str, str] = {}
    for member in ready:  # two record paths ending in the same name: number the later one
        key = member.table
        if names_in_use.setdefault(key, member.record_display) != member.record_display:
            member.table = f"{key}.{displays.index(member.record_display) + 1}"
    return ready


def _child_tables(plans: list[_Plan]) -> dict[str, dict[ClarkPath, tuple[str, str]]]:
    """Relational mode: for each main table, its repeating paths -> (child table, display path).
    Only the outermost repeats get tables; repeats inside them stay numbered columns."""
    result: dict[str, dict[ClarkPath, tuple[str, str]]] = {}
    by_table: dict[str, list[_Plan]] = {}
    for plan in plans:
        by_table.setdefault(plan.table, []).append(plan)
    for table, members in by_table.items():
        record = members[0].record or (members[0].structure.root,)
        found = repeating_paths([m.structure for m in members], record)
        outermost = sorted(p for p in found if not any(q != p and p[: len(q)] == q for q in found))
        displays: dict[ClarkPath, str] = {}
        for member in members:
            for clark in outermost:
                if clark in member.structure.paths:
                    displays.setdefault(clark, member.structure.paths[clark].display)
        entries = {}
        for clark in outermost:
            relative = displays[clark][len(members[0].record_display) + 1:]
            entries[clark] = (f"{table}.{relative.replace('/', '.')}", displays[clark])
        if entries:
            result[table] = entries
    return result


class _WorkbookSink:
    """Rows from the flattener into the workbook's table writers."""

    def __init__(self, workbook: Workbook, meta: dict[str, tuple[str, str, str | None]]) -> None:
        self.workbook = workbook
        self.meta = meta  # table -> (group, record path, parent table)

    def add_row(self, table: str, pairs) -> int:
        writer = self.workbook.writers.get(table) or self.workbook.writer(table, *self.meta[table])
        return writer.add_row(pairs)

    def backfill(self, table: str, first: int, last: int, pairs) -> None:
        self.workbook.writer(table, *self.meta[table]).backfill(first, last, pairs)


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
    table's in its ``files``. File names are unique within the export, also where case does not
    count (``A:B`` and ``A_B`` give ``A_B.csv`` and ``A_B (2).csv``). CSV values a spreadsheet
    would run as formulas get a leading ``'`` unless ``csv_raw``."""
    written = []
    tables = list(tables)
    for number, (table, stem) in enumerate(zip(tables, unique_file_stems(t.name for t in tables))):
        on_progress(number, len(tables), table.name)
        columns = workbook.columns(table.name)  # as edited since the conversion
        for fmt in formats:
            path = Path(out_dir) / f"{stem}.{fmt}"
            copy = workbook.csv_copy(table.name) if fmt == "csv" else None
            if copy is not None and copy.copyable(len(columns), raw=csv_raw):
                copy.write_csv(path, columns, bom=bom, should_cancel=should_cancel)
            elif fmt == "csv":
                write_csv(path, columns, workbook.iter_batches(table.name), bom=bom, should_cancel=should_cancel,
                          raw=csv_raw)
            else:
                write_xlsx(path, columns, workbook.iter_batches(table.name), sheet_name=stem,
                           should_cancel=should_cancel)
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
    with tempfile.TemporaryDirectory(prefix=".ret-export-", dir=make_export_dir(zip_path.parent)) as scratch:
        files = export_tables(workbook, tables, Path(scratch), formats, bom, should_cancel, on_progress, csv_raw)
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
            except XmlDocumentError as error:
                failed[document.display] = str(error)
            except OSError as error:
                failed[document.display] = f"cannot read: {error}"
        merged: dict[str, ElementPath] = {}  # by path as written: what a person picks and sees
        content_total = sum(s.total_content for s in structures) or 1
        for structure in structures:
            for stats in structure.paths.values():
                path = merged.setdefault(stats.display, ElementPath(stats.display, 0, 0, 0.0))
                path.count += stats.count
                path.max_siblings = max(path.max_siblings, stats.max_siblings)
                path.share += stats.content / content_total
        detected = choose_record_path(structures)
        detected_display = next((s.paths[detected].display for s in structures if detected in s.paths), None)
        result[group] = GroupStructure(group, len(documents), list(merged.values()), detected_display, failed,
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
    """The whole headless path: intake into a scratch folder, convert, export, ``manifest.json``."""
    out_dir = Path(out_dir)
    formats = tuple(formats)
    make_export_dir(out_dir)
    with tempfile.TemporaryDirectory(prefix=".ret-work-", dir=out_dir) as scratch:
        scratch_dir = Path(scratch)
        report = take_in(inputs, scratch_dir / "extracted", limits=limits,
                         group_by="archive" if options.group_by == "type" else options.group_by)
        with Workbook(scratch_dir / "workbook.sqlite", scratch=True) as workbook:
            if "csv" in formats:
                workbook.keep_csv_copies(scratch_dir)
            result = convert_documents(report, workbook, options, on_progress=on_progress)
            written = export_tables(workbook, result.tables, out_dir, formats, bom, csv_raw=csv_raw)
        if zip_name:
            write_zip(out_dir / zip_name, written)
    result.files += [FileOutcome(s.display, None, "skipped", error=s.reason) for s in report.skipped]
    manifest = result.manifest()
    manifest["limits_hit"] = report.limits_hit
    if "csv" in formats:
        manifest["csv_formulas"] = "raw" if csv_raw else "neutralised"
    atomic_write_json(out_dir / "manifest.json", manifest, mode=exported_file_mode())
    return result
