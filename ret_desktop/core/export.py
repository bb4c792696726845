"""CSV, XLSX and ZIP writers. Every file is written to a temporary name and renamed when complete,
so a failed or cancelled export never leaves a half-written file under the real name."""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

from ret_desktop.core.fsutil import exported_file_mode, make_export_dir
from ret_desktop.core.scratch import part_file
from ret_desktop.core.xlsx import EXCEL_MAX_COLUMNS, EXCEL_MAX_ROWS, CellStyle, XlsxBook, XlsxSheet, excel_sheet_name

_UNSAFE_FILE_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_WINDOWS_RESERVED = re.compile(r"(?i)(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?")

# A cell a spreadsheet reads as a formula (OWASP "CSV injection"): it starts with one of these,
# including the full-width forms some spreadsheets fold to ASCII, and the whitespace they trim first.
FORMULA_TRIGGERS = "=+-@\t\r\n\uff1d\uff0b\uff0d\uff20"
_PLAIN_NUMBER = re.compile(r"[+-]|[+-]?(?=[.,]?[0-9])[0-9.,]+(?: [0-9.,]+)*(?:[eE][+-]?[0-9]+)?")
# The triggers an unquoted CSV field can start with (one starting with a line end is quoted).
_UNQUOTED_TRIGGERS = "=+@\t\uff1d\uff0b\uff0d\uff20-"
# A field after a comma in CSV text that may start with a trigger: a search for a literal first
# character runs fast. A line's first field is looked for among the rows' first values instead.
_AFTER_COMMA_FORMULA = re.compile(',(?:[' + re.escape(_UNQUOTED_TRIGGERS) + ']|"[' + re.escape(FORMULA_TRIGGERS) + "])")
_LINE_START_FORMULA = re.compile("\n[" + re.escape(FORMULA_TRIGGERS) + "]")
_ASCII_ATTRIBUTE = re.compile(r"@[A-Za-z_][A-Za-z0-9_.:-]*")


class ExportCancelled(Exception):
    pass


def neutralise_formula(value: str) -> str:
    """``value`` with a leading ``'`` when a spreadsheet would run it as a formula (``=cmd|' /c
    calc'!A1``, ``+1+1``, ``@SUM(A1)``); plain numbers (``-5``, ``+44 20 7946 0958``, ``-1.5e3``),
    a sign alone and everything else stay as they are."""
    if value and value[0] in FORMULA_TRIGGERS and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralise_header(title: str) -> str:
    """A column name as ``neutralise_formula`` leaves a value, except a record's attribute named in
    ASCII (``@type``), which holds no call. Other names can: an XML name may be ``＝ＳＵＭ（１＋１）``
    (full-width characters some spreadsheets fold to ASCII), and a column renamed by hand anything."""
    return title if _ASCII_ATTRIBUTE.fullmatch(title) else neutralise_formula(title)


def safe_file_stem(name: str) -> str:
    stem = _UNSAFE_FILE_CHARS.sub("_", name).strip(" .")[:150].rstrip(" .") or "table"
    return f"{stem}_" if _WINDOWS_RESERVED.fullmatch(stem) else stem


def zip_file_name(name: str) -> str:
    """``name`` as the file name of an export's ZIP, ``.zip`` added when it lacks it (so it never
    takes the name of a table's file or of ``manifest.json``); ValueError (one line) for what is not
    a plain file name: a folder part, ``.`` or ``..``, a character or device name Windows refuses,
    or more than 255 bytes."""
    if not name.strip(" .") or _UNSAFE_FILE_CHARS.search(name) or _WINDOWS_RESERVED.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain file name (no folder, not . or .., none of \\/:*?\"<>|, "
                         "not a Windows device name such as CON or NUL)")
    if not name.casefold().endswith(".zip"):
        name += ".zip"
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        raise ValueError(f"{name[:40]!r}... is longer than a file name can be (255 bytes)")
    return name


