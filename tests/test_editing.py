"""Edits of workbook tables: every change journaled with it, undo/redo by step, crash-safe."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ret_desktop.core.workbook import Workbook, WorkbookError


@pytest.fixture
def workbook(tmp_path):
    with Workbook(tmp_path / "workbook.sqlite") as book:
        with book.transaction():
            writer = book.writer("T", "G", "/r/i")
            for n in range(1, 6):
                writer.add_row([("id", f"00{n}"), ("name", f"name {n}")])
        yield book


def rows(book, name="T"):
    return [list(row) for batch in book.iter_batches(name) for row in batch]


def test_cell_edits_keep_text_exactly_and_undo_redo_by_step(workbook):
    step = workbook.set_cells("T", [(1, 0, "007"), (2, 1, "  spaced  "), (3, 1, None)])
    assert rows(workbook)[:3] == [["007", "name 1"], ["002", "  spaced  "], ["003", ""]]
    workbook.set_cells("T", [(1, 0, "008")])
    undone = workbook.undo()
    assert undone.row_ids == [1] and rows(workbook)[0] == ["007", "name 1"]
    undone = workbook.undo()
    assert undone.step == step and sorted(undone.row_ids) == [1, 2, 3]
    assert rows(workbook)[:3] == [["001", "name 1"], ["002", "name 2"], ["003", "name 3"]]
    assert workbook.undo() is None
    assert workbook.redo().step == step and rows(workbook)[0] == ["007", "name 1"]
    workbook.set_cells("T", [(5, 0, "x")])  # a new edit: "008" can no longer be redone
    assert workbook.redo() is None
    assert [(e.row_id, e.column, e.old, e.new) for e in workbook.journal()] == [
        (1, "id", "001", "007"), (2, "name", "name 2", "  spaced  "), (3, "name", "name 3", None),
        (5, "id", "005", "x")]


def test_rows_inserted_between_others_keep_their_place_and_deleted_rows_come_back(workbook):
    new = workbook.insert_rows("T", 2, after=2)
    workbook.set_cells("T", [(new[0], 0, "new a"), (new[1], 0, "new b")])
    end = workbook.insert_rows("T")
    assert [r[0] for r in rows(workbook)] == ["001", "002", "new a", "new b", "003", "004", "005", ""]
    assert list(workbook.row_ids("T")) == [1, 2, *new, 3, 4, 5, *end]
    workbook.delete_rows("T", [2, new[0]])
    assert [r[0] for r in rows(workbook)] == ["001", "new b", "003", "004", "005", ""]
    workbook.undo()
    assert [r[0] for r in rows(workbook)] == ["001", "002", "new a", "new b", "003", "004", "005", ""]
    for _ in range(3):
        workbook.undo()
    assert rows(workbook) == [[f"00{n}", f"name {n}"] for n in range(1, 6)]
    assert workbook.info("T").rows == 5


def test_columns_and_new_tables_are_steps_too(workbook):
    position = workbook.add_column("T", "note")
    workbook.set_cells("T", [(1, position, "checked")])
    workbook.rename_column("T", 1, "title")
    assert workbook.columns("T") == ["id", "title", "note"] and rows(workbook)[0] == ["001", "name 1", "checked"]
    with pytest.raises(WorkbookError):
        workbook.add_column("T", "id")
    workbook.create_table("Extra", ["a", "b"])
    workbook.insert_rows("Extra")
    assert workbook.table_names() == ["T", "Extra"]
    for _ in range(2):
        workbook.undo()
    assert workbook.table_names() == ["T"] and workbook.columns("T") == ["id", "title", "note"]
    for _ in range(3):
        workbook.undo()
    assert workbook.columns("T") == ["id", "name"] and rows(workbook)[0] == ["001", "name 1"]
    for _ in range(5):
        workbook.redo()
    assert workbook.columns("T") == ["id", "title", "note"] and workbook.info("Extra").rows == 1


def test_reconverting_a_table_drops_its_edits(workbook):
    workbook.set_cells("T", [(1, 0, "edited")])
    workbook.drop_table("T")
    assert workbook.journal() == [] and workbook.undo() is None


EDIT_THEN_DIE = textwrap.dedent("""
    import os, sys
    from ret_desktop.core.workbook import Workbook
    book = Workbook(sys.argv[1])
    for n in range(1, 201):
        book.set_cells("T", [(n % 5 + 1, 1, f"edit {n}")])
        if n == 100:
            book.insert_rows("T", 1, after=1)
    print("edited", flush=True)
    sys.stdin.readline()  # killed here, with the connection open and nothing closed
