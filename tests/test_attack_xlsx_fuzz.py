"""Fuzzing the XLSX writer (``ret_desktop/core/xlsx.py``) with strings from the whole Unicode range:
every part must be well-formed XML and every cell must read back (openpyxl, then Excel's ``_xHHHH_``
rule; LibreOffice when installed) to exactly the value written, cut only at Excel's cell limit."""

from __future__ import annotations

import csv
import random
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lxml import etree
from test_xlsx import SOFFICE, as_excel_reads

from ret_desktop.core.xlsx import EXCEL_MAX_CELL, XlsxBook, excel_sheet_name

# Pieces a fuzzed value is made of besides random code points: Excel's escape and what resembles it,
# what XML cannot carry (controls, lone surrogates, U+FFFE/U+FFFF), what it must escape, and spaces.
PIECES = ["_x0041_", "_x005F_", "_x005F_x0041_", "_x41_", "_x", "_", "x0041_", "]]>", "&", "<", " ", "\t", "\n",
          "\r", "\x00", "\x01", "\x1f", "\ufffe", "\uffff", "\ud800", "\udfff", "\ufdd0", "😀", "A"]
# Values a reader once got back changed: escapes side by side, an escape-like text before a character
# written as an escape, and what XML cannot carry.
TRICKY = ["_x005F_x0041_", "_x0041__x0042_", "_x41\x01", "_x004\ud800", "\ufffe", "a\uffffb", "\ud800", "x\udfffy",
          "\udfff\ud800", "_x005F_\ufffe"]


def fuzzed_value(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 6)):
        pick = rng.random()
        if pick < 0.5:
            parts.append(rng.choice(PIECES))
        elif pick < 0.8:
            parts.append(chr(rng.randint(0, 0x10FFFF)))
        else:
            parts.append("".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(0, 5))))
    return "".join(parts)


def write_both_ways(path: Path, rows: list[list[str]], sheet: str = "S") -> None:
    """``rows`` twice: joined in a batch (``text_rows``) and cell by cell (``row``)."""
    with XlsxBook(path) as book:
        batch = book.add_sheet(sheet)
        batch.text_rows(rows)
        batch.close()
        cells = book.add_sheet(sheet[:-1] + "2" if len(sheet) == 31 else sheet + "2")
        for row in rows:
            cells.row([(value, 0) for value in row])
        cells.close()


def read_back(path: Path) -> list[list[list[str]]]:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            etree.fromstring(archive.read(name))  # well-formed, or this raises
    book = openpyxl.load_workbook(path, read_only=True)
    return [[[as_excel_reads(value) if value is not None else "" for value in row]
             for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets]


def padded(rows, width):
    return [list(row) + [""] * (width - len(row)) for row in rows]


def test_fuzzed_values_read_back_exactly(tmp_path):
    rng = random.Random(20261201)
    for trial in range(120):
        width = rng.randint(1, 4)
        rows = [[fuzzed_value(rng) for _ in range(width)] for _ in range(rng.randint(1, 5))]
        path = tmp_path / f"{trial}.xlsx"
        write_both_ways(path, rows)
        for sheet in read_back(path):
            assert padded(sheet, width) == rows, f"trial {trial}"


def test_escapes_side_by_side_and_unwritable_characters_read_back_exactly(tmp_path):
    path = tmp_path / "tricky.xlsx"
    write_both_ways(path, [TRICKY])
    assert read_back(path) == [[TRICKY], [TRICKY]]


def test_huge_cells_are_cut_at_excels_limit_and_nothing_else_changes(tmp_path):
    rng = random.Random(7)
    values = ["".join(fuzzed_value(rng) for _ in range(5000))[: EXCEL_MAX_CELL + 100] for _ in range(2)]
    path = tmp_path / "huge.xlsx"
    write_both_ways(path, [values])
    assert read_back(path) == [[[v[:EXCEL_MAX_CELL] for v in values]]] * 2


def test_fuzzed_sheet_names_become_names_excel_takes(tmp_path):
    rng = random.Random(3)
    for trial in range(40):
        name = excel_sheet_name("".join(fuzzed_value(rng) for _ in range(rng.randint(1, 12))))
        assert 1 <= len(name) <= 31
        path = tmp_path / f"{trial}.xlsx"
        write_both_ways(path, [["v"]], sheet=name)
        book = openpyxl.load_workbook(path, read_only=True)
        assert book.sheetnames[0] == name and len(read_back(path)) == 2


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed: CI does not install it")
def test_libreoffice_reads_the_tricky_values_exactly(tmp_path):
    writable = [v for v in TRICKY if not any("\ud800" <= c <= "\udfff" for c in v)]  # no UTF-8 for a lone surrogate
    path = tmp_path / "t.xlsx"
    write_both_ways(path, [writable])
    subprocess.run([SOFFICE, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1", "--outdir",
                    str(tmp_path / "csv"), str(path)], check=True, capture_output=True, timeout=240)
    for sheet in ("S", "S2"):
        with open(tmp_path / "csv" / f"t-{sheet}.csv", newline="", encoding="utf-8") as handle:
            assert list(csv.reader(handle)) == [writable]
