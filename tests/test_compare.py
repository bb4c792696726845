"""Compare two batches: generated pairs with known edits, asserting exact counts and cells."""

import csv
import json
import os
import sqlite3
import subprocess
import sys
import threading
import zipfile

import openpyxl
import pytest

from ret_desktop.core.compare import (
    CompareCancelled,
    CompareError,
    CompareOptions,
    DiffReader,
    Side,
    compare,
    engine,
    propose_keys,
    read_summary,
    write_reports,
)
from ret_desktop.core.convert import convert_documents
from ret_desktop.core.importing import take_in
from ret_desktop.core.workbook import Workbook


def library(books):
    """A library document: one <book> per (id, title, year) or dict of fields."""
    parts = ["<?xml version='1.0'?><library>"]
    for book in books:
        if not isinstance(book, dict):
            book = dict(zip(("id", "title", "year"), book))
        parts.append("<book>" + "".join(f"<{k}>{v}</{k}>" for k, v in book.items()) + "</book>")
    return "".join(parts) + "</library>"


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def write_csv(folder, name, rows):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return folder


BOOKS_A = [(1, "Dune", 1965), (2, "Emma", 1815), (3, "Ulysses", 1922), (4, "Beloved", 1987), (5, "Kindred", 1979)]
BOOKS_B = [(10, "Solaris", 1961), (11, "Hamlet", 1603), (12, "Middlemarch", 1871)]


def batch_pair(tmp_path):
    """Two monthly exports of one kind (their archive names, and so their groups, differ) with known
    edits in a.xml: book 2 deleted, book 3's year changed, books 4 and 5 swapped, book 6 inserted
    after book 1. b.xml is the same."""
    new_a = [(1, "Dune", 1965), (6, "Neuromancer", 1984), (3, "Ulysses", 1923), (5, "Kindred", 1979),
             (4, "Beloved", 1987)]
    old = write_zip(tmp_path / "export_2024_01.zip", {"a.xml": library(BOOKS_A), "b.xml": library(BOOKS_B)})
    new = write_zip(tmp_path / "export_2024_02.zip", {"a.xml": library(new_a), "b.xml": library(BOOKS_B)})
    return old, new


def cells(result, table="EXPORT_2024_02"):
    """(column, old, new) of every changed cell of a diff table, in row order."""
    with sqlite3.connect(result) as conn:
        table_id, = conn.execute("SELECT id FROM wb_tables WHERE name = ?", (table,)).fetchone()
        names = [r[0] for r in conn.execute("SELECT name FROM wb_columns WHERE table_id = ? ORDER BY position",
                                            (table_id,))]
        return [(names[col], old, new) for col, old, new in conn.execute(
            "SELECT col, old, new FROM cmp_cells WHERE tbl = ? ORDER BY row, col", (table_id,))]


def statuses(result, table="EXPORT_2024_02"):
    """(status, id) of every row of a diff table, in its order."""
    with sqlite3.connect(result) as conn:
        table_id, = conn.execute("SELECT id FROM wb_tables WHERE name = ?", (table,)).fetchone()
        names = [r[0] for r in conn.execute("SELECT name FROM wb_columns WHERE table_id = ? ORDER BY position",
                                            (table_id,))]
        id_column = names.index("id") + 1
        return [tuple(r) for r in conn.execute(f"SELECT c1, c{id_column} FROM t{table_id} ORDER BY rowid")]


def test_keyed_rows_pair_across_groups_of_other_names(tmp_path):
    old, new = batch_pair(tmp_path)
    result = tmp_path / "r.sqlite"
    summary = compare(Side.convert([old]), Side.convert([new]), result, CompareOptions(key=("id",)))
    [table] = summary.as_json()["tables"]
    assert table == {"name": "EXPORT_2024_02", "status": "changed", "key": ["id"], "rows_added": 1,
                     "rows_removed": 1, "rows_changed": 1, "cells_changed": 1, "columns_added": [],
                     "columns_removed": [], "duplicate_keys": 0}
    assert cells(result) == [("year", "1922", "1923")]
    # new side's order (the swap is no change), the removed row last
    assert statuses(result) == [("same", "1"), ("added", "6"), ("changed", "3"), ("same", "5"), ("same", "4"),
                                ("same", "10"), ("same", "11"), ("same", "12"), ("removed", "2")]
    assert [(d["path"], d["status"], d["matched_path"]) for d in summary.as_json()["documents"]] == [
        ("export_2024_01.zip/a.xml", "changed", "export_2024_02.zip/a.xml"),
        ("export_2024_01.zip/b.xml", "same", "export_2024_02.zip/b.xml")]
    assert not summary.same


