"""Reports of a comparison, from its result workbook: ``summary.json``, an XLSX workbook, daff's
highlighter CSV per table with a patch CSV, and a self-contained HTML page.

Every report holds the rows that are not the same (the diff table in the window has the others too).
Each file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import html
import os
import re
import sqlite3
import tempfile
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ret_desktop.core.compare.engine import STATUS_COLUMNS, CompareSummary, TableDiff
from ret_desktop.core.compare.sides import CompareCancelled
from ret_desktop.core.export import EXCEL_MAX_CELL, EXCEL_MAX_ROWS, atomic_output, excel_sheet_name, safe_file_stem
from ret_desktop.core.fsutil import atomic_write_json

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
    names = ["Summary"] + [_sheet_name(t.name, used) for t in tables]
    with atomic_output(path) as tmp, _XlsxBook(tmp, names) as book:
        sheet = book.sheet(widths={0: 40, 2: 40})
        sheet.row([(title, _BOLD) for title in ("table", "status", "key", "rows added", "rows removed", "rows changed",
                                               "cells changed", "columns added", "columns removed", "duplicate keys")])
        for t in summary.tables:
            sheet.row([(v, 0) for v in (t.name, t.status, ", ".join(t.key), t.rows_added, t.rows_removed,
                                        t.rows_changed, t.cells_changed, ", ".join(t.columns_added),
                                        ", ".join(t.columns_removed), t.duplicate_keys)])
        sheet.row([])
        sheet.row([(title, _BOLD) for title in ("document", "status", "matched document", "similarity")])
        for d in summary.documents:
            sheet.row([(d.path, 0), (d.status, 0), (d.matched_path, 0), (d.similarity, 0)])
        sheet.close()
        for table in tables:
            _xlsx_table(book, reader, table, should_cancel)
    return path


def _sheet_name(name: str, used: set[str]) -> str:
    candidate, number = excel_sheet_name(name), 2
    while candidate.lower() in used:
        candidate, number = excel_sheet_name(name, f" ({number})"), number + 1
    used.add(candidate.lower())
    return candidate


def _xlsx_table(book: _XlsxBook, reader: DiffReader, table: TableDiff, should_cancel) -> None:
    """The rows that are not the same: changed cells coloured, with the old value in a column
    ``<name> (old)`` beside each column that has a changed cell; added rows green, removed rows red."""
    columns = reader.columns(table.diff_table)
    with_old = set(reader.changed_columns(table.diff_table))
    header = [("status", _BOLD), ("_file", _BOLD), ("_record", _BOLD)]
    widths = {0: 12, 1: 30}
    for i, name in enumerate(columns):
        widths[len(header)] = 16
        header.append((name, _BOLD))
        if i in with_old:
            widths[len(header)] = 16
            header.append((f"{name} (old)", _BOLD))
    if len(header) > _EXCEL_MAX_COLUMNS:  # the last column a sheet holds says what did not fit
        header[_EXCEL_MAX_COLUMNS - 1:] = [(f"{len(header) - _EXCEL_MAX_COLUMNS + 1:,} more columns: see the CSV "
                                            "reports", _BOLD)]
    differing = table.rows_added + table.rows_removed + table.rows_changed + table.duplicate_keys
    sheet = book.sheet(widths=widths, frozen=(1, 3), cells=min(differing, EXCEL_MAX_ROWS) * len(header))
    sheet.row(header)
    fills = {"added": _ADDED, "removed": _REMOVED}
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
            cells.append((value, _CHANGED if change else style))
            if i in with_old:
                cells.append((change[0], _OLD) if change else (None, style))
        sheet.row(cells[:_EXCEL_MAX_COLUMNS - 1] if len(cells) >= _EXCEL_MAX_COLUMNS else cells)
    sheet.close(autofilter=len(header))


_EXCEL_MAX_COLUMNS = 16_384
# Cell styles of the report (the order of cellXfs in _STYLES_XML).
_BOLD, _CHANGED, _ADDED, _REMOVED, _OLD = 1, 2, 3, 4, 5
_XML_SPECIAL = re.compile("[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")  # what _cell_text rewrites
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")  # \r too: XML would read it as \n
_EXCEL_ESCAPE = re.compile("_x[0-9A-Fa-f]{4}_")  # how a cell spells a character XML cannot hold
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _font(extra: str = "") -> str:
    return f'<font>{extra}<sz val="11"/><name val="Calibri"/><family val="2"/></font>'


def _fill(rgb: str) -> str:
    return f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/><bgColor indexed="64"/></patternFill></fill>'


def _xf(font: int, fill: int) -> str:
    applied = (' applyFont="1"' if font else "") + (' applyFill="1"' if fill else "")
    return f'<xf numFmtId="0" fontId="{font}" fillId="{fill}" borderId="0" xfId="0"{applied}/>'


_GREY_ITALIC = '<i/><color rgb="FF595959"/>'
_STYLES_XML = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{_MAIN_NS}">'
    f'<fonts count="4">{_font()}{_font("<b/>")}{_font("<strike/>")}{_font(_GREY_ITALIC)}</fonts>'
    f'<fills count="6"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    f'{_fill("FFE699")}{_fill("C6EFCE")}{_fill("FFC7CE")}{_fill("F2F2F2")}</fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    # default, bold (headers), changed (yellow), added (green), removed (red, struck out), old value (grey, italic)
    f'<cellXfs count="6">{_xf(0, 0)}{_xf(1, 0)}{_xf(0, 2)}{_xf(0, 3)}{_xf(2, 4)}{_xf(3, 5)}</cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def _column_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _cell_text(value: str) -> str:
    """An inline string's XML: escaped, characters XML cannot hold as Excel writes them (``_xHHHH_``),
    cut to Excel's limit."""
    value = value[:EXCEL_MAX_CELL]
    if _XML_SPECIAL.search(value):
        value = _xml_text(value)
        value = _EXCEL_ESCAPE.sub(r"_x005F\g<0>", value)  # a literal _xHHHH_ stays literal
        value = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", value).replace("\ufffe", "").replace("\uffff", "")
    if value[:1].isspace() or value[-1:].isspace():
        return f'<is><t xml:space="preserve">{value}</t></is>'
    return f"<is><t>{value}</t></is>"


