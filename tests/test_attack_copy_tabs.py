"""Ctrl+C's formula neutralisation looks at a value's first character; a tab or a line break inside a
value ended the cell in the spreadsheet the text is pasted into, so ``a<TAB>=cmd|…`` arrived as a
plain ``a`` and a live formula. Such a value is quoted as a spreadsheet's own copy quotes it."""

import csv
import io

from PySide6.QtCore import Qt
from test_gui import open_library_table
from test_hardening2_copy import copy_cells

SPLIT = ["a\t=cmd|' /c calc'!A1", "b\n=HYPERLINK(\"http://attacker.example\")", "c\r\n+1+1", '"quoted" =1', "plain"]


def test_a_value_holding_a_tab_or_line_break_stays_one_neutral_cell_in_a_spreadsheet(app, qtbot, monkeypatch):
    view, model = open_library_table(app, qtbot, monkeypatch)
    title = model.columns.index("title")
    assert model.paste(0, title, [[value] for value in SPLIT]) == len(SPLIT)

    text = copy_cells(view, model, range(len(SPLIT)), title, qtbot)

    assert list(csv.reader(io.StringIO(text, newline=""), delimiter="\t")) == [[value] for value in SPLIT]
    view.setCurrentIndex(model.index(100, title))  # a paste back into the app keeps the values exactly
    qtbot.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert [model.index(100 + row, title).data() for row in range(len(SPLIT))] == SPLIT
