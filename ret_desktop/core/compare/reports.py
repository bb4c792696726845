"""Reports of a comparison, from its result workbook: ``summary.json``, an XLSX workbook, daff's
highlighter CSV per table with a patch CSV, and a self-contained HTML page.

Every report holds the rows that are not the same (the diff table in the window has the others too).
Each file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import html
import os
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ret_desktop.core.compare.engine import STATUS_COLUMNS, CompareSummary, TableDiff
from ret_desktop.core.compare.sides import CompareCancelled
from ret_desktop.core.export import atomic_output, safe_file_stem
from ret_desktop.core.fsutil import atomic_write_json
from ret_desktop.core.xlsx import EXCEL_MAX_COLUMNS, EXCEL_MAX_ROWS, CellStyle, XlsxBook, excel_sheet_name

REPORT_FORMATS = ("xlsx", "csv", "html")
HTML_ROWS_PER_TABLE = 1000  # the page stays light; the XLSX and CSV reports hold every row


@dataclass
class DiffRow:
    status: str
    file: str
    record: str
    values: list[str | None]  # per compared column: the new value (the old one for removed rows and columns)
    changed: dict[int, tuple[str | None, str | None]]  # column index -> (old, new), for changed cells


class DiffReader:
    """Reads a result workbook's diff tables (through a read-only connection of its own): the rows
    that are not the same with their changed cells, for the reports; changed cells by row, and the
    rows that differ, for a view that pages the diff table as a workbook table."""

    def __init__(self, result_path: Path) -> None:
        self._conn = sqlite3.connect(f"file:{result_path}?mode=ro", uri=True, check_same_thread=False)

    def cells_for_rows(self, diff_table: str, row_ids: list[int]) -> dict[int, dict[int, tuple[str | None, str | None]]]:
        """Row id -> {column position in the diff table (as ``Workbook.columns``): (old, new)} for the
        changed cells of these rows (rows without one are left out)."""
        table_id = self._id(diff_table)
        result: dict[int, dict[int, tuple[str | None, str | None]]] = {}
        for start in range(0, len(row_ids), 900):
            chunk = list(row_ids[start:start + 900])
            for row, col, old, new in self._conn.execute(
                    f"SELECT row, col, old, new FROM cmp_cells WHERE tbl = ? AND row IN ({','.join('?' * len(chunk))})",
                    [table_id, *chunk]):
                result.setdefault(row, {})[col] = (old, new)
        return result

    def changed_row_ids(self, diff_table: str) -> list[int]:
        """The ids of the rows that are not the same, in the table's order (for "changed rows only"
        and next / previous change)."""
        return [r for (r,) in self._conn.execute(
            f"SELECT rowid FROM t{self._id(diff_table)} WHERE c1 <> 'same' ORDER BY rowid")]

    def columns(self, diff_table: str) -> list[str]:
        table_id = self._id(diff_table)
        return [r[0] for r in self._conn.execute(
            "SELECT name FROM wb_columns WHERE table_id = ? ORDER BY position", (table_id,))][len(STATUS_COLUMNS):]

    def changed_columns(self, diff_table: str) -> list[int]:
        """The compared columns (indexes as in ``columns``) with at least one changed cell."""
        offset = len(STATUS_COLUMNS)
        return [col - offset for (col,) in self._conn.execute(
            "SELECT DISTINCT col FROM cmp_cells WHERE tbl = ? ORDER BY col", (self._id(diff_table),))]

    def rows(self, diff_table: str) -> Iterator[DiffRow]:
        table_id = self._id(diff_table)
        cells = self._conn.cursor().execute(
            "SELECT row, col, old, new FROM cmp_cells WHERE tbl = ? ORDER BY row, col", (table_id,))
        pending = next(cells, None)
        offset = len(STATUS_COLUMNS)
        for row in self._conn.execute(f"SELECT * FROM t{table_id} WHERE c1 <> 'same' ORDER BY rowid"):
            row_id, status, file, record, *values = row[:-2]
            changed = {}
            while pending is not None and pending[0] <= row_id:
                if pending[0] == row_id:
                    changed[pending[1] - offset] = (pending[2], pending[3])
                pending = next(cells, None)
            yield DiffRow(status, file or "", record or "", values, changed)

    def _id(self, diff_table: str) -> int:
        return self._conn.execute("SELECT id FROM wb_tables WHERE name = ?", (diff_table,)).fetchone()[0]

    def close(self) -> None:
        self._conn.close()


def write_reports(result_path: Path, summary: CompareSummary, out_dir: Path, formats=REPORT_FORMATS,
                  should_cancel: Callable[[], bool] = lambda: False) -> list[Path]:
    """``summary.json`` and the reports of ``formats`` into ``out_dir``, all or none (they are made in a
    scratch folder there and moved in at the end); returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ret-reports-", dir=out_dir) as scratch_name:
        scratch = Path(scratch_name)
        made = []
        with closing(DiffReader(result_path)) as reader:
            diffs = [t for t in summary.tables if t.diff_table]
            if "xlsx" in formats:
                made.append(_xlsx(reader, summary, diffs, scratch / "compare.xlsx", should_cancel))
            if "csv" in formats:
                made += _csv_reports(reader, diffs, scratch, should_cancel)
            if "html" in formats:
                made.append(_html(reader, summary, diffs, scratch / "compare.html", should_cancel))
        atomic_write_json(scratch / "summary.json", summary.as_json(), mode=0o644)
        made.append(scratch / "summary.json")
        if should_cancel():
            raise CompareCancelled()
        written = []
        for path in made:
            os.replace(path, out_dir / path.name)
            written.append(out_dir / path.name)
    return written


