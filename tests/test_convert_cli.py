import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from ret_desktop.core.export import ExportCancelled, write_csv, write_xlsx
from test_xlsx import as_excel_reads

DATA = Path(__file__).parent / "data"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ret_desktop", "convert", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_the_sample_archive_converts_all_13_documents(tmp_path):
    out = tmp_path / "out"
    result = run(DATA / "test-examples_1.zip", "--out", out, "--format", "both")
    assert result.returncode == 1  # the RAR inside is skipped, and said so
    assert "Small_test-examples.rar: RAR archives are not supported" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    converted = [f for f in manifest["files"] if f["status"] == "ok"]
    assert len(converted) == 13
    assert [f["status"] for f in manifest["files"] if f["status"] != "ok"] == ["skipped"]
    assert sum(t["rows"] for t in manifest["tables"]) == sum(f["records"] for f in converted)
    for table in manifest["tables"]:
        assert set(table) >= {"name", "file", "group", "record_path", "rows", "columns"}
        with open(out / table["file"], newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == table["columns"] and len(rows) == table["rows"] + 1
        sheet = openpyxl.load_workbook(out / table["files"][1], read_only=True).worksheets[0]
        assert [c.value for c in next(sheet.iter_rows(max_row=1))] == table["columns"]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no scratch left


def test_exit_status_0_when_every_document_converts(tmp_path):
    result = run(DATA / "library_1mb.xml", DATA / "crossref" / "book_4.4.2.xml", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 documents converted into 2 tables" in result.stdout
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == {"BOOK": 1, "LIBRARY": 6401}
    assert {t["record_path"] for t in manifest["tables"]} == {"/doi_batch", "/library/book"}


def test_exit_status_1_for_a_failed_document_and_2_for_bad_input(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ok.xml").write_text("<r><a>1</a><a>2</a></r>")
    (tmp_path / "in" / "broken.xml").write_text("<r><a>1</a>")
    failed = run(tmp_path / "in", "--out", tmp_path / "o1")
    assert failed.returncode == 1 and "broken.xml: line 1" in failed.stderr
    missing = run(tmp_path / "nothing.zip", "--out", tmp_path / "o2")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    usage = run(tmp_path / "in", "--out", tmp_path / "o3", "--mode", "sideways")
    assert usage.returncode == 2


def test_options_record_path_relational_group_by_bom_and_zip(tmp_path):
    result = run(DATA / "4_test-examples.zip", "--out", tmp_path, "--mode", "relational", "--group-by", "type",
                 "--record-path", "/doi_batch/head", "--bom", "--zip", "all.zip")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert result.returncode == 0, result.stderr
    (main,) = [t for t in manifest["tables"] if t["parent"] is None]
    assert main["name"] == "DOI_BATCH" and main["record_path"] == "/doi_batch/head" and main["rows"] == 8
    assert (tmp_path / main["file"]).read_bytes().startswith(b"\xef\xbb\xbf_file,")
    import zipfile

    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f for t in manifest["tables"] for f in t["files"])


def test_csv_is_rfc4180_and_values_stay_text(tmp_path):
    rows = [["a,b", 'say "hi"', "two\nlines", "007", ""], ["=1+1", " padded ", "é", "1e5", "x"]]
    assert write_csv(tmp_path / "t.csv", ["c1", "c2", "c3", "c4", "c5"], [rows[:1], rows[1:]], raw=True) == 2
    raw = (tmp_path / "t.csv").read_bytes()
    assert raw.startswith(b"c1,c2,c3,c4,c5\r\n") and b'"a,b","say ""hi""","two\nlines",007,\r\n' in raw
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle))[1:] == rows


def test_xlsx_text_cells_control_characters_and_sheet_split(tmp_path):
    rows = [[f"00{i}", f"bad\x01char\x1f{i}", "1e5"] for i in range(7)]
    assert write_xlsx(tmp_path / "t.xlsx", ["id", "text", "num"], [rows], sheet_name="T", max_rows_per_sheet=3).rows == 7
    book = openpyxl.load_workbook(tmp_path / "t.xlsx")
    assert book.sheetnames == ["T", "T (2)", "T (3)"]
    first = book["T"]
    assert first.freeze_panes == "A2" and first.auto_filter.ref == "A1:C4"
    assert [as_excel_reads(c.value) for c in first[2]] == ["000", "bad\x01char\x1f0", "1e5"]
    assert all(c.data_type == "s" for c in first[2])
    assert [[as_excel_reads(c.value) for c in row] for row in book["T (3)"].iter_rows(min_row=2)] == [["006", "bad\x01char\x1f6", "1e5"]]


def test_a_cancelled_export_leaves_no_file(tmp_path):
    def batches():
        for start in range(0, 20000, 1000):
            yield [[str(i)] for i in range(start, start + 1000)]

    calls = iter(range(10))
    with pytest.raises(ExportCancelled):
        write_csv(tmp_path / "t.csv", ["n"], batches(), should_cancel=lambda: next(calls) >= 2)
    with pytest.raises(ExportCancelled):
        write_xlsx(tmp_path / "t.xlsx", ["n"], batches(), should_cancel=lambda: True)
    assert list(tmp_path.iterdir()) == []


def test_intake_limits_come_from_the_settings(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "ret_desktop", "convert", str(DATA / "test-examples_1.zip"),
                             "--out", str(out)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
                                 "RET_DATA_DIR": str(tmp_path / "data"), "RET_INTAKE_MAX_FILES": "3"})
    assert result.returncode == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["limits_hit"] == ["file count (3)"]
    assert sum(f["status"] == "ok" for f in manifest["files"]) == 3


def test_an_empty_value_alone_on_its_row_is_not_a_blank_line(tmp_path):
    # A one-column table with an empty cell: a blank line would be skipped by CSV readers.
    assert write_csv(tmp_path / "t.csv", ["note"], [[("",), ("a",), ("",)]]) == 3
    assert (tmp_path / "t.csv").read_bytes() == b'note\r\n""\r\na\r\n""\r\n'
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [["note"], [""], ["a"], [""]]