def unique_file_stems(names: Iterable[str]) -> list[str]:
    """A file stem for each name, in order, no two alike even where case does not count (Windows,
    macOS): ``A:B`` and ``A_B`` become ``A_B`` and ``A_B (2)``."""
    taken: set[str] = set()
    stems = []
    for name in names:
        base = safe_file_stem(name)
        stem, number = base, 1
        while stem.casefold() in taken:
            number += 1
            stem = f"{base} ({number})"
        taken.add(stem.casefold())
        stems.append(stem)
    return stems


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, otherwise it goes."""
    path = Path(path)
    make_export_dir(path.parent)
    with part_file(path) as tmp:  # named with this process's id: a killed run's part is swept later
        yield tmp
        os.chmod(tmp, exported_file_mode())
        os.replace(tmp, path)


def write_csv(
    path: Path,
    header: Sequence[str],
    batches: Iterable[Sequence[Sequence[str]]],
    bom: bool = False,
    should_cancel: Callable[[], bool] = lambda: False,
    raw: bool = False,
) -> int:
    """RFC 4180 CSV in UTF-8 (optionally with a BOM for Excel) from batches of rows; returns the
    number of data rows. Values a spreadsheet would run as formulas are neutralised
    (``neutralise_formula``) unless ``raw``, and so is the header (``neutralise_header``)."""
    count = 0
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(_csv_header(header, raw))
            for batch in batches:
                if should_cancel():
                    raise ExportCancelled()
                handle.write(_csv_lines(batch, writer, raw=raw)[0])
                count += len(batch)
    return count


class CsvCopy:
    """A table's rows as CSV text, written as the rows are written, so that the export right after a
    conversion copies them out instead of reading the whole table back. Columns may be added while
    rows are written: rows written before are padded with empty fields when copied out. The copy
    holds the rows with formulas neutralised, as ``write_csv`` writes them by default; a raw export
    can use it only when that changed no value."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._handle = open(self.path, "wb")
        self._writer = csv.writer(io.StringIO(), lineterminator="\r\n")  # the dialect of write_csv
        self._pieces: list[tuple[int, int, bool]] = []  # (bytes, fields per row, a value breaks a line)
        self.rows = 0
        self.neutralised = False  # some value was changed by ``neutralise_formula``

    def add(self, rows: Sequence[Sequence[str]], width: int) -> None:
        """Rows of ``width`` fields (the table's columns at the time)."""
        if not rows:
            return
        text, changed, breaks = _csv_lines(rows, self._writer, raw=False, width=width)
        self.neutralised = self.neutralised or changed
        data = text.encode("utf-8")
        self._handle.write(data)
        self._handle.flush()  # a full disk shows here, not in the export
        self._pieces.append((len(data), width, breaks))
        self.rows += len(rows)

    def copyable(self, width: int, raw: bool = False) -> bool:
        """Whether the rows can be copied out as ``width`` fields (``raw``: formulas untouched): a
        short row is padded by adding separators at its line end, which needs every line end to be
        a row's end."""
        if raw and self.neutralised:
            return False
        return all(piece_width == width or (0 < piece_width < width and not breaks)
                   for _size, piece_width, breaks in self._pieces)

    def write_csv(self, path: Path, header: Sequence[str], bom: bool = False,
                  should_cancel: Callable[[], bool] = lambda: False, raw: bool = False) -> int:
        """The same file ``write_csv`` makes of these rows (when ``copyable(len(header), raw)``);
        returns the number of rows."""
        width = len(header)
        with atomic_output(path) as tmp, open(tmp, "wb") as out, open(self.path, "rb") as rows:
            first_line = _csv_lines([_csv_header(header, raw)], self._writer, raw=True)[0]
            out.write((("\ufeff" if bom else "") + first_line).encode("utf-8"))
            for size, piece_width, _breaks in self._pieces:
                if should_cancel():
                    raise ExportCancelled()
                data = rows.read(size)
                if piece_width < width:
                    data = data.replace(b"\r\n", b"," * (width - piece_width) + b"\r\n")
                out.write(data)
        return self.rows

    def close(self) -> None:
        self._handle.close()

    def discard(self) -> None:
        try:
            self._handle.close()
        except OSError:
            pass  # what could not be written is going anyway
        self.path.unlink(missing_ok=True)