""")


def test_every_committed_edit_survives_a_killed_process(tmp_path, workbook):
    workbook.close()
    child = subprocess.Popen([sys.executable, "-c", EDIT_THEN_DIE, str(tmp_path / "workbook.sqlite")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert child.stdout.readline().strip() == "edited"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with Workbook(tmp_path / "workbook.sqlite") as book:
        assert len(book.journal()) == 201
        assert [r[1] for r in rows(book)] == ["edit 200", "", "edit 196", "edit 197", "edit 198", "edit 199"]


def test_the_patch_log_lists_every_edit_in_effect(tmp_path, workbook):
    import csv

    from ret_desktop.core.export import write_patch_log

    workbook.set_cells("T", [(1, 0, "007")])
    workbook.set_cells("T", [(2, 1, 'a "quoted", value')])
    workbook.set_cells("T", [(3, 1, "undone")])
    workbook.undo()
    assert write_patch_log(tmp_path / "patch.csv", workbook.journal()) == 2
    with open(tmp_path / "patch.csv", newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["time", "table", "row", "column", "old value", "new value", "change"]
    assert [line[1:] for line in lines[1:]] == [["T", "1", "id", "001", "007", "cell"],
                                                ["T", "2", "name", "name 2", 'a "quoted", value', "cell"]]
    assert lines[1][0].endswith("+00:00")


def test_a_deleted_column_comes_back_with_its_values(workbook):
    workbook.add_column("T", "note")
    workbook.set_cells("T", [(2, 2, "kept")])
    workbook.delete_column("T", 0)
    assert workbook.columns("T") == ["name", "note"]
    assert rows(workbook)[1] == ["name 2", "kept"]
    workbook.set_cells("T", [(1, 1, "after")])  # positions moved left: "note" is column 1 now
    workbook.undo()
    workbook.undo()
    assert workbook.columns("T") == ["id", "name", "note"]
    assert rows(workbook)[:2] == [["001", "name 1", ""], ["002", "name 2", "kept"]]
    workbook.redo()
    assert workbook.columns("T") == ["name", "note"] and rows(workbook)[1] == ["name 2", "kept"]
    with pytest.raises(WorkbookError):
        workbook.delete_column("T", 5)


def test_rows_read_by_id_follow_the_columns_after_positions_were_added(workbook):
    workbook.insert_rows("T", 1, after=1)  # the table gets its pos column
    workbook.add_column("T", "note")  # a column after pos
    workbook.set_cells("T", [(1, 2, "n1")])
    assert workbook.rows_for_ids("T", [1, 6]) == {1: ("001", "name 1", "n1"), 6: (None, None, None)}


def test_one_step_groups_several_edits_into_one_undo(workbook):
    with workbook.one_step():
        new = workbook.insert_rows("T", 2)
        workbook.set_cells("T", [(new[0], 0, "a"), (new[1], 0, "b"), (1, 1, "x")])
    assert len(rows(workbook)) == 7
    workbook.undo()
    assert rows(workbook) == [[f"00{n}", f"name {n}"] for n in range(1, 6)]
    with pytest.raises(WorkbookError):
        with workbook.one_step():
            workbook.set_cells("T", [(1, 0, "kept?")])
            workbook.set_cells("T", [(99, 0, "no such row")])
    assert rows(workbook)[0] == ["001", "name 1"]  # the whole step was rolled back


def test_column_profiles_and_filtering_on_a_value(workbook):
    workbook.set_cells("T", [(1, 1, "same"), (2, 1, "same"), (3, 1, "")])
    profiles = {p.column: p for p in workbook.column_profiles("T", top=2)}
    assert (profiles["name"].rows, profiles["name"].filled, profiles["name"].distinct) == (5, 4, 3)
    assert profiles["name"].frequent == [("same", 2), ("name 4", 1)]
    assert list(workbook.row_ids("T", equals=(1, "same"))) == [1, 2]
    assert list(workbook.row_ids("T", equals=(1, ""))) == [3]
    assert list(workbook.row_ids("T", contains="00", equals=(1, "same"), sort_column=0, descending=True)) == [2, 1]


def test_edited_tables_are_those_with_edits_in_effect(workbook):
    assert workbook.edited_tables() == set()
    workbook.set_cells("T", [(1, 0, "x")])
    workbook.create_table("New", ["a"])
    assert workbook.edited_tables() == {"T", "New"}
    workbook.undo()
    workbook.undo()
    assert workbook.edited_tables() == set()


def test_a_writer_gives_out_the_row_ids_sqlite_stores(tmp_path):
    # The writer counts ids itself (the flattener needs them for trailers) and SQLite assigns them;
    # a flush checks the two agree, also after the last rows were deleted.
    with Workbook(tmp_path / "w.sqlite") as workbook:
        with workbook.transaction():
            writer = workbook.writer("T", "G", "/r")
            assert [writer.add_row([("a", str(i))]) for i in range(5)] == [1, 2, 3, 4, 5]
        workbook.delete_rows("T", [4, 5])
        with workbook.transaction():
            writer = workbook.writer("T", "G", "/r")
            assert writer.add_row([("b", "new column")]) == 4
        rows = [row for batch in workbook.iter_rows("T") for row in batch]
        assert rows == [(1, "0", None), (2, "1", None), (3, "2", None), (4, "", "new column")]


def test_clearing_a_cell_no_record_filled_is_no_edit(tmp_path):
    # Conversion stores such cells as '' and clearing sets None: both are empty, so nothing changed.
    with Workbook(tmp_path / "w.sqlite") as workbook:
        with workbook.transaction():
            writer = workbook.writer("T", "G", "/r")
            writer.add_row([("a", "1"), ("b", "x")])
            writer.add_row([("a", "2")])
        workbook.set_cells("T", [(2, 1, None), (1, 1, None)])
        assert [(e.row_id, e.column, e.old, e.new) for e in workbook.journal()] == [(1, "b", "x", None)]


def test_a_deleted_column_journals_only_its_filled_cells(tmp_path):
    with Workbook(tmp_path / "w.sqlite") as workbook:
        with workbook.transaction():
            writer = workbook.writer("T", "G", "/r")
            writer.add_row([("a", "1"), ("b", "x")])
            for n in range(2, 50):
                writer.add_row([("a", str(n))])  # b stays empty
        workbook.delete_column("T", 1)
        (entry,) = workbook.journal()
        assert entry.op == "delete_column" and json.loads(entry.old) == {"1": "x"}
        workbook.undo()
        assert [row[2] for batch in workbook.iter_rows("T") for row in batch][:3] == ["x", None, None]