def _stems(tables: list[TableDiff]) -> dict[str, str]:
    stems: dict[str, str] = {}
    used: set[str] = set()
    for table in tables:
        stem = base = safe_file_stem(table.name)
        number = 2
        while stem.lower() in used:
            stem, number = f"{base} ({number})", number + 1
        used.add(stem.lower())
        stems[table.name] = stem
    return stems


# ------------------------------------------------------------------------------------- CSV

def _arrow(values: list[str]) -> str:
    """daff's separator of old and new: ``->``, with more dashes while a value holds it."""
    arrow = "->"
    while any(arrow in v for v in values):
        arrow = "-" + arrow
    return arrow


def _csv_reports(reader: DiffReader, tables: list[TableDiff], folder: Path, should_cancel) -> list[Path]:
    """Each table's daff CSV and the patch CSV of them all (one line per changed cell, and per filled
    cell of an added or removed row), written in one pass over each table's rows that differ."""
    stems = _stems(tables)
    made = []
    patch_path = folder / "patch.csv"
    with atomic_output(patch_path) as patch_tmp, open(patch_tmp, "w", encoding="utf-8", newline="") as patch_handle:
        patch = csv.writer(patch_handle, lineterminator="\r\n")
        patch.writerow(["table", "key", "column", "old", "new", "change"])
        for table in tables:
            path = folder / f"{stems[table.name]}.diff.csv"
            with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
                _table_csv(reader, table, csv.writer(handle, lineterminator="\r\n"), patch, should_cancel)
            made.append(path)
    return made + [patch_path]


def _table_csv(reader: DiffReader, table: TableDiff, daff, patch, should_cancel) -> None:
    """One table's rows: into its daff CSV (``daff``) and the patch CSV (``patch``)."""
    columns = reader.columns(table.diff_table)
    if table.columns_added or table.columns_removed:
        daff.writerow(["!"] + ["+++" if c in table.columns_added else "---" if c in table.columns_removed
                               else "" for c in columns])
    daff.writerow(["@@"] + columns)
    name, key_at = table.name, [columns.index(k) for k in table.key]
    for number, row in enumerate(reader.rows(table.diff_table)):
        if number % 10000 == 0 and should_cancel():
            raise CompareCancelled()
        values = ["" if v is None else v for v in row.values]
        key = " | ".join(values[i] for i in key_at) if key_at else f"{row.file}#{row.record}"
        if row.status == "changed":
            pairs = {i: ("" if o is None else o, "" if n is None else n) for i, (o, n) in row.changed.items()}
            patch.writerows([(name, key, columns[i], old, new, "changed") for i, (old, new) in pairs.items()])
            arrow = _arrow([v for pair in pairs.values() for v in pair])
            for i, (old, new) in pairs.items():
                values[i] = f"{old}{arrow}{new}"
            daff.writerow([arrow] + values)
        elif row.status == "added":
            patch.writerows([(name, key, c, "", v, "added") for c, v in zip(columns, values) if v])
            daff.writerow(["+++"] + values)
        elif row.status == "removed":
            patch.writerows([(name, key, c, v, "", "removed") for c, v in zip(columns, values) if v])
            daff.writerow(["---"] + values)
        else:  # a row whose key is repeated or empty on one side: not paired, shown as it is
            daff.writerow([""] + values)