def test_without_a_key_rows_pair_by_document_and_sequence(tmp_path):
    old, new = batch_pair(tmp_path)
    result = tmp_path / "r.sqlite"
    summary = compare(Side.convert([old]), Side.convert([new]), result)
    [table] = summary.tables
    assert (table.key, table.rows_added, table.rows_removed, table.rows_changed, table.cells_changed) == (
        [], 1, 1, 1, 1)
    assert cells(result) == [("year", "1922", "1923")]
    # the deleted row stands where it stood; the swapped rows are paired by content
    assert statuses(result) == [("same", "1"), ("removed", "2"), ("added", "6"), ("changed", "3"), ("same", "5"),
                                ("same", "4"), ("same", "10"), ("same", "11"), ("same", "12")]


def test_a_modified_row_beside_inserted_ones_pairs_with_its_likeness(tmp_path):
    rows = [(i, f"Title {i}", 1900 + i) for i in range(1, 9)]
    edited = rows[:3] + [(100, "New A", 2001), (101, "New B", 2002)] + [(4, "Title 4", 1999)] + rows[4:]
    old = write_zip(tmp_path / "old.zip", {"a.xml": library(rows)})
    new = write_zip(tmp_path / "new.zip", {"a.xml": library(edited)})
    result = tmp_path / "r.sqlite"
    summary = compare(Side.convert([old]), Side.convert([new]), result)
    assert (summary.tables[0].rows_added, summary.tables[0].rows_changed, summary.tables[0].rows_removed) == (2, 1, 0)
    assert cells(result, "NEW") == [("year", "1904", "1999")]


def test_a_batch_compared_with_itself_has_no_difference(tmp_path):
    old, _new = batch_pair(tmp_path)
    summary = compare(Side.convert([old]), Side.convert([old]), tmp_path / "r.sqlite", CompareOptions(key=("id",)))
    assert summary.same
    assert [(t.status, t.rows_same, t.cells_changed) for t in summary.tables] == [("same", 8, 0)]
    assert {d.status for d in summary.documents} == {"same"}


def test_documents_moved_renamed_added_and_removed(tmp_path):
    edited_c = BOOKS_A[:4] + [(5, "Kindred", 1980)]  # one cell of 15 differs: similarity 0.93
    old = write_zip(tmp_path / "old.zip", {"a.xml": library(BOOKS_A), "b.xml": library(BOOKS_B),
                                           "c.xml": library([(20, "Walden", 1854)]),
                                           "d.xml": library([(30, "Persuasion", 1817), (31, "Lolita", 1955)])})
    new = write_zip(tmp_path / "new.zip", {"moved/a.xml": library(edited_c), "b.xml": library(BOOKS_B),
                                           "b_renamed.xml": library([(30, "Persuasion", 1817), (31, "Lolita", 1955)]),
                                           "e.xml": library([(40, "Beowulf", 1000)])})
    result = tmp_path / "r.sqlite"
    summary = compare(Side.convert([old]), Side.convert([new]), result, CompareOptions(key=("id",)))
    documents = {d.path: (d.status, d.matched_path, d.similarity) for d in summary.documents}
    assert documents == {
        "old.zip/a.xml": ("moved", "new.zip/moved/a.xml", 0.9333),
        "old.zip/b.xml": ("same", "new.zip/b.xml", None),
        "old.zip/c.xml": ("removed", None, None),
        "old.zip/d.xml": ("moved", "new.zip/b_renamed.xml", 1.0),
        "new.zip/e.xml": ("added", None, None),
    }
    [table] = summary.tables
    assert (table.rows_added, table.rows_removed, table.rows_changed, table.cells_changed) == (1, 1, 1, 1)

    stricter = compare(Side.convert([old]), Side.convert([new]), result, CompareOptions(key=("id",), similarity=0.95))
    documents = {d.path: d.status for d in stricter.documents}
    assert documents["old.zip/a.xml"] == "removed" and documents["new.zip/moved/a.xml"] == "added"
    assert documents["old.zip/d.xml"] == "moved"


