"""Conversion runs as a whole: progress, cancel, re-conversion, per-group record paths."""

from pathlib import Path

import pytest

from ret_desktop.core.convert import ConversionCancelled, ConvertOptions, convert_documents
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
