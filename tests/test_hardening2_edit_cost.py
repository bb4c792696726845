"""The work of one edit does not grow with the journal: a typed cell with the Undo/Redo state the
window shows after it, and a small paste with its edited-cell marks, cost the same number of SQLite
instructions after 20,000 journaled edits as after none (they read the whole journal before)."""

from ret_desktop.core.workbook import Workbook
from ret_desktop.gui.table_model import WorkbookTableModel

ROWS = 200


def sqlite_instructions(workbook: Workbook, work) -> int:
    """How many SQLite virtual machine instructions ``work()`` runs on ``workbook``'s connection."""
    count = [0]

    def counted() -> int:
        count[0] += 1
        return 0  # go on

    workbook._conn.set_progress_handler(counted, 1)
    try:
        work()
    finally:
        workbook._conn.set_progress_handler(None, 1)
    return count[0]


def edit_costs(workbook: Workbook, n: int) -> tuple[int, int]:
    model = WorkbookTableModel(workbook, "T")

    def typed() -> None:
        assert model.setData(model.index(n, 1), f"typed {n}")
        assert workbook.history() == (True, False)

    def pasted() -> None:
        assert model.paste(ROWS - 1, 0, [[f"a{n}", f"b{n}"], [f"c{n}", f"d{n}"]]) == 4  # past the end the first time: a row is added
        assert workbook.history() == (True, False)

    costs = sqlite_instructions(workbook, typed), sqlite_instructions(workbook, pasted)
    assert model.original_value(n, 1) == f"v{n}.1" and model.original_value(ROWS, 0) == ""  # marked
    model.wait()
    return costs


def test_an_edit_and_a_small_paste_cost_the_same_however_long_the_journal_is(tmp_path, qapp):
    with Workbook(tmp_path / "workbook.sqlite") as workbook:
        with workbook.transaction():
            writer = workbook.writer("T", "G", "/r/i")
            for row in range(ROWS):
                writer.add_row([(f"c{column}", f"v{row}.{column}") for column in range(4)])
        first = edit_costs(workbook, 0)
        for batch in range(20):  # 20 pastes of 1,000 cells
            workbook.set_cells("T", [(1 + cell // 4 % ROWS, cell % 4, f"p{batch}.{cell}") for cell in range(1000)])
        assert len(workbook.journal()) > 20_000
        later = edit_costs(workbook, 1)

    assert later[0] < first[0] * 1.5, (first, later)
    assert later[1] < first[1] * 1.5, (first, later)