def test_too_many_loose_documents_to_weigh_still_pair_by_equal_content(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_MAX_SIMILARITY_PAIRS", 1)
    old = write_zip(tmp_path / "old.zip", {"a.xml": library(BOOKS_A), "d.xml": library(BOOKS_B)})
    new = write_zip(tmp_path / "new.zip", {"a2.xml": library(BOOKS_A[:4] + [(5, "Kindred", 1980)]),
                                           "d2.xml": library(BOOKS_B)})
    summary = compare(Side.convert([old]), Side.convert([new]), tmp_path / "r.sqlite", CompareOptions(key=("id",)))
    assert {d.path: (d.status, d.similarity) for d in summary.documents} == {
        "old.zip/a.xml": ("removed", None), "old.zip/d.xml": ("moved", 1.0), "new.zip/a2.xml": ("added", None)}


def test_without_a_key_a_renamed_document_still_pairs_its_rows(tmp_path):
    old = write_zip(tmp_path / "old.zip", {"a.xml": library(BOOKS_A)})
    new = write_zip(tmp_path / "new.zip", {"renamed.xml": library(BOOKS_A[:4] + [(5, "Kindred", 1980)])})
    result = tmp_path / "r.sqlite"
    summary = compare(Side.convert([old]), Side.convert([new]), result)
    assert [(d.status, d.matched_path) for d in summary.documents] == [("moved", "new.zip/renamed.xml")]
    assert (summary.tables[0].rows_added, summary.tables[0].rows_removed, summary.tables[0].rows_changed) == (0, 0, 1)
    assert cells(result, "NEW") == [("year", "1979", "1980")]


def test_columns_added_removed_renamed_and_empty_columns(tmp_path):
    old = write_csv(tmp_path / "old", "books.csv", [["id", "title", "year", "note"], ["1", "Dune", "1965", ""],
                                                   ["2", "Emma", "1815", ""]])
    new = write_csv(tmp_path / "new", "books.csv", [["id", "name", "year", "isbn", "blank"],
                                                   ["1", "Dune", "1966", "978-0441013593", ""],
                                                   ["2", "Emma", "1815", "", ""]])
    result = tmp_path / "r.sqlite"
    summary = compare(Side.export(old), Side.export(new), result, CompareOptions(key=("id",)))
    [table] = summary.tables
    # title -> name is a rename: one column removed, one added; "note" and "blank" are empty throughout
    assert (table.columns_added, table.columns_removed) == (["name", "isbn"], ["title"])
    assert (table.rows_changed, table.cells_changed) == (1, 1)
    assert cells(result, "books") == [("year", "1965", "1966")]

    strict = compare(Side.export(old), Side.export(new), result,
                     CompareOptions(key=("id",), empty_equals_absent=False))
    assert (strict.tables[0].columns_added, strict.tables[0].columns_removed) == (
        ["name", "isbn", "blank"], ["title", "note"])

    ignoring = compare(Side.export(old), Side.export(new), result,
                       CompareOptions(key=("id",), ignore_columns=("year", "isbn", "title", "name")))
    assert ignoring.same


def test_duplicate_and_empty_keys_are_reported_never_paired(tmp_path):
    old = write_csv(tmp_path / "old", "t.csv", [["id", "v"], ["1", "a"], ["2", "b"], ["2", "c"], ["3", "d"],
                                               ["", "e"]])
    new = write_csv(tmp_path / "new", "t.csv", [["id", "v"], ["1", "A"], ["2", "b"], ["3", "d"], ["", "f"],
                                               ["4", "g"]])
    result = tmp_path / "r.sqlite"
    summary = compare(Side.export(old), Side.export(new), result, CompareOptions(key=("id",)))
    [table] = summary.as_json()["tables"]
    assert table["duplicate_keys"] == 5  # id 2: two old rows and one new; the empty key: one row each side
    assert (table["rows_added"], table["rows_removed"], table["rows_changed"]) == (1, 0, 1)
    with sqlite3.connect(result) as conn:
        rows = conn.execute("SELECT c1, c4, c5 FROM t1 ORDER BY rowid").fetchall()
    assert rows == [("changed", "1", "A"), ("same", "3", "d"), ("added", "4", "g"),
                    ("duplicate key (old)", "2", "b"), ("duplicate key (old)", "2", "c"),
                    ("empty key (old)", "", "e"), ("duplicate key (new)", "2", "b"), ("empty key (new)", "", "f")]


def test_case_and_space_only_differences_follow_the_options(tmp_path):
    old = write_csv(tmp_path / "old", "t.csv", [["id", "v", "w"], ["k1", "Alpha", "x"], ["k2", " beta", "y"],
                                               ["K3", "Straße", "z"]])
    new = write_csv(tmp_path / "new", "t.csv", [["id", "v", "w"], ["k1", "ALPHA", "x"], ["k2", "beta ", "y"],
                                               ["k3", "STRASSE", "z"]])
    result = tmp_path / "r.sqlite"

    def counts(**options):
        t = compare(Side.export(old), Side.export(new), result, CompareOptions(key=("id",), **options)).tables[0]
        return t.rows_added, t.rows_removed, t.rows_changed, t.cells_changed

    assert counts() == (1, 1, 2, 2)  # K3 and k3 are other keys
    assert cells(result, "t") == [("v", "Alpha", "ALPHA"), ("v", " beta", "beta ")]
    assert counts(trim=True) == (1, 1, 1, 1)
    assert counts(ignore_case=True) == (0, 0, 1, 1)  # Unicode case folding: Straße = STRASSE
    assert counts(ignore_case=True, trim=True) == (0, 0, 0, 0)


def test_session_tables_against_an_input_and_an_earlier_export(tmp_path):
    old_zip, new_zip = batch_pair(tmp_path)
    workbook_path = tmp_path / "session" / "workbook.sqlite"
    workbook_path.parent.mkdir()
    report = take_in([new_zip], tmp_path / "session" / "extracted")
    with Workbook(workbook_path) as workbook:
        convert_documents(report, workbook)
        workbook.set_cells("EXPORT_2024_02", [(1, workbook.columns("EXPORT_2024_02").index("title"), "Dune (edited)")])
        before = workbook_path.read_bytes()
        summary = compare(Side.convert([new_zip]), Side.session(workbook_path), tmp_path / "r.sqlite",
                          CompareOptions(key=("id",)))
        assert workbook_path.read_bytes() == before  # read, never written
    assert [(t.rows_changed, t.cells_changed) for t in summary.tables] == [(1, 1)]
    assert cells(tmp_path / "r.sqlite") == [("title", "Dune", "Dune (edited)")]

    export = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "ret_desktop", "convert", str(old_zip), "--out", str(export)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    assert Side.from_path(export).kind == "export"
    same = compare(Side.from_path(export), Side.from_path(old_zip), tmp_path / "r2.sqlite", CompareOptions(key=("id",)))
    assert same.same and [d.status for d in same.documents] == ["same", "same"]


def test_the_result_is_a_workbook_a_table_view_pages(tmp_path):
    old, new = batch_pair(tmp_path)
    result = tmp_path / "r.sqlite"
    compare(Side.convert([old]), Side.convert([new]), result, CompareOptions(key=("id",)))
    with Workbook(result) as workbook:
        assert workbook.table_names() == ["EXPORT_2024_02"]
        assert workbook.columns("EXPORT_2024_02") == ["_status", "_file", "_record", "id", "title", "year"]
        changed_only = workbook.row_ids("EXPORT_2024_02", equals=(0, "changed"))
        assert list(workbook.rows_for_ids("EXPORT_2024_02", list(changed_only)).values()) == [
            ("changed", "export_2024_02.zip/a.xml", "3", "3", "Ulysses", "1923")]
    assert read_summary(result).tables[0].rows_changed == 1
    reader = DiffReader(result)
    assert reader.changed_row_ids("EXPORT_2024_02") == [2, 3, 9]
    assert reader.cells_for_rows("EXPORT_2024_02", [1, 2, 3, 9]) == {3: {5: ("1922", "1923")}}
    reader.close()


def test_a_cancelled_compare_leaves_nothing(tmp_path):
    old, new = batch_pair(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    calls = []

    def cancel_when_comparing(done, total, current):
        calls.append(current)

    with pytest.raises(CompareCancelled):
        compare(Side.convert([old]), Side.convert([new]), out / "r.sqlite", CompareOptions(key=("id",)),
                should_cancel=lambda: any(c.startswith("comparing") for c in calls),
                on_progress=cancel_when_comparing)
    assert list(out.iterdir()) == []


def test_bad_sides_and_keys_are_clear_errors(tmp_path):
    good = write_csv(tmp_path / "good", "t.csv", [["id"], ["1"]])
    other = write_csv(tmp_path / "other", "u.csv", [["id"], ["1"]])
    other = write_csv(other, "v.csv", [["id"], ["1"]])
    with pytest.raises(CompareError, match="no table in common"):
        compare(Side.export(good), Side.export(other), tmp_path / "r.sqlite")
    with pytest.raises(CompareError, match="no table in common has the key column isbn"):
        compare(Side.export(good), Side.export(good), tmp_path / "r.sqlite", CompareOptions(key=("isbn",)))
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CompareError, match="not a readable ZIP"):
        Side.from_path(tmp_path / "broken.zip")
    assert not (tmp_path / "r.sqlite").exists()


# ------------------------------------------------------------------------------------- reports


def test_reports_show_each_change(tmp_path):
    old = write_csv(tmp_path / "old", "t.csv", [["id", "v", "gone"], ["1", "a", "x"], ["2", "b->c", "y"],
                                               ["3", "c", "z"]])
    new = write_csv(tmp_path / "new", "t.csv", [["id", "v", "extra"], ["1", "a", "p"], ["2", "b->d", "q"],
                                               ["4", "d", "r"]])
    result = tmp_path / "r.sqlite"
    summary = compare(Side.export(old), Side.export(new), result, CompareOptions(key=("id",)))
    out = tmp_path / "out"
    write_reports(result, summary, out)
    assert sorted(p.name for p in out.iterdir()) == ["compare.html", "compare.xlsx", "patch.csv", "summary.json",
                                                     "t.diff.csv"]
    with open(out / "t.diff.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["!", "", "", "+++", "---"],
            ["@@", "id", "v", "extra", "gone"],
            ["-->", "2", "b->c-->b->d", "q", "y"],
            ["+++", "4", "d", "r", ""],
            ["---", "3", "c", "", "z"]]
    with open(out / "patch.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["table", "key", "column", "old", "new", "change"],
            ["t", "2", "v", "b->c", "b->d", "changed"],
            ["t", "4", "id", "", "4", "added"], ["t", "4", "v", "", "d", "added"],
            ["t", "4", "extra", "", "r", "added"],
            ["t", "3", "id", "3", "", "removed"], ["t", "3", "v", "c", "", "removed"],
            ["t", "3", "gone", "z", "", "removed"]]
    book = openpyxl.load_workbook(out / "compare.xlsx")
    assert book.sheetnames == ["Summary", "t"]
    assert [c.value for c in book["Summary"][2]][:7] == ["t", "changed", "id", 1, 1, 1, 1]
    sheet = book["t"]
    assert [c.value for c in sheet[1]] == ["status", "_file", "_record", "id", "v", "v (old)", "extra", "gone"]
    changed = sheet["E2"]
    assert (changed.value, sheet["F2"].value) == ("b->d", "b->c")
    assert changed.fill.fgColor.rgb.endswith("FFE699") and sheet["D2"].fill.fill_type is None
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "<del>b-&gt;c</del> b-&gt;d" in page and "src=" not in page and "href=" not in page
    assert json.loads((out / "summary.json").read_text()) == summary.as_json()


# ------------------------------------------------------------------------------------- command line


def run(*args):
    return subprocess.run([sys.executable, "-m", "ret_desktop", "compare", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_command_line_exit_status_and_summary(tmp_path):
    old, new = batch_pair(tmp_path)
    differ = run(old, new, "--out", tmp_path / "d", "--key", "id", "--format", "csv")
    assert differ.returncode == 1, differ.stderr
    assert "EXPORT_2024_02 (key id): changed: 1 rows added, 1 removed, 1 changed (1 cells)" in differ.stdout
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert set(summary) == {"tables", "documents"}
    assert set(summary["tables"][0]) == {"name", "status", "key", "rows_added", "rows_removed", "rows_changed",
                                         "cells_changed", "columns_added", "columns_removed", "duplicate_keys"}
    assert set(summary["documents"][0]) == {"path", "status", "matched_path", "similarity"}
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["EXPORT_2024_02.diff.csv", "patch.csv",
                                                                   "summary.json"]

    same = run(old, old, "--out", tmp_path / "s")
    assert same.returncode == 0, same.stderr
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["tables"][0]["status"] == "same"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "EXPORT_2024_01.diff.csv", "compare.html", "compare.xlsx", "patch.csv", "summary.json"]


@pytest.mark.parametrize("args, message", [
    (["{missing}", "{old}"], "no such file or folder"),
    (["{old}", "{old}", "--key", "isbn"], "no table in common has the key column isbn"),
    (["{old}", "{other}"], "no table in common"),
    (["{broken}", "{old}"], "not a readable ZIP archive"),
    (["{old}", "{old}", "--format", "pdf"], "--format: pdf"),
])
def test_command_line_bad_input_exits_2_with_one_line(tmp_path, args, message):
    old, _new = batch_pair(tmp_path)
    other = write_csv(tmp_path / "other", "u.csv", [["a"], ["1"]])
    other = write_csv(other, "v.csv", [["a"], ["1"]])
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 damaged")
    paths = {"missing": tmp_path / "nothing.zip", "old": old, "other": other, "broken": tmp_path / "broken.zip"}
    result = run(*[a.format(**paths) for a in args], "--out", tmp_path / "out")
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_large_sides_read_the_old_one_in_a_child_process(tmp_path):
    old, new = batch_pair(tmp_path)
    parallel = CompareOptions(key=("id",), parallel_from_bytes=0)
    summary = compare(Side.convert([old]), Side.convert([new]), tmp_path / "r.sqlite", parallel)
    assert [(t.rows_added, t.rows_removed, t.rows_changed) for t in summary.tables] == [(1, 1, 1)]
    ragged = write_csv(tmp_path / "ragged", "t.csv", [["id"], ["1", "2"]])
    with pytest.raises(CompareError, match="t: row 2 has 2 fields, the header 1"):
        compare(Side.export(ragged), Side.convert([new]), tmp_path / "r2.sqlite", parallel)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_input_is_converted_as_the_export_it_is_compared_with(tmp_path):
    old_zip, _new = batch_pair(tmp_path)
    export = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "ret_desktop", "convert", str(old_zip), "--out", str(export),
                           "--record-path", "/library"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    summary = compare(Side.export(export), Side.convert([old_zip]), tmp_path / "r.sqlite")
    assert summary.same  # one row per document on both sides, as the export's manifest says
    assert [(t.rows_same, t.columns_added) for t in summary.tables] == [(2, [])]


def test_cancelled_reports_leave_the_folder_as_it_was(tmp_path):
    old, new = batch_pair(tmp_path)
    result = tmp_path / "r.sqlite"
    summary = compare(Side.convert([old]), Side.convert([new]), result, CompareOptions(key=("id",)))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    answers = iter([False, False, True])
    with pytest.raises(CompareCancelled):
        write_reports(result, summary, out, should_cancel=lambda: next(answers, True))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_proposed_keys_are_filled_and_unique_on_both_sides(tmp_path):
    old = write_csv(tmp_path / "old", "t.csv", [["id", "doi", "code", "title", "note"],
                                               ["1", "10.1/a", "x", "Dune", ""], ["2", "10.1/b", "y", "Emma", "n"],
                                               ["3", "10.1/c", "z", "Dune", ""]])
    new = write_csv(tmp_path / "new", "t.csv", [["id", "doi", "code", "title", "note"],
                                               ["1", "10.1/a", "x", "Dune", "a"], ["2", "10.1/b", "x", "Emma", "b"],
                                               ["4", "10.1/d", "w", "Walden", "c"]])
    # id and doi: filled and unique on both sides; code repeats on the new side, title on the old one,
    # note is empty in old rows
    assert propose_keys(Side.export(old), Side.export(new), tmp_path) == {"t": [("id",), ("doi",)]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]


def test_long_documents_without_a_key_pair_rows_of_equal_content(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_MAX_ALIGNED", 3)
    old, new = batch_pair(tmp_path)
    result = tmp_path / "r.sqlite"
    summary = compare(Side.convert([old]), Side.convert([new]), result)
    [table] = summary.tables
    # a.xml is longer than 3 rows: book 3's changed year makes it one row removed and one added
    assert (table.rows_added, table.rows_removed, table.rows_changed, table.rows_same) == (2, 2, 0, 6)
    assert statuses(result) == [("same", "1"), ("added", "6"), ("added", "3"), ("same", "5"), ("same", "4"),
                                ("removed", "2"), ("removed", "3"), ("same", "10"), ("same", "11"), ("same", "12")]


def shuffled_pair(tmp_path, rows=3000):
    """Two CSV exports of ``rows`` rows keyed on id: every 7th row has a cell changed (every 21st two),
    every 50th row removed and as many added, one id repeated on the new side, a column removed, and
    the new side's rows in another order."""
    header = ["id", "a", "b", "c", "gone"]
    old_rows = [[str(i), f"a{i}", f"b{i}", f"c{i}", f"g{i}"] for i in range(rows)]
    new_rows = []
    for i, (key, a, b, c, _gone) in enumerate(old_rows):
        if i % 50 == 3:
            continue
        new_rows.append([key, a + "!" if i % 7 == 0 else a, b, c + "?" if i % 21 == 0 else c])
    new_rows += [[str(rows + i), "x", "y", "z"] for i in range(len(old_rows) - len(new_rows) - 1)]
    new_rows.append(["5", "twin", "b5", "c5"])
    new_rows = new_rows[1::2] + new_rows[::2]
    return (write_csv(tmp_path / "old", "t.csv", [header, *old_rows]),
            write_csv(tmp_path / "new", "t.csv", [header[:-1], *new_rows]))


def diff_contents(result):
    with sqlite3.connect(result) as conn:
        return (conn.execute("SELECT * FROM t1 ORDER BY rowid").fetchall(),
                conn.execute("SELECT * FROM cmp_cells ORDER BY tbl, row, col").fetchall())


def test_a_large_table_compares_its_cells_in_two_halves_alike(tmp_path):
    old, new = shuffled_pair(tmp_path)
    one_pass, halves = tmp_path / "one.sqlite", tmp_path / "halves.sqlite"
    summary = compare(Side.export(old), Side.export(new), one_pass, CompareOptions(key=("id",)))
    in_halves = compare(Side.export(old), Side.export(new), halves, CompareOptions(key=("id",), parallel_from_rows=1))
    [table] = in_halves.tables
    assert (table.rows_added, table.rows_removed, table.duplicate_keys) == (59, 60, 3)  # id 5: 1 old, 2 new
    # Rows 0, 7, 14 ... changed (but 203, 553 ... removed); 0, 21, 42 ... twice (but 903 and 1953 removed).
    assert (table.rows_changed, table.cells_changed, table.columns_removed) == (421, 562, ["gone"])
    assert in_halves.as_json() == summary.as_json()
    rows, cells_changed = diff_contents(halves)
    assert (rows, cells_changed) == diff_contents(one_pass)
    assert len(rows) == 3000 + 60 + 1 and {r[1] for r in rows} == {  # every new row, then removed and duplicate old
        "same", "changed", "added", "removed", "duplicate key (new)", "duplicate key (old)"}
    changed = {r[0] for r in rows if r[1] == "changed"}
    assert changed == {row for _tbl, row, _col, _old, _new in cells_changed}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    old, new = batch_pair(tmp_path)  # rows paired by document and sequence
    for result, rows in ((one_pass, 10 ** 9), (halves, 1)):
        result.unlink()
        compare(Side.convert([old]), Side.convert([new]), result, CompareOptions(parallel_from_rows=rows))
    assert diff_contents(halves) == diff_contents(one_pass)
    assert [c for _tbl, _row, c, _o, _n in diff_contents(halves)[1]] == [5]  # Ulysses' year


def test_a_cancel_seen_by_the_second_half_stops_the_compare_and_leaves_nothing(tmp_path):
    old, new = shuffled_pair(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CompareCancelled):
        compare(Side.export(old), Side.export(new), out / "r.sqlite", CompareOptions(key=("id",), parallel_from_rows=1),
                should_cancel=lambda: threading.current_thread().name == "ret-compare-cells")
    assert list(out.iterdir()) == []


def test_ragged_rows_of_an_export_are_padded_or_refused_wherever_they_stand(tmp_path):
    # The rows go to SQLite straight from the reader, many to a statement, until one has another
    # width than the header: then the file is read again row by row. The odd rows here stand among
    # 30,000 good ones (old side) and in the last few rows (new side, and the refused one).
    header = ["id", "title", "year"]
    good = [[str(i), f"t{i}", "2000"] for i in range(30_000)]
    old = write_csv(tmp_path / "old", "t.csv", [header] + good[:15_000] + [["30000", "short"], ["30001", "x", "1", ""]]
                    + good[15_000:])
    new = write_csv(tmp_path / "new", "t.csv", [header] + good + [["30000", "short", ""], ["30001", "x", "1"]])
    summary = compare(Side.export(old), Side.export(new), tmp_path / "r.sqlite", CompareOptions(key=("id",)))
    assert summary.same and summary.tables[0].rows_same == 30_002
    ragged = write_csv(tmp_path / "ragged", "t.csv", [header] + good + [["30000", "a", "1", "extra"]])
    with pytest.raises(CompareError, match="t: row 30002 has 4 fields, the header 3"):
        compare(Side.export(ragged), Side.export(new), tmp_path / "r2.sqlite", CompareOptions(key=("id",)))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_long_csv_side_tells_its_progress_in_bytes_and_a_cancel_stops_its_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("ret_desktop.core.compare.sides._PROGRESS_STEPS", 1000, raising=False)  # ~50 rows
    rows = [["id", "title", "year"]] + [[str(i), f"title {i}", "2000"] for i in range(5000)]
    old, new = write_csv(tmp_path / "old", "t.csv", rows), write_csv(tmp_path / "new", "t.csv", rows)
    size = (old / "t.csv").stat().st_size
    seen = []
    summary = compare(Side.export(old), Side.export(new), tmp_path / "r.sqlite", CompareOptions(key=("id",)),
                      on_progress=lambda done, total, current: seen.append((done, total, current)))
    reading = [done for done, total, current in seen if current == "reading old: t.csv"]
    assert summary.same and len(reading) > 10 and reading == sorted(reading) and 0 < reading[-2] < size
    out = tmp_path / "out"
    out.mkdir()
    seen.clear()
    with pytest.raises(CompareCancelled):
        compare(Side.export(old), Side.export(new), out / "r.sqlite", CompareOptions(key=("id",)),
                should_cancel=lambda: any(done > 0 for done, _total, _current in seen),
                on_progress=lambda done, total, current: seen.append((done, total, current)))
    assert {current for _done, _total, current in seen} == {"reading old: t.csv"}  # stopped while reading
    assert list(out.iterdir()) == []
