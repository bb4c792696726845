"""User operations as small ops over the session's job runner (as Anki's CollectionOp / QueryOp):
each runs core work as a job off the GUI thread, brings the result into the session on the GUI
thread (``apply``) and hands it on by ``succeeded``. An op deletes itself once its job has ended.

    op = ExportOp(controller, folder, formats, tables)
    op.succeeded.connect(...)
    op.run()  # the job id, or None when the rate limit said no
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ret_desktop.core.compare import CompareOptions, CompareSummary, Side, compare, propose_keys, write_reports
from ret_desktop.core.convert import (
    ConversionResult,
    ConvertOptions,
    convert_documents,
    describe_groups,
    export_tables,
    export_zip,
)
from ret_desktop.core.export import safe_file_stem
from ret_desktop.core.importing import IntakeLimits, IntakeReport, sniff_file, take_in
from ret_desktop.core.search import SearchIndex
from ret_desktop.core.text import counted
from ret_desktop.core.workbook import Workbook
from ret_desktop.gui.session import SessionController


class Op(QObject):
    """One operation on the session. Subclasses set ``kind`` and write ``work`` (runs on the job's
    thread: plain data only, no widgets, no session state) and ``apply`` (GUI thread)."""

    succeeded = Signal(object)  # the work's result, after apply()
    ended = Signal(str, str)  # the job's final state and, for a failure, the error text (for the window)
    kind = ""
    counts_as_operation = True  # counts against the rate limit of user operations

    def __init__(self, controller: SessionController) -> None:
        super().__init__(controller)
        self.controller = controller
        self.session = controller.session
        self.job_id: str | None = None
        self._admitted = False

    def work(self, progress, cancelled) -> Any:
        raise NotImplementedError

    def apply(self, result: Any) -> None:
        """Bring ``result`` into the session."""

    def admit(self) -> bool:
        """Whether the op may run now (the rate limit is asked once); an op refused deletes itself."""
        if not self._admitted:
            self._admitted = self.session is not None and (not self.counts_as_operation or self.controller.allowed())
            if not self._admitted:
                self.deleteLater()
        return self._admitted

    def run(self) -> str | None:
        if not self.admit():
            return None
        self.controller.job_finished.connect(self._ended)
        self.controller.session_ended.connect(self.deleteLater)  # a job stopped at sign-out reports nothing
        self.job_id = self.controller.submit(self.kind, self.work, self._succeeded)
        return self.job_id

    def _succeeded(self, result: Any) -> None:
        self.apply(result)
        self.succeeded.emit(result)

    def _ended(self, job_id: str, _state: str, _error: str) -> None:
        if job_id == self.job_id:
            self.controller.job_finished.disconnect(self._ended)
            self.ended.emit(_state, _error)
            self.deleteLater()


class ImportOp(Op):
    kind = "import"

    def __init__(self, controller: SessionController, paths: list[Path]) -> None:
        super().__init__(controller)
        self.paths = list(paths)
        self.limits = IntakeLimits.from_settings(controller.services.settings)

    def work(self, progress, cancelled) -> IntakeReport:
        folder = self.session.folder
        inputs = []
        for path in self.paths:  # loose XML files are copied in, so the session owns what it shows
            try:
                loose_xml = path.is_file() and sniff_file(path) == "xml"  # XML by content, whatever its name
            except OSError:
                loose_xml = False  # take_in says why it cannot be read
            if loose_xml:
                copy = folder / "input" / path.name
                n = 1
                while copy.exists():
                    n += 1
                    copy = folder / "input" / f"{path.stem} ({n}){path.suffix}"
                shutil.copyfile(path, copy)
                inputs.append(copy)
            else:
                inputs.append(path)
        count = 0

        def seen(name):
            nonlocal count
            count += 1
            progress(count, 0, name)

        return take_in(inputs, folder / "extracted", limits=self.limits, should_cancel=cancelled, on_progress=seen)

    def apply(self, report: IntakeReport) -> None:
        self.session.intake.extend(report)
        self.controller.save_intake()
        self.controller.sources_changed.emit()
        self.controller.audit("import", documents=len(report.documents), skipped=len(report.skipped))
        limits = (f" The import stopped at a limit ({', '.join(report.limits_hit)}): what came after is listed "
                  "as not read; raise the limit in Settings to take it in.") if report.limits_hit else ""
        skipped = f"; {counted(len(report.skipped), 'entry', 'entries')} skipped (see Sources)" if report.skipped else ""
        self.controller.refresh_status(f"Imported {counted(len(report.documents), 'document')}{skipped}.{limits}"
                                       + (" Next: Convert (Ctrl+R)." if report.documents and not limits else ""))


class ReadStructureOp(Op):
    """Read the structure of the session's groups, for the convert dialog."""

    kind = "read structure"
    counts_as_operation = False

    def __init__(self, controller: SessionController) -> None:
        super().__init__(controller)
        self.report = IntakeReport(list(self.session.intake.documents))

    def work(self, progress, cancelled):
        return describe_groups(self.report, should_cancel=cancelled, on_progress=progress)