class _XlsxBook:
    """A small XLSX writer for the reports: text and number cells in the few styles above, frozen
    panes, column widths and an autofilter; each sheet streamed straight into the ZIP, one after the
    other, so memory stays flat and no scratch file holds cell text. (xlsxwriter spends about 6 µs a
    cell, and more on comments: half a minute for the 190,000 rows that differ in a 1M-row comparison.)"""

    def __init__(self, path: Path, sheet_names: list[str]) -> None:
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._names = sheet_names
        self._filters: dict[int, str] = {}
        self._write("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{_TYPE}.worksheet+xml"/>'
                      for n in range(1, len(sheet_names) + 1)) + "</Types>"))
        self._write("_rels/.rels", (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PACKAGE_REL_NS}">'
            f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        self._write("xl/styles.xml", _STYLES_XML)

    def _write(self, name: str, text: str) -> None:
        self._zip.writestr(name, text.encode("utf-8"))

    def sheet(self, widths: dict[int, float], frozen: tuple[int, int] | None = None, cells: int = 0) -> _XlsxSheet:
        """The next sheet (in the order of the names given); close it before asking for another.
        ``cells``: about how many it will hold (a sheet that may pass 2 GiB needs a ZIP64 entry)."""
        number = len(self._filters) + 1
        handle = self._zip.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=cells > 10_000_000)
        return _XlsxSheet(handle, widths, frozen, number == 1,
                          lambda ref: self._filters.__setitem__(number - 1, ref))

    def __enter__(self) -> _XlsxBook:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            e = _xml_text
            sheets = "".join(f'<sheet name="{e(name)}" sheetId="{n}" r:id="rId{n}"/>'
                             for n, name in enumerate(self._names, start=1))
            filters = "".join(
                f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">'
                f"{e(chr(39) + self._names[index].replace(chr(39), chr(39) * 2) + chr(39))}!{ref}</definedName>"
                for index, ref in self._filters.items() if ref)
            self._write("xl/workbook.xml", (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_MAIN_NS}" '
                f'xmlns:r="{_REL_NS}"><bookViews><workbookView/></bookViews><sheets>{sheets}</sheets>'
                + (f"<definedNames>{filters}</definedNames>" if filters else "") + "</workbook>"))
            self._write("xl/_rels/workbook.xml.rels", (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PACKAGE_REL_NS}">'
                + "".join(f'<Relationship Id="rId{n}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                          for n in range(1, len(self._names) + 1))
                + f'<Relationship Id="rId{len(self._names) + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
                "</Relationships>"))
        self._zip.close()


