"""Full-text search over every table of a session, kept current with edits."""

import pytest

from ret_desktop.core.search import SearchCancelled, SearchIndex
from ret_desktop.core.workbook import Workbook


@pytest.fixture
def workbook(tmp_path):
    with Workbook(tmp_path / "workbook.sqlite") as book:
        with book.transaction():
            people = book.writer("People", "G", "/p")
            people.add_row([("name", "Zoë Müller"), ("city", "Zürich")])
            people.add_row([("name", "Anna Smith"), ("city", "Bern")])
            books = book.writer("Books", "G", "/b")
            books.add_row([("title", "Smithing for beginners"), ("year", "2001")])
        yield book


def test_search_finds_cells_by_word_prefix_ignoring_case_and_accents(tmp_path, workbook):
    index = SearchIndex(tmp_path / "ai_index" / "search.sqlite")
    assert index.index_tables(workbook, workbook.table_names()) == 3
    assert [(h.table, h.row_id, h.column, h.text) for h in index.search(workbook, "smith")] == [
        ("People", 2, "name", "Anna Smith"), ("Books", 1, "title", "Smithing for beginners")]
    assert [h.text for h in index.search(workbook, "zoe")] == ["Zoë Müller"]
    assert [h.text for h in index.search(workbook, "anna bern")] == ["Anna Smith", "Bern"]
    assert index.search(workbook, "  ") == [] and index.search(workbook, '"') == []
    index.close()


def test_the_index_follows_edits_and_undo(tmp_path, workbook):
    index = SearchIndex(tmp_path / "search.sqlite")
    index.index_tables(workbook, workbook.table_names())
    workbook.set_cells("People", [(1, 1, "Geneva")])
    index.update_rows(workbook, "People", [1])
    assert [h.text for h in index.search(workbook, "geneva")] == ["Geneva"]
    assert index.search(workbook, "zurich") == []
    workbook.delete_rows("People", [2])
    index.update_rows(workbook, "People", [2])
    assert [h.table for h in index.search(workbook, "smith")] == ["Books"]
    edit = workbook.undo()
    index.update_rows(workbook, edit.table, edit.row_ids)
    assert [h.table for h in index.search(workbook, "smith")] == ["People", "Books"]
    index.forget_table("Books")
    assert [h.table for h in index.search(workbook, "smith")] == ["People"]


def test_a_cancelled_build_keeps_what_was_there(tmp_path, workbook):
    index = SearchIndex(tmp_path / "search.sqlite")
    index.index_tables(workbook, ["People"])
    with pytest.raises(SearchCancelled):
        index.index_tables(workbook, ["People"], should_cancel=lambda: True)
    assert [h.text for h in index.search(workbook, "anna")] == ["Anna Smith"]


def test_building_reports_rows_done_of_all(tmp_path, workbook):
    seen = []
    SearchIndex(tmp_path / "search.sqlite").index_tables(workbook, ["People", "Books"],
                                                         on_progress=lambda *args: seen.append(args))
    assert seen[0] == (0, 3, "People") and seen[-1] == (3, 3, "Books")
