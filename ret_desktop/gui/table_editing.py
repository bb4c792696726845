"""Editing actions of the main window: undo/redo, rows, fill down, copy/paste, columns, new tables,
the patch log. Every change goes through the workbook model, so it is journaled before it shows."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from ret_desktop.core.export import neutralise_formula, write_patch_log
from ret_desktop.core.text import counted
from ret_desktop.core.workbook import WorkbookError
from ret_desktop.gui.actions import make_action
from ret_desktop.gui.messages import workbook_error
from ret_desktop.gui.session import SessionController
from ret_desktop.gui.table_model import WorkbookTableModel
from ret_desktop.gui.table_view import EntryTableView


def _spreadsheet_cell(value: str) -> str:
    """A value as one cell of tab-separated text: quoted, as a spreadsheet's own copy quotes it, when
    it holds a tab or line break (else the rest is a cell of its own, maybe a live formula) or starts
    with a quote."""
    if "\t" in value or "\n" in value or "\r" in value or value.startswith('"'):
        return '"' + value.replace('"', '""') + '"'
    return value


class TableEditor(QObject):
    """The editing actions of ``view``; those that do not need the table's focus belong to ``owner``
    (the window), whose keys they use."""

    def __init__(self, controller: SessionController, view: EntryTableView, owner: QWidget) -> None:
        super().__init__(owner)
        self.controller = controller
        self.owner = owner
        self.view = view
        self.view.clear_requested = self.clear_selection
        self.csv_raw = lambda: False  # set by the window: write CSV values as stored (the export option)
        self.export_folder = lambda: ""  # set by the window: where a saved file goes first
        self._copied: tuple[str, list[list[str]]] | None = None  # the last copy's text, and its cells as stored
        self.actions: list[QAction] = []
        self.undo = self._action("actionUndo", "&Undo", [QKeySequence.StandardKey.Undo], self.undo_step)
        self.redo = self._action("actionRedo", "&Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], self.redo_step)
        # Keys that other widgets use too (Ctrl+C in the filter box) work while the table has the focus.
        self.insert_row = self._action("actionInsertRow", "&Insert row below", ["Ctrl+I"], self.insert_below,
                                       in_table=True)
        self.append_row = self._action("actionAppendRow", "Add row at the &end", ["Ctrl+Shift+I"],
                                       self.insert_at_end, in_table=True)
        self.delete_rows = self._action("actionDeleteRows", "&Delete rows", ["Ctrl+-"], self.delete_selected_rows,
                                        in_table=True)
        self.fill_down = self._action("actionFillDown", "&Fill down", ["Ctrl+D"], self.fill_selection_down,
                                      in_table=True)
        self.copy = self._action("actionCopy", "&Copy", [QKeySequence.StandardKey.Copy], self.copy_selection,
                                 in_table=True)
        self.paste = self._action("actionPaste", "&Paste", [QKeySequence.StandardKey.Paste], self.paste_clipboard,
                                  in_table=True)
        self.add_column = self._action("actionAddColumn", "Add &column…", [], self.ask_add_column)
        self.rename_column = self._action("actionRenameColumn", "Re&name column…", [], self.ask_rename_column)
        self.delete_column = self._action("actionDeleteColumn", "Delete co&lumn", [], self.remove_column)
        self.new_table = self._action("actionNewTable", "&New table…", ["Ctrl+Shift+N"], self.ask_new_table)
        self.export_patch_log = self._action("actionExportPatchLog", "Export &patch log…", [], self.ask_patch_log)
        for signal in (controller.rows_changed, controller.table_changed, controller.tables_listed,
                       controller.session_started, controller.session_ended):
            signal.connect(self.show_history)
        controller.session_ended.connect(self._forget_copy)
        self.show_history()

    def _forget_copy(self, *_args) -> None:
        self._copied = None  # the session's values go with it

    def show_history(self, *_args) -> None:
        """Undo and Redo are enabled only when there is a step to take back or to do again."""
        workbook = self.controller.read_workbook
        can_undo, can_redo = workbook.history() if workbook is not None else (False, False)
        self.undo.setEnabled(can_undo)
        self.redo.setEnabled(can_redo)

    def _action(self, name: str, text: str, shortcuts: list, slot, in_table: bool = False) -> QAction:
        """An editing action; with ``in_table`` its keys work while the table has the focus, and it is
        in the table's context menu."""
        action = make_action(self.view if in_table else self.owner, name, text, shortcuts, slot, local=in_table)
        self.actions.append(action)
        return action

    # -- what is being edited
    def _model(self) -> WorkbookTableModel | None:
        model = self.view.model()
        if not isinstance(model, WorkbookTableModel):
            self.controller.refresh_status("Open a table first: click one in the Tables list.")
            return None
        return model

    def _selected_cells(self) -> list[tuple[int, int]]:
        return sorted((i.row(), i.column()) for i in self.view.selectionModel().selectedIndexes())

    # -- rows and cells
    def clear_selection(self) -> None:
        model = self._model()
        if model is not None:
            model.set_values([(row, column, None) for row, column in self._selected_cells()])

    def insert_below(self) -> None:
        model = self._model()
        if model is None:
            return
        current = self.view.currentIndex()
        at = model.insert_rows(current.row() if current.isValid() else None)
        if at is not None:
            self.view.setCurrentIndex(model.index(at, max(current.column(), 0)))

    def insert_at_end(self) -> None:
        model = self._model()
        if model is None:
            return
        at = model.insert_rows(None)
        if at is not None:
            self.view.setCurrentIndex(model.index(at, 0))
            self.view.scrollTo(model.index(at, 0))

    def delete_selected_rows(self) -> None:
        model = self._model()
        if model is not None:
            rows = sorted({row for row, _ in self._selected_cells()})
            if rows and model.delete_rows(rows):
                self.controller.refresh_status(f"Deleted {counted(len(rows), 'row')} (Ctrl+Z brings "
                                               f"{'it' if len(rows) == 1 else 'them'} back).")

    def fill_selection_down(self) -> None:
        """Each selected column takes the value of its top selected cell (one row selected: of the row above)."""
        model = self._model()
        if model is None:
            return
        cells = self._selected_cells()
        by_column: dict[int, list[int]] = {}
        for row, column in cells:
            by_column.setdefault(column, []).append(row)
        changes = []
        for column, rows in by_column.items():
            source = rows[0] - 1 if len(rows) == 1 else rows[0]
            if source < 0:
                continue
            value = model.index(source, column).data(Qt.ItemDataRole.EditRole)
            changes += [(row, column, value) for row in rows if row != source]
        model.set_values(changes)

    def copy_selection(self) -> None:
        """The selected cells as tab-separated text for a spreadsheet, with the values it would run
        as formulas neutralised as the CSV export does (unless its "as stored" option is on), and as
        they are for a paste back into this app."""
        model = self._model()
        cells = self._selected_cells()
        if model is None or not cells:
            return
        rows = sorted({r for r, _ in cells})
        columns = sorted({c for _, c in cells})
        grid = [[model.index(r, c).data() or "" for c in columns] for r in rows]
        shown = grid if self.csv_raw() else [[neutralise_formula(value) for value in line] for line in grid]
        text = "\n".join("\t".join(map(_spreadsheet_cell, line)) for line in shown) + "\n"
        self._copied = (text, grid)
        QGuiApplication.clipboard().setText(text)

    def paste_clipboard(self) -> None:
        """Cells copied here, or tab-separated text (from a spreadsheet), into the cells from the
        current one on, as one step; rows past the end of the table are added."""
        model = self._model()
        text = QGuiApplication.clipboard().text()
        current = self.view.currentIndex()
        if model is None or not text or not current.isValid():
            return
        if self._copied is not None and self._copied[0] == text:  # still what was copied here: as stored
            grid = self._copied[1]
        else:
            grid = [line.split("\t") for line in text.replace("\r\n", "\n").rstrip("\n").split("\n")]
        pasted = model.paste(current.row(), current.column(), grid)
        left_out = sum(len(line) for line in grid) - pasted if pasted else 0
        if left_out:
            self.controller.refresh_status(f"Pasted {counted(pasted, 'cell')}; {counted(left_out, 'cell')} past the "
                                           "last column were left out (add columns first to keep them).")
        elif pasted:
            self.controller.refresh_status(f"Pasted {counted(pasted, 'cell')}.")

    # -- columns and tables
    def _current_column(self) -> int | None:
        current = self.view.currentIndex()
        return current.column() if current.isValid() else None

    def ask_add_column(self) -> None:
        model = self._model()
        if model is None:
            return
        name, ok = QInputDialog.getText(self.owner, "Add column", "Name of the new column:")
        if ok:
            model.change_columns(lambda: model.workbook.add_column(model.table, name))

    def ask_rename_column(self) -> None:
        model, column = self._model(), self._current_column()
        if model is None or column is None:
            return
        old = model.columns[column]
        name, ok = QInputDialog.getText(self.owner, "Rename column", f"New name for {old}:", text=old)
        if ok:
            model.change_columns(lambda: model.workbook.rename_column(model.table, column, name))

    def remove_column(self) -> None:
        model, column = self._model(), self._current_column()
        if model is not None and column is not None:
            model.change_columns(lambda: model.workbook.delete_column(model.table, column))

    def ask_new_table(self) -> None:
        workbook = self.controller.read_workbook
        if workbook is None:
            return
        name, ok = QInputDialog.getText(self.owner, "New table", "Name of the new table:")
        if not ok:
            return
        headers, ok = QInputDialog.getText(self.owner, "New table", "Column names, separated by commas:")
        if not ok:
            return
        try:
            workbook.create_table(name, headers.split(","))
        except (WorkbookError, sqlite3.Error) as error:
            self.controller.refresh_status(f"No new table was made: {workbook_error(error)}.")
            return
        self.controller.change_table(name.strip())

    # -- history
    def undo_step(self) -> None:
        self._travel(self.controller.read_workbook.undo if self.controller.read_workbook else None, "Undid", "undo")

    def redo_step(self) -> None:
        self._travel(self.controller.read_workbook.redo if self.controller.read_workbook else None, "Redid", "redo")

    def _travel(self, move, verb: str, noun: str) -> None:
        if move is None:
            return
        try:
            edit = move()
        except (WorkbookError, sqlite3.Error) as error:
            self.controller.refresh_status(f"Could not {noun}: {workbook_error(error)}.")
            return
        if edit is None:
            self.controller.refresh_status(f"Nothing to {noun}.")
            return
        self.controller.change_table(edit.table, edit.row_ids if edit.op in ("cell", "insert", "delete") else None)
        self.controller.refresh_status(f"{verb} a change to table {edit.table}.")

    def ask_patch_log(self) -> None:
        workbook = self.controller.read_workbook
        if workbook is None:
            return
        path, _filter = QFileDialog.getSaveFileName(self.owner, "Export patch log",
                                                    str(Path(self.export_folder()) / "patch-log.csv"), "CSV (*.csv)")
        if not path:
            return
        try:
            count = write_patch_log(Path(path), workbook.journal(), raw=self.csv_raw())
        except OSError as error:
            self.controller.refresh_status(f"The patch log was not written: {error.strerror or error}. "
                                           "Choose another folder.")
            return
        self.controller.refresh_status(f"Wrote {counted(count, 'edit')} to {path}.")
