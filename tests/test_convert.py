"""Conversion runs as a whole: progress, cancel, re-conversion, per-group record paths, the CSV copy."""

import csv
from pathlib import Path

import pytest

from ret_desktop.core.convert import (
    ConversionCancelled,
    ConvertOptions,
    convert_documents,
    describe_groups,
    export_tables,
    export_zip,
)
from ret_desktop.core.export import ExportCancelled, write_csv
from ret_desktop.core.importing import take_in
from ret_desktop.core.workbook import Workbook

DATA = Path(__file__).parent / "data"


@pytest.fixture
def intake(tmp_path):
    return take_in([DATA / "library_1mb.xml", DATA / "4_test-examples.zip"], tmp_path / "extracted")


def test_progress_reaches_the_total_and_names_documents(tmp_path, intake):
    seen = []
    with Workbook(tmp_path / "w.sqlite") as workbook:
        convert_documents(intake, workbook, on_progress=lambda done, total, current: seen.append((done, total, current)))
    assert seen[-1][0] == seen[-1][1] == sum(d.size for d in intake.documents)
    assert [done for done, _, _ in seen] == sorted(done for done, _, _ in seen)
    assert {current for _, _, current in seen} == {d.display for d in intake.documents}


def test_a_cancelled_conversion_leaves_the_workbook_as_it_was(tmp_path, intake):
    with Workbook(tmp_path / "w.sqlite") as workbook:
        first = convert_documents(intake, workbook, ConvertOptions(record_path="/doi_batch/head"))
        before = {t.name: t.rows for t in first.tables}
        calls = iter(range(10**6))
        with pytest.raises(ConversionCancelled):
            convert_documents(intake, workbook, should_cancel=lambda: next(calls) > 30)
        assert {name: workbook.info(name).rows for name in workbook.table_names()} == before


def test_converting_again_replaces_tables_of_the_same_name(tmp_path, intake):
    with Workbook(tmp_path / "w.sqlite") as workbook:
        convert_documents(intake, workbook)
        again = convert_documents(intake, workbook)
        assert sorted(workbook.table_names()) == sorted(t.name for t in again.tables)
        assert workbook.info("LIBRARY").rows == 6401


def test_record_path_per_group(tmp_path, intake):
    options = ConvertOptions(record_paths={"TEST-EXAMPLES": "/doi_batch/head/depositor"})
    with Workbook(tmp_path / "w.sqlite") as workbook:
        result = convert_documents(intake, workbook, options)
    paths = {t.name: t.record_path for t in result.tables}
    assert paths == {"LIBRARY": "/library/book", "TEST-EXAMPLES": "/doi_batch/head/depositor"}


def test_describe_groups_gives_element_paths_with_counts_and_the_detected_record(intake):
    described = describe_groups(intake)
    library = described["LIBRARY"]
    assert library.detected == "/library/book" and library.documents == 1
    book = next(p for p in library.paths if p.display == "/library/book")
    assert (book.count, book.max_siblings, round(book.share, 2)) == (6401, 6401, 1.0)
    assert [p.display for p in library.paths][:2] == ["/library", "/library/book"]  # parents first
    crossref = described["TEST-EXAMPLES"]
    assert crossref.documents == 8 and not crossref.failed
    # two namespace versions of the schema, merged by the path as written
    assert [(p.display, p.count, round(p.share, 2)) for p in crossref.paths[:3]] == [
        ("/doi_batch", 8, 1.0), ("/doi_batch/head", 8, 0.05), ("/doi_batch/head/doi_batch_id", 8, 0.01)]
    assert crossref.detected is None  # no one path fits all eight: each document's own is used
    assert list(describe_groups(intake, groups=["LIBRARY", "NO SUCH"])) == ["LIBRARY"]


def test_a_cancelled_zip_export_leaves_nothing_behind(tmp_path, intake):
    out = tmp_path / "out"
    out.mkdir()
    with Workbook(tmp_path / "w.sqlite") as workbook:
        result = convert_documents(intake, workbook)
        calls = []
        with pytest.raises(ExportCancelled):
            export_zip(workbook, result.tables, out / "all.zip", ("csv", "xlsx"),
                       should_cancel=lambda: calls.append(1) or len(calls) > 3)
        assert list(out.iterdir()) == []
        export_zip(workbook, result.tables, out / "all.zip", ("csv",))
    assert [p.name for p in out.iterdir()] == ["all.zip"]


def test_renaming_a_group_onto_another_merges_them(intake):
    assert intake.rename_group("LIBRARY", " TEST-EXAMPLES ") == 1
    assert list(intake.groups) == ["TEST-EXAMPLES"] and len(intake.groups["TEST-EXAMPLES"]) == 9
    with pytest.raises(ValueError):
        intake.rename_group("TEST-EXAMPLES", "  ")


# The CSV copy a conversion keeps of each new table, so an export right after it does not read the
# table back: what it writes must be byte for byte what reading back writes, and it must step aside
# whenever the rows it copied are no longer the table's rows.

