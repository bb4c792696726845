"""Rapid entry on a 1,000,000-row × 20-column table (issue #5): first screen, a cell edit committed and
shown, a search across the table, the undo of a 10,000-cell paste.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_editing.py [--rows 1000000]

Targets: first screen < 1 s, edit < 20 ms, search < 200 ms, undo of the paste < 1 s.
References measured in the same run on the same file: a bare SQLite UPDATE + commit, and a bare FTS5
query; so the overhead of the app over SQLite itself is visible whatever the machine.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from bench_gui import COLUMNS, build_table  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from ret_desktop.core.search import SearchIndex  # noqa: E402
from ret_desktop.core.workbook import Workbook  # noqa: E402
from ret_desktop.gui.table_model import WorkbookTableModel  # noqa: E402
from ret_desktop.gui.table_view import EntryTableView  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="ret-bench-edit-") as scratch:
        path = Path(scratch) / "workbook.sqlite"
        print(f"building a {args.rows:,} × {COLUMNS} table …", flush=True)
        build_table(path, args.rows)
        workbook = Workbook(path)
        view = EntryTableView()
        view.resize(1200, 800)
        view.show()

        started = time.perf_counter()
        model = WorkbookTableModel(workbook, "big")
        view.setModel(model)
        view.viewport().grab()
        print(f"first screen: {ms(time.perf_counter() - started)} (target < 1000 ms)")

        def timed_edits(label: str) -> list[float]:
            """Seconds of 50 cell edits, each committed and shown."""
            seconds = []
            for n in range(50):
                started = time.perf_counter()
                model.setData(model.index(n, 3), f"{label} {n}")
                workbook.history()  # the window's Undo / Redo state, after every edit
                view.viewport().repaint(view.visualRect(model.index(n, 3)))  # shown: the cell is painted again
                seconds.append(time.perf_counter() - started)
            return seconds

        def reload_shown() -> None:
            model.reload()
            while model.busy:
                QApplication.processEvents()

        def timed_paste_and_undo(row: int, grid: list[list[str]]) -> tuple[int, float, float]:
            """Cells pasted at ``row``, seconds of the paste, and of its undo until shown."""
            started = time.perf_counter()
            pasted = model.paste(row, 0, grid)
            paste_s = time.perf_counter() - started
            started = time.perf_counter()
            workbook.undo()
            reload_shown()
            view.viewport().grab()
            return pasted, paste_s, time.perf_counter() - started

        edits = timed_edits("edited")
        bare = []
        with sqlite3.connect(path, isolation_level=None) as conn:
            conn.execute("PRAGMA synchronous=NORMAL")  # as the workbook's own connection
            for n in range(50):
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE t1 SET c5 = ? WHERE rowid = ?", (f"bare {n}", n + 1))
                conn.execute("COMMIT")
                bare.append(time.perf_counter() - started)
        print(f"cell edit committed and shown: median {ms(statistics.median(edits))}, worst {ms(max(edits))} "
              f"(target < 20 ms); bare SQLite UPDATE + commit: median {ms(statistics.median(bare))}")

        print("indexing for search …", flush=True)
        index = SearchIndex(Path(scratch) / "ai_index" / "search.sqlite")
        started = time.perf_counter()
        index.index_tables(workbook, ["big"])
        print(f"index built in {time.perf_counter() - started:.1f} s (a job, off the GUI thread)")
        searches, raw = [], []
        for word in ("value", "edited", "123456", "77", "value 999"):
            started = time.perf_counter()
            hits = index.search(workbook, word)
            searches.append(time.perf_counter() - started)
            started = time.perf_counter()
            with sqlite3.connect(index.path) as conn:
                conn.execute("SELECT rowid FROM cells WHERE cells MATCH ? LIMIT 200", (f'"{word}"*',)).fetchall()
            raw.append(time.perf_counter() - started)
            print(f"  search {word!r}: {len(hits)} cells in {ms(searches[-1])}")
        print(f"search answered: median {ms(statistics.median(searches))}, worst {ms(max(searches))} "
              f"(target < 200 ms); bare FTS5 query: median {ms(statistics.median(raw))}")

        grid = [[f"p{r}.{c}" for c in range(COLUMNS)] for r in range(10_000 // COLUMNS)]
        pasted, paste_s, undo_s = timed_paste_and_undo(1000, grid)
        print(f"paste of {pasted:,} cells: {paste_s:.2f} s; its undo, shown: {undo_s:.2f} s (target < 1 s)")

        print("journaling 200,000 more cell edits …", flush=True)  # a long session of rapid entry
        ids = workbook.row_ids("big")
        for batch in range(20):
            cells = range(batch * 10_000, (batch + 1) * 10_000)
            workbook.set_cells("big", [(ids[cell // COLUMNS], cell % COLUMNS, f"j{cell}") for cell in cells])
        reload_shown()
        late = timed_edits("late")
        _cells, small_paste_s, small_undo_s = timed_paste_and_undo(5000, [["a", "b"], ["c", "d"]])
        print(f"after {len(workbook.journal()):,} journaled edits: cell edit median {ms(statistics.median(late))}, "
              f"worst {ms(max(late))} (with an empty journal: median {ms(statistics.median(edits))}); "
              f"a 4-cell paste {ms(small_paste_s)}, its undo, shown: {ms(small_undo_s)}")
        index.close()
        view.setModel(None)
        model.wait()
        workbook.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
