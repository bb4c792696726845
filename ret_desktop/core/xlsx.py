"""The app's XLSX writer: sheets of text (and number) cells in a few named styles, frozen panes,
column widths and an autofilter, each sheet streamed straight into the ZIP, one after the other, so
memory stays flat and no scratch file holds cell text.

Every string is a text cell (``02`` stays ``02``, ``=1+1`` is never a formula), written as Excel
writes what XML cannot hold: a control character, a lone surrogate, U+FFFE or U+FFFF as ``_xHHHH_``,
a literal ``_xHHHH_`` (or ``_xHH_``, which LibreOffice reads as a character too) as ``_x005F_xHHHH_``. A value longer than a cell holds
(``EXCEL_MAX_CELL`` characters) is cut there and counted in ``XlsxSheet.cells_cut``; a sheet refuses
rows past ``EXCEL_MAX_ROWS`` and cells past ``EXCEL_MAX_COLUMNS`` (``XlsxError``). Rows of plain
text are joined a thousand at a time (xlsxwriter spends about 6 µs a cell; this, a small part of it).
"""

from __future__ import annotations

import math
import re
import zipfile
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Mapping, Sequence

EXCEL_MAX_ROWS = 1_048_576  # including a header row
EXCEL_MAX_COLUMNS = 16_384
EXCEL_MAX_CELL = 32_767
EXCEL_MAX_SHEET_NAME = 31
_UNSAFE_SHEET_CHARS = re.compile("[\\[\\]:*?/\\\\\x00-\x1f\ud800-\udfff\ufffe\uffff]")  # and what XML cannot carry
_ZIP64_BYTES = 1 << 30  # a sheet expected to be larger may pass 2 GiB, which needs a ZIP64 entry

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

# A text cell; cells carry no reference (``r``), each follows the one before, so a row of plain text
# is its values joined. An empty value is an empty ``<c/>``, which keeps the next cell's place.
# Text with a space, tab or line break at an end, or a tab or line break inside, is marked to be kept
# as it is (xml:space), else a reader may trim it; the mark costs a third of a plain cell's bytes.
_TEXT_CLOSE = "</t></is></c>"
_TEXT_OPEN = {False: '<c t="inlineStr"><is><t>', True: '<c t="inlineStr"><is><t xml:space="preserve">'}
_TEXT_SEPARATOR = {kept: _TEXT_CLOSE + opening for kept, opening in _TEXT_OPEN.items()}
_EMPTY_TEXT = {kept: opening + _TEXT_CLOSE for kept, opening in _TEXT_OPEN.items()}
_KEPT_AS_IT_IS = (" \x00", "\x00 ", " \x01", "\x01 ", "\t", "\n")  # in a batch's text (see _VALUE, _ROW)
# In a batch's text: the separators of values and of rows (a value holding one takes the slow path).
_VALUE, _ROW = "\x00", "\x01"
# What XML cannot carry, written as _xHHHH_: controls (\r too: XML would read it as \n), lone surrogates
# (no UTF-8 for them) and U+FFFE/U+FFFF.
_UNWRITABLE = "\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff"
_NOT_PLAIN = re.compile("[\x02-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")  # with _VALUE, _ROW and "_x": what _text rewrites
_XML_SPECIAL = re.compile(f"[&<>{_UNWRITABLE}]|_x[0-9A-Fa-f]{{1,4}}_")
_EXCEL_ESCAPE = re.compile("_x[0-9A-Fa-f]{1,4}_")  # Excel reads four digits; LibreOffice reads _x12_ too
# An underscore that starts what a reader takes for an escape (also once the next character is written
# as one), or a character XML cannot carry: _text writes the first as _x005F_, the second as _xHHHH_.
_TO_ESCAPE = re.compile(f"_(?=x[0-9A-Fa-f]{{1,4}}[_{_UNWRITABLE}])|[{_UNWRITABLE}]")


class XlsxError(ValueError):
    pass


@dataclass(frozen=True)
class CellStyle:
    bold: bool = False
    italic: bool = False
    strike: bool = False
    color: str = ""  # the font's, RRGGBB
    fill: str = ""  # a solid background, RRGGBB


