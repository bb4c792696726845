"""The app's one XLSX writer (``ret_desktop/core/xlsx.py``), through the table export and on its own:
read back by openpyxl, checked part by part against what SpreadsheetML requires (content types,
relationships, the order of a worksheet's elements), and read by a second reader, LibreOffice, when
it is installed."""

from __future__ import annotations

import csv
import errno
import os
import random
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lxml import etree

from ret_desktop.core.export import write_xlsx
from ret_desktop.core.xlsx import (
    EXCEL_MAX_CELL,
    EXCEL_MAX_COLUMNS,
    EXCEL_MAX_ROWS,
    CellStyle,
    XlsxBook,
    XlsxError,
    column_name,
    excel_sheet_name,
)

ODD = ["a & b <c> \"d\" 'e'", " leading", "trailing ", "  ", "tab\there", "line\nbreak", "cr\r\nlf", "_x0041_",
       "_X004a_ and _x12_", "02", "=1+1", "-5", "1e5", "é 北京 😀 \u200b", "]]>", "&amp;", "{0} {}"]
CONTROL = "bell\x07 nul\x00 esc\x1b end"
TOO_LONG = "L" * (EXCEL_MAX_CELL + 5)


def as_excel_reads(value):
    """A cell's text as Excel (and LibreOffice) read it: ``_xHHHH_`` is the character HHHH."""
    return re.sub("_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value) if value else value


def _export(tmp_path: Path) -> tuple[Path, list[str], list[list[str]]]:
    """A table export with every odd value, empty cells between and at the end, a cut value, and its
    rows spread over three sheets."""
    header = ["_file", "_record", "odd", "more", "last"]
    rows = []
    for number, value in enumerate(ODD + [CONTROL, TOO_LONG]):
        rows.append([f"in/{number}.xml", str(number + 1), value, "" if number % 2 else value[::-1], ""])
    rows.append(["", "", "", "", "only the last"])
    path = tmp_path / "out" / "odd.xlsx"
    written = write_xlsx(path, header, [rows[:5], rows[5:]], sheet_name="it's [odd]: *?", max_rows_per_sheet=8)
    assert written == (len(rows), 2)
    expected = [[value[:EXCEL_MAX_CELL] for value in row] for row in rows]
    return path, header, expected


def test_the_table_export_reads_back_exactly_in_openpyxl(tmp_path):
    path, header, expected = _export(tmp_path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["it's _odd__ __", "it's _odd__ __ (2)", "it's _odd__ __ (3)"]
    read = []
    for sheet in book.worksheets:
        assert [c.value for c in sheet[1]] == header and all(c.font.bold for c in sheet[1])
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:E{sheet.max_row}"
        for row in sheet.iter_rows(min_row=2, max_col=len(header)):
            assert all(c.data_type == "s" for c in row if c.value is not None)
            read.append([as_excel_reads(c.value) or "" for c in row])
    assert read == expected
    assert book.worksheets[0].column_dimensions["A"].width == 10 and book.worksheets[0].column_dimensions["C"].width == 19


def test_the_writer_keeps_every_character_as_excel_writes_it(tmp_path):
    rows = [[CONTROL, "x\x01y", "_x0041_", "\r"], ODD[:4], ["", "", "", "x"]]
    with XlsxBook(tmp_path / "t.xlsx") as book:
        batch = book.add_sheet("batch")
        batch.text_rows(rows)
        batch.close()
        one_by_one = book.add_sheet("cells")
        for row in rows:
            one_by_one.row([(value, 0) for value in row])
        one_by_one.close()
    book = openpyxl.load_workbook(tmp_path / "t.xlsx")
    for sheet in book.worksheets:
        read = [[as_excel_reads(c.value) or "" for c in row] for row in sheet.iter_rows(max_col=4)]
        assert read == [row + [""] * (4 - len(row)) for row in rows]


def test_rows_joined_in_batches_are_the_rows_written_cell_by_cell(tmp_path):
    rng = random.Random(7)
    pieces = ODD + ["", "", "plain", "12", "x" * 100, CONTROL, TOO_LONG]
    rows = [[rng.choice(pieces) for _ in range(6)] for _ in range(2500)]
    rows[1200] = rows[1200][:3]  # one row narrower than the others
    with XlsxBook(tmp_path / "t.xlsx") as book:
        for name, write in (("batch", lambda sheet: sheet.text_rows(rows)),
                            ("cells", lambda sheet: [sheet.row([(v, 0) for v in row]) for row in rows])):
            sheet = book.add_sheet(name)
            write(sheet)
            assert sheet.rows == len(rows) and sheet.cells_cut == sum(row.count(TOO_LONG) for row in rows)
            sheet.close()
    book = openpyxl.load_workbook(tmp_path / "t.xlsx")
    for sheet in book.worksheets:
        read = [[as_excel_reads(c.value) or "" for c in row] for row in sheet.iter_rows(max_col=6)]
        assert read == [[v[:EXCEL_MAX_CELL] for v in row] + [""] * (6 - len(row)) for row in rows]


def test_an_empty_table_and_a_single_column(tmp_path):
    assert write_xlsx(tmp_path / "empty.xlsx", ["a", "b", "c"], []) == (0, 0)
    sheet = openpyxl.load_workbook(tmp_path / "empty.xlsx").active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [["a", "b", "c"]]
    assert sheet.auto_filter.ref == "A1:C1" and sheet.freeze_panes == "A2"
    assert write_xlsx(tmp_path / "one.xlsx", ["v"], [[["1"], [""], ["3"]]]) == (3, 0)
    sheet = openpyxl.load_workbook(tmp_path / "one.xlsx").active
    assert [c.value for c in sheet["A"]] == ["v", "1", None, "3"] and sheet.auto_filter.ref == "A1:A4"


def test_a_table_wider_than_a_sheet_keeps_the_columns_that_fit_and_says_so(tmp_path):
    width = EXCEL_MAX_COLUMNS + 6
    header = [f"c{i}" for i in range(width)]
    rows = [[f"{r}.{i}" for i in range(width)] for r in range(2)]
    assert write_xlsx(tmp_path / "wide.xlsx", header, [rows]) == (2, 0)
    sheet = openpyxl.load_workbook(tmp_path / "wide.xlsx", read_only=True).active
    top, first, _second = sheet.iter_rows(values_only=True)
    assert len(top) == EXCEL_MAX_COLUMNS and len(first) == EXCEL_MAX_COLUMNS - 1  # the last column: its title only
    assert top[-2] == f"c{EXCEL_MAX_COLUMNS - 2}" and first[-1] == f"0.{EXCEL_MAX_COLUMNS - 2}"
    assert top[-1] == f"7 more columns: in the CSV export only (a sheet holds {EXCEL_MAX_COLUMNS:,})"


def test_many_sheets_with_odd_names_and_styles(tmp_path):
    names = [excel_sheet_name(n) for n in ("History", "'quoted'", "a[1]:b", "ü" * 40, "&<>\"", "tab\there\x01")]
    styles = {"bold": CellStyle(bold=True), "marked": CellStyle(italic=True, strike=True, color="595959", fill="FFE699")}
    with XlsxBook(tmp_path / "t.xlsx", styles) as book:
        for number, name in enumerate(names):
            sheet = book.add_sheet(name, widths={0: 12.5, 2: 40}, frozen=(1, number % 3), autofilter=2)
            sheet.row([(name, book.style("bold")), (number, 0), (1.5, book.style("marked")),
                       (None, book.style("marked")), (float("nan"), 0)])
            sheet.close()
        with pytest.raises(XlsxError):
            book.add_sheet("history_")  # the same name as the first, ignoring case
        with pytest.raises(XlsxError):
            book.add_sheet("a:b")  # a name Excel refuses
    book = openpyxl.load_workbook(tmp_path / "t.xlsx")
    assert book.sheetnames == ["History_", "quoted", "a_1__b", "ü" * 31, "&<>\"", "tab_here_"]
    for number, sheet in enumerate(book.worksheets):
        assert [c.value for c in sheet[1]] == [names[number], number, 1.5, None, None]  # NaN: no number Excel has
        assert sheet["A1"].font.bold and sheet["C1"].font.italic and sheet["C1"].font.strike
        assert sheet["D1"].fill.fgColor.rgb == "FFFFE699" and sheet.column_dimensions["A"].width == 12.5
        assert sheet.freeze_panes == ["A2", "B2", "C2"][number % 3] and sheet.auto_filter.ref == "A1:B1"


def test_a_sheet_refuses_rows_and_columns_past_excels_limits(tmp_path):
    with XlsxBook(tmp_path / "t.xlsx") as book:
        sheet = book.add_sheet("T")
        with pytest.raises(XlsxError, match="16,384 columns"):
            sheet.row([("x", 0)] * (EXCEL_MAX_COLUMNS + 1))
        with pytest.raises(XlsxError, match="16,384 columns"):
            sheet.text_rows([["x"] * (EXCEL_MAX_COLUMNS + 1)])
        sheet.row([("x", 0)] * EXCEL_MAX_COLUMNS)
        sheet.rows = EXCEL_MAX_ROWS - 1  # as if written: a million rows take too long for a test
        sheet.text_rows([["last"]])
        with pytest.raises(XlsxError, match="1,048,576 rows"):
            sheet.text_rows([["one too many"]])
        with pytest.raises(XlsxError, match="1,048,576 rows"):
            sheet.row([])
        sheet.close()
    assert column_name(EXCEL_MAX_COLUMNS - 1) == "XFD" and column_name(0) == "A" and column_name(26) == "AA"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device every write to which fails)")
def test_a_full_disk_is_reported_as_such_and_the_file_is_closed(tmp_path):
    (tmp_path / "full.xlsx").symlink_to("/dev/full")
    with pytest.raises(OSError) as error:
        with XlsxBook(tmp_path / "full.xlsx") as book:
            book.add_sheet("T").text_rows([[str(n)] * 20 for n in range(50_000)])
    assert error.value.errno == errno.ENOSPC
    assert not [fd for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") == "/dev/full"]


# --------------------------------------------------------------------------- the parts, as SpreadsheetML wants them

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# The sequences of CT_Worksheet, CT_Workbook and CT_Stylesheet (ECMA-376 part 1, sml.xsd).
WORKSHEET_ORDER = ["sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
                   "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate",
                   "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting", "dataValidations",
                   "hyperlinks", "printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks",
                   "customProperties", "cellWatches", "ignoredErrors", "smartTags", "drawing", "legacyDrawing",
                   "legacyDrawingHF", "picture", "oleObjects", "controls", "webPublishItems", "tableParts", "extLst"]
WORKBOOK_ORDER = ["fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews", "sheets",
                  "functionGroups", "externalReferences", "definedNames", "calcPr", "oleSize", "customWorkbookViews",
                  "pivotCaches", "smartTagPr", "smartTagTypes", "webPublishing", "fileRecoveryPr", "webPublishObjects",
                  "extLst"]
STYLES_ORDER = ["numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles", "dxfs", "tableStyles",
                "colors", "extLst"]
SHEET_VIEW_ORDER = ["pane", "selection", "pivotSelection", "extLst"]


def _in_order(element, order: list[str]) -> bool:
    names = [etree.QName(child).localname for child in element]
    positions = [order.index(name) for name in names]  # ValueError: an element the schema has not here
    return positions == sorted(positions)


def check_spreadsheetml(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        parts = {name: etree.fromstring(archive.read(name)) for name in archive.namelist()}  # each well-formed
    types = parts["[Content_Types].xml"]
    defaults = {d.get("Extension"): d.get("ContentType") for d in types.iter("{*}Default")}
    overrides = {o.get("PartName"): o.get("ContentType") for o in types.iter("{*}Override")}
    assert defaults["rels"] == "application/vnd.openxmlformats-package.relationships+xml"
    assert set(overrides) == {"/" + name for name in parts if not name.endswith(".rels") and name != "[Content_Types].xml"}
    (office,) = parts["_rels/.rels"].iter(RELS + "Relationship")
    assert office.get("Target") == "xl/workbook.xml" and office.get("Type").endswith("/officeDocument")
    assert overrides["/xl/workbook.xml"].endswith(".sheet.main+xml")
    targets = {r.get("Id"): "xl/" + r.get("Target") for r in parts["xl/_rels/workbook.xml.rels"].iter(RELS + "Relationship")}
    assert all(target in parts for target in targets.values())
    workbook = parts["xl/workbook.xml"]
    assert _in_order(workbook, WORKBOOK_ORDER)
    sheets = list(workbook.iter(MAIN + "sheet"))
    names = [s.get("name") for s in sheets]
    assert len({n.casefold() for n in names}) == len(names) and all(n == excel_sheet_name(n) for n in names)
    assert [int(s.get("sheetId")) for s in sheets] == list(range(1, len(sheets) + 1))
    for defined in workbook.iter(MAIN + "definedName"):
        assert defined.get("name") == "_xlnm._FilterDatabase" and int(defined.get("localSheetId")) < len(sheets)
    styles = parts["xl/styles.xml"]
    assert _in_order(styles, STYLES_ORDER)
    for group in styles:
        assert int(group.get("count")) == len(group)
    cell_styles = len(styles.find(MAIN + "cellXfs"))
    for sheet in sheets:
        target = targets[sheet.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id")]
        assert overrides["/" + target].endswith(".worksheet+xml")
        worksheet = parts[target]
        assert _in_order(worksheet, WORKSHEET_ORDER)
        for view in worksheet.iter(MAIN + "sheetView"):
            assert _in_order(view, SHEET_VIEW_ORDER)
        numbers = [int(row.get("r")) for row in worksheet.iter(MAIN + "row")]
        assert numbers == sorted(set(numbers)) and all(1 <= n <= EXCEL_MAX_ROWS for n in numbers)
        for row in worksheet.iter(MAIN + "row"):
            assert len(row) <= EXCEL_MAX_COLUMNS and all(etree.QName(c).localname == "c" for c in row)
            for cell in row:
                assert int(cell.get("s", 0)) < cell_styles and cell.get("t") in (None, "inlineStr")
                if cell.get("t") == "inlineStr":
                    (text,) = cell.iter(MAIN + "t")
                    assert len(as_excel_reads(text.text or "")) <= EXCEL_MAX_CELL
                    if re.search(r"^\s|\s$|[\t\n]", text.text or ""):  # else a reader may trim it
                        assert text.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"


def test_the_parts_are_what_spreadsheetml_requires(tmp_path):
    path, _header, _expected = _export(tmp_path)
    check_spreadsheetml(path)
    (tmp_path / "rows").mkdir()
    test_rows_joined_in_batches_are_the_rows_written_cell_by_cell(tmp_path / "rows")
    check_spreadsheetml(tmp_path / "rows" / "t.xlsx")
    plain = [["a", "b c"]] * 5 + [["d", " e"]]  # one spaced value, in a batch of its own
    write_xlsx(tmp_path / "spaced.xlsx", ["x", "y"], [plain[:5], plain[5:]])
    check_spreadsheetml(tmp_path / "spaced.xlsx")
    (tmp_path / "styles").mkdir()
    test_many_sheets_with_odd_names_and_styles(tmp_path / "styles")
    check_spreadsheetml(tmp_path / "styles" / "t.xlsx")
    assert write_xlsx(tmp_path / "empty.xlsx", ["a"], []).rows == 0
    check_spreadsheetml(tmp_path / "empty.xlsx")


# --------------------------------------------------------------------------- a second reader: LibreOffice

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed: CI does not install it; on a "
                                            "machine with it (apt-get install libreoffice-calc-nogui) this runs")
def test_libreoffice_reads_every_sheet_as_written(tmp_path):
    path, header, expected = _export(tmp_path)
    wide = tmp_path / "wide.xlsx"
    write_xlsx(wide, [f"c{i}" for i in range(EXCEL_MAX_COLUMNS + 2)], [[[str(i) for i in range(EXCEL_MAX_COLUMNS + 2)]]])
    write_xlsx(tmp_path / "empty.xlsx", ["only"], [])
    (tmp_path / "chars").mkdir()
    test_the_writer_keeps_every_character_as_excel_writes_it(tmp_path / "chars")
    out = tmp_path / "csv"
    every_sheet = "44,34,76,1,,0,false,true,true,false,false,-1"  # UTF-8, cells as shown, every sheet to its own file
    subprocess.run([SOFFICE, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless", "--convert-to",
                    f"csv:Text - txt - csv (StarCalc):{every_sheet}", "--outdir", str(out), str(path), str(wide),
                    str(tmp_path / "empty.xlsx"), str(tmp_path / "chars" / "t.xlsx")],
                   check=True, capture_output=True, timeout=240)

    def read(name: str) -> list[list[str]]:
        with open(out / name, newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))

    rows = []
    for suffix in ("", " (2)", " (3)"):
        sheet = read(f"odd-it's _odd__ __{suffix}.csv")
        assert sheet[0] == header
        rows += [row + [""] * (len(header) - len(row)) for row in sheet[1:]]
    # LibreOffice keeps a lone CR (_x000D_) but folds CR beside LF into one line break, as its cells hold text.
    assert rows == [[v.replace("\r\n", "\n").replace("\n\r", "\n") for v in row] for row in expected]
    (top, values) = read("wide-Sheet.csv")
    assert len(top) == len(values) == EXCEL_MAX_COLUMNS and top[-1].startswith("3 more columns")
    assert values[:-1] == [str(i) for i in range(EXCEL_MAX_COLUMNS - 1)] and values[-1] == ""
    assert read("empty-Sheet.csv") == [["only"]]
    assert read("t-batch.csv") == read("t-cells.csv")
    assert read("t-batch.csv")[0] == [CONTROL, "x\x01y", "_x0041_", "\r"]


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed: CI does not install it")
def test_libreoffice_reads_compare_xlsx(tmp_path):
    from test_compare_xlsx import report
    odd = "_x12_ & <b> " + CONTROL
    path = report(tmp_path, [["id", "v"], ["1", "a"], ["2", "b"]], [["id", "v"], ["1", odd], ["3", " c "]])
    check_spreadsheetml(path)
    subprocess.run([SOFFICE, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1", "--outdir",
                    str(tmp_path / "csv"), str(path)], check=True, capture_output=True, timeout=240)
    with open(tmp_path / "csv" / "compare-t.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["status", "_file", "_record", "id", "v", "v (old)"]
    assert [row[0] for row in rows[1:]] == ["changed", "added", "removed"]
    assert rows[1][3:] == ["1", odd, "a"] and rows[2][3:5] == ["3", " c "] and rows[3][3:5] == ["2", "b"]


def _versions_needed(path: Path) -> dict[str, int]:
    """Each entry's "version needed to extract" in its local header (45: a ZIP64 entry)."""
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        versions = {}
        for info in archive.infolist():
            raw.seek(info.header_offset + 4)
            versions[info.filename] = int.from_bytes(raw.read(2), "little")
    return versions


def test_a_sheet_is_a_zip64_entry_only_when_it_may_pass_2_gib(tmp_path):
    from ret_desktop.core.convert import TableOutcome, export_tables
    from ret_desktop.core.workbook import Workbook
    wide = [["x" * 200] * 40 for _ in range(10)]  # about 10 KB a row: a full sheet would pass 2 GiB
    with Workbook(tmp_path / "workbook.sqlite", scratch=True) as workbook:
        with workbook.transaction():
            writer = workbook.writer("T", "T", "/r/i")
            writer.add_row([(f"c{i}", v) for i, v in enumerate(wide[0])])
            for row in wide[1:]:
                writer.add_values(row)
            writer.flush()
        (small,) = export_tables(workbook, [TableOutcome.from_info(workbook.info("T"))], tmp_path / "out", ("xlsx",))
    assert set(_versions_needed(small).values()) == {20}
    write_xlsx(tmp_path / "large.xlsx", [f"c{i}" for i in range(40)], [wide], expected_rows=300_000)
    assert _versions_needed(tmp_path / "large.xlsx")["xl/worksheets/sheet1.xml"] == 45
    assert openpyxl.load_workbook(tmp_path / "large.xlsx").active["A11"].value == "x" * 200