class _XlsxSheet:
    def __init__(self, handle, widths: dict[int, float], frozen: tuple[int, int] | None, selected: bool,
                 on_close: Callable[[str], None]) -> None:
        self._handle, self._on_close = handle, on_close
        self._rows = 0
        self._pending: list[str] = []
        self._letters: list[str] = []
        pane, selected = "", ' tabSelected="1"' if selected else ""
        if frozen:
            rows, cols = frozen
            pane = (f'<pane xSplit="{cols}" ySplit="{rows}" topLeftCell="{_column_name(cols)}{rows + 1}" '
                    'activePane="bottomRight" state="frozen"/><selection pane="topRight"/>'
                    '<selection pane="bottomLeft"/><selection pane="bottomRight"/>')
        cols = "".join(f'<col min="{c + 1}" max="{c + 1}" width="{w}" customWidth="1"/>' for c, w in sorted(widths.items()))
        self._pending.append(
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            f'<sheetViews><sheetView{selected} workbookViewId="0">{pane}</sheetView>'
            f'</sheetViews><sheetFormatPr defaultRowHeight="15"/>{f"<cols>{cols}</cols>" if cols else ""}<sheetData>')

    def row(self, cells: list[tuple[str | int | float | None, int]]) -> None:
        """The next row: (value, style) per column from the first; an empty value without a style is left out."""
        self._rows += 1
        number = str(self._rows)
        letters = self._letters
        while len(letters) < len(cells):
            letters.append(_column_name(len(letters)))
        parts = [f'<row r="{number}">']
        for col, (value, style) in enumerate(cells):
            styled = f' s="{style}"' if style else ""
            if isinstance(value, str) and value:
                parts.append(f'<c r="{letters[col]}{number}"{styled} t="inlineStr">{_cell_text(value)}</c>')
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                parts.append(f'<c r="{letters[col]}{number}"{styled}><v>{value!r}</v></c>')
            elif style:
                parts.append(f'<c r="{letters[col]}{number}"{styled}/>')
        if len(parts) == 1:
            return  # an empty row is just not written
        parts.append("</row>")
        self._pending.append("".join(parts))
        if len(self._pending) >= 1000:
            self._flush()

    def _flush(self) -> None:
        self._handle.write("".join(self._pending).encode("utf-8"))
        self._pending.clear()

    def close(self, autofilter: int = 0) -> None:
        """The sheet ends; ``autofilter``: over this many columns from the first, header to last row."""
        ref = f"$A$1:${_column_name(autofilter - 1)}${max(self._rows, 1)}" if autofilter else ""
        self._pending.append("</sheetData>" + (f'<autoFilter ref="{ref.replace("$", "")}"/>' if ref else "")
                             + "</worksheet>")
        self._flush()
        self._handle.close()
        self._on_close(ref)


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