# ------------------------------------------------------------------------------------- XLSX

def _xlsx(reader: DiffReader, summary: CompareSummary, tables: list[TableDiff], path: Path, should_cancel) -> Path:
    used = {"summary"}
    names = [_sheet_name(t.name, used) for t in tables]
    with atomic_output(path) as tmp, XlsxBook(tmp, _STYLES) as book:
        bold = book.style("bold")
        sheet = book.add_sheet("Summary", widths={0: 40, 2: 40})
        sheet.row([(title, bold) for title in ("table", "status", "key", "rows added", "rows removed", "rows changed",
                                              "cells changed", "columns added", "columns removed", "duplicate keys")])
        for t in summary.tables:
            sheet.row([(v, 0) for v in (t.name, t.status, ", ".join(t.key), t.rows_added, t.rows_removed,
                                        t.rows_changed, t.cells_changed, ", ".join(t.columns_added),
                                        ", ".join(t.columns_removed), t.duplicate_keys)])
        sheet.row([])
        sheet.row([(title, bold) for title in ("document", "status", "matched document", "similarity")])
        for d in summary.documents:
            sheet.row([(d.path, 0), (d.status, 0), (d.matched_path, 0), (d.similarity, 0)])
        sheet.close()
        for table, name in zip(tables, names):
            _xlsx_table(book, name, reader, table, should_cancel)
    return path


def _sheet_name(name: str, used: set[str]) -> str:
    candidate, number = excel_sheet_name(name), 2
    while candidate.lower() in used:
        candidate, number = excel_sheet_name(name, f" ({number})"), number + 1
    used.add(candidate.lower())
    return candidate


def _xlsx_table(book: XlsxBook, name: str, reader: DiffReader, table: TableDiff, should_cancel) -> None:
    """The rows that are not the same: changed cells coloured, with the old value in a column
    ``<name> (old)`` beside each column that has a changed cell; added rows green, removed rows red."""
    columns = reader.columns(table.diff_table)
    with_old = set(reader.changed_columns(table.diff_table))
    bold, changed_style, added, removed, old = map(book.style, ("bold", "changed", "added", "removed", "old"))
    header = [("status", bold), ("_file", bold), ("_record", bold)]
    widths = {0: 12, 1: 30}
    for i, column in enumerate(columns):
        widths[len(header)] = 16
        header.append((column, bold))
        if i in with_old:
            widths[len(header)] = 16
            header.append((f"{column} (old)", bold))
    if len(header) > _EXCEL_MAX_COLUMNS:  # the last column a sheet holds says what did not fit
        header[_EXCEL_MAX_COLUMNS - 1:] = [(f"{len(header) - _EXCEL_MAX_COLUMNS + 1:,} more columns: see the CSV "
                                            "reports", bold)]
    differing = table.rows_added + table.rows_removed + table.rows_changed + table.duplicate_keys
    sheet = book.add_sheet(name, widths=widths, frozen=(1, 3), autofilter=len(header),
                           expected_bytes=min(differing, EXCEL_MAX_ROWS) * len(header) * 100)
    sheet.row(header)
    fills = {"added": added, "removed": removed}
    for number, row in enumerate(reader.rows(table.diff_table), start=1):
        if number == EXCEL_MAX_ROWS - 1:  # the sheet's last row says what did not fit
            sheet.row([(f"the first {number - 1:,} of {differing:,} rows that differ; the CSV reports hold them all", 0)])
            break
        if number % 10000 == 0 and should_cancel():
            raise CompareCancelled()
        style = fills.get(row.status, 0)
        cells = [(row.status, style), (row.file, style), (row.record, style)]
        changed = row.changed
        for i, value in enumerate(row.values):
            change = changed.get(i)
            cells.append((value, changed_style if change else style))
            if i in with_old:
                cells.append((change[0], old) if change else (None, style))
        sheet.row(cells[:_EXCEL_MAX_COLUMNS - 1] if len(cells) >= _EXCEL_MAX_COLUMNS else cells)
    sheet.close()