def excel_sheet_name(name: str, suffix: str = "") -> str:
    """``name`` as Excel accepts a sheet name: at most 31 characters with ``suffix``, none of
    ``[]:*?/\\`` or control characters, not starting or ending with ``'``, not the reserved ``History``."""
    base = _UNSAFE_SHEET_CHARS.sub("_", name).strip("'")[: EXCEL_MAX_SHEET_NAME - len(suffix)].rstrip("'")
    if base.casefold() == "history":
        base += "_"
    return (base or "Sheet") + suffix


def column_name(index: int) -> str:
    """The letters of the column at ``index`` (0 -> ``A``, 26 -> ``AA``)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _xml_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    return _xml_escape(value).replace('"', "&quot;")


def _text(value: str) -> str:
    """A value (at most EXCEL_MAX_CELL characters) as the text of a ``<t>``."""
    if _XML_SPECIAL.search(value):
        value = _TO_ESCAPE.sub(lambda m: f"_x{ord(m.group()):04X}_", _xml_escape(value))  # _ is 005F
    return value


def _styles_xml(styles: Sequence[CellStyle]) -> str:
    fonts: list[str] = []
    fills = ['<fill><patternFill patternType="none"/></fill>', '<fill><patternFill patternType="gray125"/></fill>']
    xfs = []
    for style in (CellStyle(), *styles):
        font = ("<b/>" if style.bold else "") + ("<i/>" if style.italic else "") + ("<strike/>" if style.strike else "")
        color = f'<color rgb="FF{style.color}"/>' if style.color else ""
        font = f'<font>{font}{color}<sz val="11"/><name val="Calibri"/><family val="2"/></font>'
        if font not in fonts:
            fonts.append(font)
        fill = 0
        if style.fill:
            fills.append(f'<fill><patternFill patternType="solid"><fgColor rgb="FF{style.fill}"/>'
                         '<bgColor indexed="64"/></patternFill></fill>')
            fill = len(fills) - 1
        font_id = fonts.index(font)
        applied = (' applyFont="1"' if font_id else "") + (' applyFill="1"' if fill else "")
        xfs.append(f'<xf numFmtId="0" fontId="{font_id}" fillId="{fill}" borderId="0" xfId="0"{applied}/>')
    return (f'{_XML_DECLARATION}<styleSheet xmlns="{_MAIN_NS}">'
            f'<fonts count="{len(fonts)}">{"".join(fonts)}</fonts><fills count="{len(fills)}">{"".join(fills)}</fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


class XlsxBook:
    """An XLSX file being written: ``add_sheet`` one sheet after the other, then ``close`` (or use it
    as a context manager: the file is complete only when the block ends without an error).

    ``styles`` names the cell styles rows may use; ``style(name)`` gives the number a cell carries
    (0, the default style, needs no name)."""

    def __init__(self, path: Path, styles: Mapping[str, CellStyle] | None = None) -> None:
        styles = dict(styles or {})
        self._style_ids = {name: number for number, name in enumerate(styles, start=1)}
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._sheets: list[tuple[str, str]] = []  # (name, autofilter range) of each sheet so far
        self._open: XlsxSheet | None = None
        self._styles = list(styles.values())

    def style(self, name: str) -> int:
        return self._style_ids[name]

    def add_sheet(self, name: str, widths: Mapping[int, float] | None = None, frozen: tuple[int, int] = (0, 0),
                  autofilter: int = 0, expected_bytes: int = 0) -> XlsxSheet:
        """The next sheet, named ``name`` (as Excel takes it: see ``excel_sheet_name``; no two alike
        ignoring case), which must be closed before the next is added. ``widths``: column index ->
        width in characters; ``frozen``: how many rows and columns stay in place; ``autofilter``:
        over this many columns from the first, from row 1 to the last; ``expected_bytes``: about how
        much XML the sheet will hold (a sheet that may pass 2 GiB is written as a ZIP64 entry, which
        only then is needed)."""
        if self._open is not None:
            raise XlsxError("close the sheet before adding the next")
        if name != excel_sheet_name(name) or name.casefold() in {n.casefold() for n, _ in self._sheets}:
            raise XlsxError(f"{name!r} is not a sheet name Excel accepts here")
        number = len(self._sheets) + 1
        handle = self._zip.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=expected_bytes > _ZIP64_BYTES)
        self._sheets.append((name, ""))
        self._open = XlsxSheet(handle, widths or {}, frozen, autofilter, number == 1, self._sheet_closed)
        return self._open

    def _sheet_closed(self, autofilter: str) -> None:
        self._sheets[-1] = (self._sheets[-1][0], autofilter)
        self._open = None

    def _write(self, name: str, text: str) -> None:
        self._zip.writestr(name, text.encode("utf-8"))

    def close(self) -> None:
        """Write the workbook's parts and close the file."""
        try:
            if self._open is not None:
                self._open.close()
            if not self._sheets:
                self.add_sheet("Sheet").close()  # a workbook holds at least one sheet
            self._write_workbook()
            self._zip.close()
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        """Close the file after an error (a full disk, a cancel); what was written is the caller's to remove."""
        with suppress(OSError, ValueError):
            if self._open is not None:
                self._open._handle.close()
        with suppress(OSError, ValueError):
            self._zip.close()
        if self._zip.fp is not None:  # the ZIP refused to close over a sheet that could not be
            with suppress(OSError):
                self._zip.fp.close()

    def _write_workbook(self) -> None:
        self._write("xl/styles.xml", _styles_xml(self._styles))
        count = len(self._sheets)
        sheets = "".join(f'<sheet name="{_attribute(name)}" sheetId="{n}" r:id="rId{n}"/>'
                         for n, (name, _ref) in enumerate(self._sheets, start=1))
        quoted = "'{}'".format
        filters = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">'
            f"{_attribute(quoted(name.replace(chr(39), chr(39) * 2)))}!{ref}</definedName>"
            for index, (name, ref) in enumerate(self._sheets) if ref)
        self._write("xl/workbook.xml", (
            f'{_XML_DECLARATION}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><bookViews><workbookView/></bookViews>'
            f"<sheets>{sheets}</sheets>" + (f"<definedNames>{filters}</definedNames>" if filters else "") + "</workbook>"))
        self._write("xl/_rels/workbook.xml.rels", (
            f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_REL_NS}">'
            + "".join(f'<Relationship Id="rId{n}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                      for n in range(1, count + 1))
            + f'<Relationship Id="rId{count + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/></Relationships>'))
        self._write("_rels/.rels", (
            f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_REL_NS}">'
            f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        self._write("[Content_Types].xml", (
            f'{_XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{_TYPE}.worksheet+xml"/>'
                      for n in range(1, count + 1)) + "</Types>"))

    def __enter__(self) -> XlsxBook:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self._discard()