def _conversion_with_csv_copies(tmp_path, documents, options=ConvertOptions()):
    """Convert ``documents`` ({name: xml text}) with CSV copies kept; returns (workbook, result)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in documents.items():
        (folder / name).write_text(text, encoding="utf-8")
    report = take_in([folder / name for name in documents], tmp_path / "extracted")
    workbook = Workbook(tmp_path / "workbook.sqlite", scratch=True)
    workbook.keep_csv_copies(tmp_path)
    return workbook, convert_documents(report, workbook, options)


def _read_back_csv(workbook, name, path, bom=False):
    write_csv(path, workbook.columns(name), workbook.iter_batches(name), bom=bom)
    return path.read_bytes()


def _rows(n, count=20):
    return "".join(f"<i><a>{n}-{k}</a></i>" for k in range(count))


@pytest.mark.parametrize("bom", [False, True])
def test_the_csv_copy_equals_reading_the_table_back(tmp_path, bom):
    # Columns appear late (b, then c and @x), and values need quoting: a comma, a quote, a line break.
    records = ["<i><a>1</a></i>", "<i><a>2</a><b>late, with a comma</b></i>",
               '<i><a>say "hi"</a><c x="1">line\nbreak</c></i>', "<i><a>4</a><b>multi\r\nline</b></i>"]
    records += [f"<i><a>{n}</a><b>{n}</b></i>" for n in range(5, 3000)]
    workbook, result = _conversion_with_csv_copies(tmp_path, {"DOC_1.xml": f"<r>{''.join(records)}</r>"})
    with workbook:
        (table,) = result.tables
        copy = workbook.csv_copy(table.name)
        assert copy is not None and copy.copyable(len(table.columns))
        assert copy.write_csv(tmp_path / "copied.csv", workbook.columns(table.name), bom=bom) == 2999
        assert (tmp_path / "copied.csv").read_bytes() == _read_back_csv(workbook, table.name, tmp_path / "read.csv", bom)
        files = export_tables(workbook, result.tables, tmp_path / "out", ("csv",), bom=bom)
        assert files[0].read_bytes() == (tmp_path / "read.csv").read_bytes()


def test_a_short_row_with_a_line_break_is_read_back_instead(tmp_path):
    # A value with a line break in rows written before a column existed (in a batch before it: the
    # rows of one batch all get every column): padding at line ends would be wrong there, so the
    # export reads the table back.
    records = ["<i><a>one\ntwo</a></i>"] * 2010 + ["<i><a>3</a><b>late</b></i>"]
    workbook, result = _conversion_with_csv_copies(tmp_path, {"DOC_1.xml": f"<r>{''.join(records)}</r>"})
    with workbook:
        (table,) = result.tables
        assert not workbook.csv_copy(table.name).copyable(len(table.columns))
        (exported,) = export_tables(workbook, result.tables, tmp_path / "out", ("csv",))
        with open(exported, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert rows[1][2:] == ["one\ntwo", ""] and rows[-1][2:] == ["3", "late"]


def test_the_copy_is_dropped_when_the_rows_change(tmp_path):
    workbook, result = _conversion_with_csv_copies(tmp_path, {"DOC_1.xml": f"<r>{_rows(1)}</r>"})
    with workbook:
        (table,) = result.tables
        assert workbook.csv_copy(table.name) is not None
        workbook.set_cells(table.name, [(1, 2, "edited")])
        assert workbook.csv_copy(table.name) is None
        (exported,) = export_tables(workbook, result.tables, tmp_path / "out", ("csv",))
        assert "edited" in exported.read_text(encoding="utf-8")


def test_no_copy_after_a_trailer_or_a_failed_document(tmp_path):
    # A trailer is written back onto rows already written; a malformed document's rows are rolled
    # back. Either way the rows copied are not the table's, and the export reads the table back.
    documents = {"DOC_1.xml": f"<r>{_rows(1)}<note>after</note></r>"}
    (tmp_path / "trailer").mkdir()
    workbook, result = _conversion_with_csv_copies(tmp_path / "trailer", documents)
    with workbook:
        (table,) = result.tables
        assert workbook.csv_copy(table.name) is None
        (exported,) = export_tables(workbook, result.tables, tmp_path / "out", ("csv",))
        assert exported.read_text(encoding="utf-8").count("after") == 20
    documents = {"DOC_1.xml": f"<r>{_rows(1)}</r>", "DOC_2.xml": f"<r>{_rows(2, 9000)}<i><a>broken</i></r>"}
    (tmp_path / "failed").mkdir()  # detection reads only the start: the break is found while converting
    workbook, result = _conversion_with_csv_copies(tmp_path / "failed", documents, ConvertOptions(detect_bytes=100))
    with workbook:
        assert [f.status for f in result.files] == ["ok", "failed"]
        (table,) = result.tables
        assert workbook.csv_copy(table.name) is None
        (exported,) = export_tables(workbook, result.tables, tmp_path / "out2", ("csv",))
        text = exported.read_text(encoding="utf-8")
        assert "1-19" in text and "2-0" not in text and len(text.splitlines()) == 21


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_copy_that_cannot_be_written_is_dropped_and_nothing_else_fails(tmp_path):
    # The copy's file is /dev/full: every write fails with "No space left on device".
    (tmp_path / "t1.csv").symlink_to("/dev/full")
    workbook, result = _conversion_with_csv_copies(tmp_path, {"DOC_1.xml": f"<r>{_rows(1, 3000)}</r>"})
    with workbook:
        assert [f.status for f in result.files] == ["ok"]
        (table,) = result.tables
        assert workbook.csv_copy(table.name) is None
        (exported,) = export_tables(workbook, result.tables, tmp_path / "out", ("csv",))
        assert len(exported.read_text(encoding="utf-8").splitlines()) == 3001