class ConvertOp(Op):
    """Convert the documents of ``groups`` (None: all) into the workbook; the tables of other groups stay."""

    kind = "convert"

    def __init__(self, controller: SessionController, options: ConvertOptions, groups: list[str] | None) -> None:
        super().__init__(controller)
        wanted = None if groups is None else set(groups)
        self.report = IntakeReport([d for d in self.session.intake.documents if wanted is None or d.group in wanted])
        self.options = replace(options, workers=controller.services.settings.convert_workers)

    def work(self, progress, cancelled) -> ConversionResult:
        with Workbook(self.session.workbook_path) as workbook:
            return convert_documents(self.report, workbook, self.options, should_cancel=cancelled,
                                     on_progress=progress)

    def apply(self, result: ConversionResult) -> None:
        session = self.session
        for outcome in result.files:
            if outcome.status == "failed":
                session.failed[outcome.path] = outcome.error
            else:
                session.failed.pop(outcome.path, None)
            if outcome.warnings:
                session.warnings[outcome.path] = list(outcome.warnings)
            else:
                session.warnings.pop(outcome.path, None)
        self.controller.sources_changed.emit()
        self.controller.relist_tables([t.name for t in result.tables])
        converted = sum(1 for f in result.files if f.status == "ok")
        failed = sum(1 for f in result.files if f.status == "failed")
        self.controller.audit("convert", documents=converted, failed=failed, tables=len(result.tables),
                              rows=sum(t.rows for t in result.tables))
        self.controller.refresh_status(
            f"Converted {counted(converted, 'document')} into {counted(len(result.tables), 'table')}"
            + (f"; {counted(failed, 'document')} could not be converted (see Sources)." if failed else "."))


class ExportOp(Op):
    """Export ``tables`` in ``formats`` ("zip": everything in one ZIP) into ``folder``."""

    kind = "export"

    def __init__(self, controller: SessionController, folder: Path, formats: tuple[str, ...],
                 tables: set[str], csv_raw: bool = False) -> None:
        super().__init__(controller)
        self.folder = folder
        self.formats = formats
        self.csv_raw = csv_raw  # CSV values as stored, formulas not neutralised
        self.started_at = time.time()  # edits journaled before this are in the export
        self.chosen = [replace(t, files=[]) for t in self.session.tables if t.name in tables]  # files get recorded
        self.zip_path = folder / f"{safe_file_stem(self.session.user_name)} {time.strftime('%Y-%m-%d %H%M%S')}.zip"

    def work(self, progress, cancelled) -> list[Path]:
        table_formats = [f for f in self.formats if f != "zip"]
        with Workbook(self.session.workbook_path) as workbook:
            if "zip" in self.formats:
                return [export_zip(workbook, self.chosen, self.zip_path, table_formats, should_cancel=cancelled,
                                   on_progress=progress, csv_raw=self.csv_raw)]
            return export_tables(workbook, self.chosen, self.folder, table_formats, should_cancel=cancelled,
                                 on_progress=progress, csv_raw=self.csv_raw)

    def apply(self, written: list[Path]) -> None:
        files = {t.name: t.files for t in self.chosen}  # the names they were written under
        for table in self.session.tables:
            if table.name in files:
                table.files = list(files[table.name])
                self.session.exported_at[table.name] = self.started_at
        tables = len(self.chosen)
        self.controller.audit("export", formats=list(self.formats), files=len(written), tables=tables)
        if tables == len(self.session.tables):
            self.session.unexported = False
            self.session.edited = False
        self.controller.edits_exported.emit(sorted(files))
        cut = sum(t.xlsx_cells_cut for t in self.chosen)
        self.controller.refresh_status(f"Exported {counted(tables, 'table')} to {', '.join(p.name for p in written[:3])}"
                                       f"{'…' if len(written) > 3 else ''} in {self.folder}."
                                       + (f" Values longer than an Excel cell holds cut in XLSX: {cut:,}." if cut else ""))