_EXCEL_MAX_COLUMNS = EXCEL_MAX_COLUMNS
_STYLES = {
    "bold": CellStyle(bold=True),  # headers
    "changed": CellStyle(fill="FFE699"),  # yellow
    "added": CellStyle(fill="C6EFCE"),  # green
    "removed": CellStyle(strike=True, fill="FFC7CE"),  # red, struck out
    "old": CellStyle(italic=True, color="595959", fill="F2F2F2"),  # an old value: grey, italic
}


# ------------------------------------------------------------------------------------- HTML

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0 0 2em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}
td.n{text-align:right}
tr.added td{background:#e2f5e6}
tr.removed td{background:#fbe3e5;text-decoration:line-through}
td.changed{background:#fff2c7}
del{color:#a00}
.bar{display:inline-block;height:.9em;margin-right:1px;vertical-align:middle}
.bar.added{background:#3a3}.bar.removed{background:#c33}.bar.changed{background:#e90}
"""


def _html(reader: DiffReader, summary: CompareSummary, tables: list[TableDiff], path: Path, should_cancel) -> Path:
    e = html.escape
    widest = max((t.rows_added + t.rows_removed + t.rows_changed for t in summary.tables), default=0) or 1
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Comparison</title>",
             f"<style>{_STYLE}</style></head><body><h1>Comparison</h1>",
             "<h2>Tables</h2><table><tr><th>table</th><th>status</th><th>key</th><th>rows added</th>"
             "<th>rows removed</th><th>rows changed</th><th>cells changed</th><th>columns added</th>"
             "<th>columns removed</th><th>duplicate keys</th><th>changes</th></tr>"]
    for t in summary.tables:
        bars = "".join(f"<span class='bar {kind}' style='width:{max(1, round(200 * n / widest)) if n else 0}px'"
                       f" title='{kind}: {n:,}'></span>" for kind, n in
                       (("added", t.rows_added), ("removed", t.rows_removed), ("changed", t.rows_changed)))
        parts.append(
            f"<tr><td>{e(t.name)}</td><td>{t.status}</td><td>{e(', '.join(t.key))}</td><td class=n>{t.rows_added:,}</td>"
            f"<td class=n>{t.rows_removed:,}</td><td class=n>{t.rows_changed:,}</td><td class=n>{t.cells_changed:,}</td>"
            f"<td>{e(', '.join(t.columns_added))}</td><td>{e(', '.join(t.columns_removed))}</td>"
            f"<td class=n>{t.duplicate_keys:,}</td><td>{bars}</td></tr>")
    parts.append("</table>")
    if summary.documents:
        counts: dict[str, int] = {}
        for d in summary.documents:
            counts[d.status] = counts.get(d.status, 0) + 1
        parts.append("<h2>Documents</h2><p>" + ", ".join(f"{n:,} {s}" for s, n in sorted(counts.items())) + "</p>")
        parts.append("<table><tr><th>document</th><th>status</th><th>matched document</th><th>similarity</th></tr>")
        for d in summary.documents:
            if d.status != "same":
                parts.append(f"<tr><td>{e(d.path)}</td><td>{d.status}</td><td>{e(d.matched_path or '')}</td>"
                             f"<td class=n>{'' if d.similarity is None else f'{d.similarity:.2f}'}</td></tr>")
        parts.append("</table>")
    for table in tables:
        if table.status == "same":
            continue
        if should_cancel():
            raise CompareCancelled()
        columns = reader.columns(table.diff_table)
        shown = table.rows_added + table.rows_removed + table.rows_changed + table.duplicate_keys
        parts.append(f"<h2>{e(table.name)}</h2>")
        if shown > HTML_ROWS_PER_TABLE:
            parts.append(f"<p>The first {HTML_ROWS_PER_TABLE:,} of {shown:,} rows that differ; the XLSX and CSV "
                         "reports hold them all.</p>")
        parts.append("<table><tr><th>status</th><th>_file</th><th>_record</th>"
                     + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>")
        for number, row in enumerate(reader.rows(table.diff_table)):
            if number >= HTML_ROWS_PER_TABLE:
                break
            cells = []
            for i, value in enumerate(row.values):
                change = row.changed.get(i)
                if change:
                    cells.append(f"<td class=changed><del>{e(change[0] or '')}</del> {e(change[1] or '')}</td>")
                else:
                    cells.append(f"<td>{e(value or '')}</td>")
            parts.append(f"<tr class='{row.status.split()[0]}'><td>{e(row.status)}</td><td>{e(row.file)}</td>"
                         f"<td>{e(row.record)}</td>{''.join(cells)}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    with atomic_output(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return path
