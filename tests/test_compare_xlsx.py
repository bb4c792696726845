"""compare.xlsx, read back with openpyxl: the summary, changed cells coloured with the old value in a
column beside, added and removed rows, odd text kept exactly, frozen header, autofilter, widths."""

import re
import zipfile

import openpyxl

from ret_desktop.core.compare import CompareOptions, Side, compare, write_reports
from ret_desktop.core.xlsx import EXCEL_MAX_CELL
from test_compare import write_csv
from test_xlsx import as_excel_reads

ODD = "  <a & b>  "  # XML specials and spaces at both ends
CONTROL = "bell\x07 tab\t\r\n and _x0041_"  # control characters, and text that looks like Excel's escape


def report(tmp_path, old_rows, new_rows, name="t", **options):
    old = write_csv(tmp_path / "old", f"{name}.csv", old_rows)
    new = write_csv(tmp_path / "new", f"{name}.csv", new_rows)
    result = tmp_path / "r.sqlite"
    summary = compare(Side.export(old), Side.export(new), result, CompareOptions(key=("id",), **options))
    write_reports(result, summary, tmp_path / "out", ("xlsx",))
    return tmp_path / "out" / "compare.xlsx"


def fill(cell):
    return cell.fill.fgColor.rgb[-6:] if cell.fill.fill_type == "solid" else None


def test_changed_cells_are_coloured_with_the_old_value_beside(tmp_path):
    path = report(tmp_path,
                  [["id", "title", "year", "note"], ["1", "Dune", "1965", "x"], ["2", "Emma", "1815", "y"],
                   ["3", "Ulysses", "1922", "z"], ["5", "Old", "", "gone"]],
                  [["id", "title", "year", "note"], ["1", "Dune", "1965", "x"], ["2", "Emma!", "1816", ""],
                   ["3", "Ulysses", "1923", "z"], ["4", ODD, CONTROL, "new"]])
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "t"]
    summary = book["Summary"]
    assert [c.value for c in summary[1]] == ["table", "status", "key", "rows added", "rows removed", "rows changed",
                                             "cells changed", "columns added", "columns removed", "duplicate keys"]
    assert all(c.font.bold for c in summary[1])
    assert [c.value for c in summary[2]] == ["t", "changed", "id", 1, 1, 2, 4, None, None, 0]

    sheet = book["t"]
    # An old-value column beside each column with a changed cell (title, year, note; not id).
    assert [c.value for c in sheet[1]] == ["status", "_file", "_record", "id", "title", "title (old)", "year",
                                           "year (old)", "note", "note (old)"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert [r[0] for r in rows] == ["changed", "changed", "added", "removed"]
    assert rows[0][3:] == ["2", "Emma!", "Emma", "1816", "1815", None, "y"]
    assert rows[1][3:] == ["3", "Ulysses", None, "1923", "1922", "z", None]
    assert rows[2][3:6] == ["4", ODD, None] and as_excel_reads(rows[2][6]) == CONTROL
    assert rows[3][3:] == ["5", "Old", None, None, None, "gone", None]

    e2, f2, i2, j2, d2 = sheet["E2"], sheet["F2"], sheet["I2"], sheet["J2"], sheet["D2"]
    assert fill(e2) == "FFE699" and fill(i2) == "FFE699"  # changed: the new value, coloured (also emptied)
    assert fill(f2) == fill(j2) == "F2F2F2" and f2.font.italic and f2.font.color.rgb == "FF595959"  # old: grey
    assert fill(d2) is None and fill(sheet["F3"]) is None  # unchanged cells stay plain
    assert {fill(c) for c in sheet[4]} == {"C6EFCE"}  # added: green, the whole row
    assert {fill(c) for c in sheet[5]} == {"FFC7CE"} and sheet["E5"].font.strike  # removed: red, struck out

    assert sheet.freeze_panes == "D2"
    assert sheet.auto_filter.ref == "A1:J5"
    assert sheet.column_dimensions["B"].width == 30 and sheet.column_dimensions["E"].width == 16
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        workbook = archive.read("xl/workbook.xml").decode()
    assert "<definedName name=\"_xlnm._FilterDatabase\" localSheetId=\"1\" hidden=\"1\">'t'!$A$1:$J$5" in workbook


def test_long_values_are_cut_to_what_a_cell_holds_and_sheet_names_are_safe(tmp_path):
    long = "x" * (EXCEL_MAX_CELL + 10)
    path = report(tmp_path, [["id", "v"], ["1", "a"]], [["id", "v"], ["1", long]], name="'it's [a] table")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "it's _a_ table"]  # as Excel takes it: no ' first, no [ ]
    sheet = book["it's _a_ table"]
    assert sheet["E2"].value == "x" * EXCEL_MAX_CELL and sheet["F2"].value == "a"
    with zipfile.ZipFile(path) as archive:
        assert "'it''s _a_ table'!$A$1:$F$2" in archive.read("xl/workbook.xml").decode()



def test_a_table_wider_than_a_sheet_keeps_the_columns_that_fit_and_says_so(tmp_path, monkeypatch):
    from ret_desktop.core.compare import reports
    monkeypatch.setattr(reports, "_EXCEL_MAX_COLUMNS", 6)
    header = ["id", "a", "b", "c", "d"]
    book = openpyxl.load_workbook(report(tmp_path, [header, ["1", "1", "2", "3", "4"]],
                                         [header, ["1", "9", "9", "3", "4"]]))
    sheet = book["t"]
    assert [c.value for c in sheet[1]] == ["status", "_file", "_record", "id", "a", "5 more columns: see the CSV reports"]  # a (old), b, b (old), c, d
    assert [c.value for c in sheet[2]] == ["changed", None, None, "1", "9", None]