class IndexOp(Op):
    """Index ``tables`` for search."""

    kind = "index for search"
    counts_as_operation = False

    def __init__(self, controller: SessionController, index_path: Path, tables: list[str]) -> None:
        super().__init__(controller)
        self.index_path = index_path
        self.tables = list(tables)

    def work(self, progress, cancelled):
        with Workbook(self.session.workbook_path) as workbook, SearchIndex(self.index_path) as index:
            return index.index_tables(workbook, self.tables, should_cancel=cancelled, on_progress=progress)


COMPARE_FOLDER = "compare"  # in the session folder: result workbooks, wiped with it at sign-out


class ProposeKeysOp(Op):
    """The columns each pair of tables could be keyed on, for the compare dialog."""

    kind = "propose keys"
    counts_as_operation = False

    def __init__(self, controller: SessionController, old: Side, new: Side, options: CompareOptions) -> None:
        super().__init__(controller)
        self.old, self.new, self.options = old, new, options

    def work(self, progress, cancelled) -> dict[str, list[str]]:
        scratch = self.session.folder / COMPARE_FOLDER
        scratch.mkdir(exist_ok=True)
        return propose_keys(self.old, self.new, scratch, self.options, should_cancel=cancelled, on_progress=progress)


class CompareOp(Op):
    """Compare two sides into a result workbook in the session folder; succeeds with (path, summary)."""

    kind = "compare"

    def __init__(self, controller: SessionController, old: Side, new: Side, options: CompareOptions) -> None:
        super().__init__(controller)
        self.old, self.new, self.options = old, new, options
        self.result_path = (self.session.folder / COMPARE_FOLDER
                            / f"result {time.strftime('%Y%m%d-%H%M%S')}-{id(self) % 10_000:04d}.sqlite")

    def work(self, progress, cancelled) -> tuple[Path, CompareSummary]:
        summary = compare(self.old, self.new, self.result_path, self.options, should_cancel=cancelled,
                          on_progress=progress)
        return self.result_path, summary

    def apply(self, result: tuple[Path, CompareSummary]) -> None:
        summary = result[1]
        differing = [t for t in summary.tables if t.status != "same"]
        differences = sum(t.rows_added + t.rows_removed + t.rows_changed for t in summary.tables)
        self.controller.audit("compare", tables=len(summary.tables), differences=differences)
        self.controller.refresh_status(
            "Compared: no difference." if summary.same else
            f"Compared {counted(len(summary.tables), 'table')}: {len(differing):,} "
            f"{'differs' if len(differing) == 1 else 'differ'}, "
            f"{counted(differences, 'row')} added, removed or changed.")


class CompareReportOp(Op):
    """Write a comparison's reports (``write_reports``) into ``folder``."""

    kind = "compare report"

    def __init__(self, controller: SessionController, result_path: Path, summary: CompareSummary, folder: Path,
                 formats: tuple[str, ...]) -> None:
        super().__init__(controller)
        self.result_path, self.summary, self.folder, self.formats = result_path, summary, folder, formats

    def work(self, progress, cancelled) -> list[Path]:
        return write_reports(self.result_path, self.summary, self.folder, self.formats, should_cancel=cancelled)

    def apply(self, written: list[Path]) -> None:
        # Data leaves the app as by Export: audited as one.
        self.controller.audit("export", formats=list(self.formats), files=len(written),
                              tables=sum(1 for t in self.summary.tables if t.diff_table))
        self.controller.refresh_status(f"Wrote {counted(len(written), 'report file')} to {self.folder}.")