def _csv_header(header: Sequence[str], raw: bool) -> Sequence[str]:
    return header if raw else [neutralise_header(title) for title in header]


def _csv_lines(batch: Sequence[Sequence[str]], writer, raw: bool, width: int | None = None) -> tuple[str, bool, bool]:
    """The CSV text of ``batch`` (values neutralised unless ``raw``), whether neutralising changed a
    value, and whether a value holds a line break (so that not every line end is a row's end).
    A row none of whose values holds a comma, quote or line break (and that is not one empty value,
    which the csv module quotes) is joined as it is (the csv module inspects every character, which
    is slow); the others go through the csv module, so the output is the same. A batch with no such
    row at all is joined in one go. Rows are neutralised value by value only in a batch whose text
    shows a field that may need it. ``width``: every row has that many values (spares two passes
    over the rows to find it)."""
    lines = []
    fallback = io.StringIO()
    slow = csv.writer(fallback, dialect=writer.dialect)

    def add_row(row: Sequence[str]) -> None:
        line = ",".join(row)
        if line and line.count(",") == len(row) - 1 and '"' not in line and "\n" not in line and "\r" not in line:
            lines.append(line)
        else:
            fallback.seek(0)
            fallback.truncate()
            slow.writerow(row)
            lines.append(fallback.getvalue()[:-2])

    text = "\r\n".join(map(",".join, batch))
    rows = len(batch)
    shortest = min(map(len, batch), default=0) if width is None else width
    fields = sum(map(len, batch)) if width is None else width * rows
    if (shortest > 1 and '"' not in text and text.count(",") == fields - rows
            and text.count("\n") == rows - 1 and text.count("\r") == rows - 1):
        text += "\r\n"  # no row needs the csv module: the whole batch at once, in C
        breaks = False
    else:
        for row in batch:
            add_row(row)
        lines.append("")
        text = "\r\n".join(lines)
        breaks = text.count("\n") != rows or text.count("\r") != rows
    first_values = map(itemgetter(0), batch) if shortest else [row[0] for row in batch if row]
    if raw or not _may_hold_formula(text, first_values):
        return text, False, breaks
    lines.clear()
    changed = False
    for row in batch:
        neutral = [neutralise_formula(value) for value in row]
        changed = changed or neutral != list(row)
        add_row(neutral)
    lines.append("")
    return "\r\n".join(lines), changed, breaks


def _may_hold_formula(text: str, first_values: Iterable[str]) -> bool:
    """Whether a field of ``text`` (CSV lines whose first fields hold ``first_values``) may start
    with a formula trigger; never False where one does."""
    if '"' not in text and not any(map(text.__contains__, _UNQUOTED_TRIGGERS)):
        return False  # no trigger anywhere, nor a quoted field (that may start with a line end)
    return bool(_AFTER_COMMA_FORMULA.search(text) or _LINE_START_FORMULA.search("\n" + "\n".join(first_values)))


def write_patch_log(path: Path, entries: Iterable, raw: bool = False) -> int:
    """The edits (``Workbook.journal()``) as CSV: time, table, row, column, old value, new value, and
    what kind of change it was; returns how many. Formulas are neutralised unless ``raw``."""
    keep = (lambda value: value) if raw else neutralise_formula
    count = 0
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(["time", "table", "row", "column", "old value", "new value", "change"])
            for entry in entries:
                when = datetime.fromtimestamp(entry.at, timezone.utc).isoformat(timespec="milliseconds")
                writer.writerow([when, keep(entry.table), "" if entry.row_id is None else entry.row_id,
                                 keep(entry.column or ""), keep("" if entry.old is None else entry.old),
                                 keep("" if entry.new is None else entry.new), entry.op])
                count += 1
    return count