class XlsxSheet:
    """One sheet being written, row after row (``row`` for cells with styles and numbers,
    ``text_rows`` for many rows of plain text at once)."""

    def __init__(self, handle, widths: Mapping[int, float], frozen: tuple[int, int], autofilter: int,
                 selected: bool, on_close) -> None:
        self._handle, self._on_close = handle, on_close
        self._autofilter = min(autofilter, EXCEL_MAX_COLUMNS)
        self.rows = 0  # written so far
        self.cells_cut = 0  # values cut to EXCEL_MAX_CELL characters
        self._pending: list[str] = []
        self._pending_size = 0
        self._templates: dict[int, tuple[str, str]] = {}
        rows, cols = frozen
        pane = ""
        if rows and cols:
            pane = (f'<pane xSplit="{cols}" ySplit="{rows}" topLeftCell="{column_name(cols)}{rows + 1}" '
                    'activePane="bottomRight" state="frozen"/><selection pane="topRight"/>'
                    '<selection pane="bottomLeft"/><selection pane="bottomRight"/>')
        elif rows:
            pane = f'<pane ySplit="{rows}" topLeftCell="A{rows + 1}" activePane="bottomLeft" state="frozen"/>' \
                   '<selection pane="bottomLeft"/>'
        elif cols:
            pane = f'<pane xSplit="{cols}" topLeftCell="{column_name(cols)}1" activePane="topRight" state="frozen"/>' \
                   '<selection pane="topRight"/>'
        columns = "".join(f'<col min="{c + 1}" max="{c + 1}" width="{w:g}" customWidth="1"/>'
                          for c, w in sorted(widths.items()) if c < EXCEL_MAX_COLUMNS)
        tab = ' tabSelected="1"' if selected else ""
        self._add(
            f'{_XML_DECLARATION}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            f'<sheetViews><sheetView{tab} workbookViewId="0">{pane}</sheetView>'
            f'</sheetViews><sheetFormatPr defaultRowHeight="15"/>{f"<cols>{columns}</cols>" if columns else ""}<sheetData>')

    @property
    def rows_left(self) -> int:
        return EXCEL_MAX_ROWS - self.rows

    def row(self, cells: Sequence[tuple[str | int | float | None, int]]) -> None:
        """The next row: (value, style number) per column from the first; a value is a string (text),
        an int or a finite float (a number), or None; a cell without a value is empty."""
        if len(cells) > EXCEL_MAX_COLUMNS:
            raise XlsxError(f"a sheet holds at most {EXCEL_MAX_COLUMNS:,} columns")
        self._next_rows(1)
        parts = [f'<row r="{self.rows}">']
        for value, style in cells:
            styled = f' s="{style}"' if style else ""
            if isinstance(value, str) and value:
                if len(value) > EXCEL_MAX_CELL:
                    value = value[:EXCEL_MAX_CELL]
                    self.cells_cut += 1
                kept = value[0] in " \t\n" or value[-1] in " \t\n" or "\t" in value or "\n" in value
                space = ' xml:space="preserve"' if kept else ""
                parts.append(f'<c{styled} t="inlineStr"><is><t{space}>{_text(value)}</t></is></c>')
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                parts.append(f"<c{styled}><v>{value!r}</v></c>")
            else:
                parts.append(f"<c{styled}/>")
        parts.append("</row>")
        self._add("".join(parts))

    def text_rows(self, rows: Sequence[Sequence[str]]) -> None:
        """The next rows, each a sequence of strings in the default style (empty strings are empty
        cells). Rows of one width whose values need no more than ``&<>`` escaped are joined a
        thousand at a time; the others go cell by cell (``row``)."""
        for start in range(0, len(rows), 1000):
            chunk = rows[start:start + 1000]
            if not self._plain_rows(chunk):
                for row in chunk:
                    if not self._plain_rows((row,)):
                        self.row([(value, 0) for value in row])

    def _plain_rows(self, rows: Sequence[Sequence[str]]) -> bool:
        """Write ``rows`` by joining them and return True, or write nothing and return False when a
        value needs more than that (a control character, ``_xHHHH_``, more than a cell holds) or the
        rows differ in width."""
        width = len(rows[0])
        text = _ROW.join(map(_VALUE.join, rows))
        if (width > EXCEL_MAX_COLUMNS or _NOT_PLAIN.search(text) or ("_x" in text and _EXCEL_ESCAPE.search(text))
                or text.count(_ROW) != len(rows) - 1 or text.count(_VALUE) != len(rows) * (width - 1)
                or any(len(row) != width for row in rows)
                or (len(text) > EXCEL_MAX_CELL and max(map(len, chain.from_iterable(rows))) > EXCEL_MAX_CELL)):
            return False
        self._next_rows(len(rows))
        kept = text[:1] == " " or text[-1:] == " " or any(piece in text for piece in _KEPT_AS_IT_IS)
        if "&" in text or "<" in text or ">" in text:
            text = _xml_escape(text)
        text = text.replace(_VALUE, _TEXT_SEPARATOR[kept])
        opening = _TEXT_OPEN[kept]
        lines = [f'<row r="{number}">{opening}{line}{_TEXT_CLOSE}</row>'
                 for number, line in enumerate(text.split(_ROW), start=self.rows - len(rows) + 1)]
        self._add("".join(lines).replace(_EMPTY_TEXT[kept], "<c/>"))
        return True

    def _next_rows(self, count: int) -> None:
        if self.rows + count > EXCEL_MAX_ROWS:
            raise XlsxError(f"a sheet holds at most {EXCEL_MAX_ROWS:,} rows")
        self.rows += count

    def _add(self, text: str) -> None:
        self._pending.append(text)
        self._pending_size += len(text)
        if self._pending_size >= 1 << 20:
            self._flush()

    def _flush(self) -> None:
        self._handle.write("".join(self._pending).encode("utf-8"))
        self._pending.clear()
        self._pending_size = 0

    def close(self) -> None:
        """The sheet ends (with its autofilter, if it has one)."""
        ref = f"$A$1:${column_name(self._autofilter - 1)}${max(self.rows, 1)}" if self._autofilter else ""
        self._add("</sheetData>" + (f'<autoFilter ref="{ref.replace("$", "")}"/>' if ref else "") + "</worksheet>")
        self._flush()
        self._handle.close()
        self._on_close(ref)
