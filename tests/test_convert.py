"""Conversion runs as a whole: progress, cancel, re-conversion, per-group record paths."""

from pathlib import Path

import pytest

from ret_desktop.core.convert import ConversionCancelled, ConvertOptions, convert_documents, describe_groups, export_zip
from ret_desktop.core.export import ExportCancelled
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