class XlsxWritten(NamedTuple):
    rows: int  # data rows
    cells_cut: int  # cells longer than Excel holds (EXCEL_MAX_CELL characters), cut there


def write_xlsx(
    path: Path,
    header: Sequence[str],
    batches: Iterable[Sequence[Sequence[str]]],
    sheet_name: str = "Sheet",
    max_rows_per_sheet: int = EXCEL_MAX_ROWS - 1,
    should_cancel: Callable[[], bool] = lambda: False,
    expected_rows: int | None = None,
) -> XlsxWritten:
    """XLSX with a frozen header, an autofilter and column widths (from the header and the first
    batch of rows); every value is written as text (so ``=1+1`` is a string, never a formula).

    More data rows than one sheet holds continue on ``<name> (2)``, ``<name> (3)``, ...; of more
    columns than a sheet holds, the first 16,383 are written and the last column's title says how
    many more the CSV export has. A character XML cannot carry is written as Excel writes
    it (``_xHHHH_``), so it reads back as it was; cells longer than Excel's
    limit are cut there, and counted. The sheets are streamed into the file (``ret_desktop.core.xlsx``):
    no scratch file holds cell text. ``expected_rows``, when known, spares a small table a ZIP64 entry.
    """
    if len(header) > EXCEL_MAX_COLUMNS:
        header = [*header[:EXCEL_MAX_COLUMNS - 1], f"{len(header) - EXCEL_MAX_COLUMNS + 1:,} more columns: in the "
                  f"CSV export only (a sheet holds {EXCEL_MAX_COLUMNS:,})"]
        batches = ([row[:EXCEL_MAX_COLUMNS - 1] for row in batch] for batch in batches)
    batches = iter(batches)
    first = next(batches, [])
    widths = [min(max(len(title), 8), 60) for title in header]
    for col, values in enumerate(zip(*first)):
        if col < len(widths):
            widths[col] = max(widths[col], min(max(map(len, values)), 60))
    row_bytes = sum(map(len, chain.from_iterable(first))) / len(first) + 50 * len(header) if first else 0
    sheet_rows = max_rows_per_sheet if expected_rows is None else min(max_rows_per_sheet, expected_rows)
    count = 0
    sheets: list[XlsxSheet] = []
    with atomic_output(path) as tmp, XlsxBook(tmp, {"header": CellStyle(bold=True)}) as book:
        header_row = [(title, book.style("header")) for title in header]

        def new_sheet() -> XlsxSheet:
            if sheets:
                sheets[-1].close()
            number = len(sheets) + 1
            sheet = book.add_sheet(excel_sheet_name(sheet_name, "" if number == 1 else f" ({number})"),
                                   widths={col: width + 2 for col, width in enumerate(widths)}, frozen=(1, 0),
                                   autofilter=len(header), expected_bytes=int(row_bytes * sheet_rows))
            sheet.row(header_row)
            sheets.append(sheet)
            return sheet

        sheet = new_sheet()
        for batch in chain([first], batches):
            if should_cancel():
                raise ExportCancelled()
            start = 0
            while start < len(batch):
                if sheet.rows > max_rows_per_sheet:  # the header and max_rows_per_sheet rows
                    sheet = new_sheet()
                room = max_rows_per_sheet + 1 - sheet.rows
                sheet.text_rows(batch[start:start + room])
                start += room
            count += len(batch)
        sheet.close()
    return XlsxWritten(count, sum(s.cells_cut for s in sheets))


def write_zip(path: Path, files: Iterable[Path]) -> None:
    """One ZIP holding ``files`` (by their names)."""
    with atomic_output(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for file in files:
                archive.write(file, arcname=Path(file).name)
