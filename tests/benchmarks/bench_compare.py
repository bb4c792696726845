"""``ret-desktop compare`` against csv-diff, datacompy, a pandas merge and daff, measured in one run.

    python -m pip install -e '.[bench]' && python tests/benchmarks/bench_compare.py [--rows 1000000]
        [--repeat 3] [--daff-rows 100000] [--data DIR] [--skip-peers]

Inputs (generated, deterministic, kept in --data for the next run): two CSV exports of ROWS x 20
columns keyed on ``id``; the new one has 1% of its cells changed, 0.5% of the rows removed and as many
added, and its rows shuffled. Each tool runs in a child process of its own, whole: reading both files,
pairing, comparing, producing its result (ours: ``ret-desktop compare --key id --format csv``, with the
daff CSV and patch CSV written). The tools run interleaved, ``--repeat`` rounds of ours, csv-diff,
datacompy, pandas, so that a change in the machine's other load falls on all of them alike; each is
given by the median and the best of its wall times and the median of its processor time (user + sys of
the child and of the processes it waited for, from its resource usage: what it costs on a loaded
machine). Peak memory is the largest ru_maxrss of the child's processes. The ratio is that of the
medians, ours to the fastest peer's. daff runs once, at --daff-rows, beside ours.

Also measured: the diff alone from two workbooks (the session case: both sides already tables; its
time is that of ``compare()`` in the child), the first screen of that diff table in a table view (a
model and view as the result window makes them, offscreen), and a 100-document x 1,000-record ZIP
pair compared end to end without a key.
Targets (issue 12): end to end faster than the fastest peer at under 300 MB peak; the diff from
workbooks under 5 s at 1M x 20; the diff table's first screen under 1 s. Exits 1 when a target is
missed. Timings of the 2-core machine move with its other load: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from child_run import run_child  # noqa: E402

COLUMNS = 20


# ------------------------------------------------------------------------------------- inputs

def make_csv_pair(folder: Path, rows: int) -> tuple[Path, Path]:
    old, new = folder / f"old_{rows}" / "data.csv", folder / f"new_{rows}" / "data.csv"
    if old.exists() and new.exists():
        return old.parent, new.parent
    old.parent.mkdir(parents=True, exist_ok=True)
    new.parent.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(12)
    header = ["id"] + [f"col{j}" for j in range(1, COLUMNS)]

    def row(i: int) -> list[str]:
        return [str(i)] + [f"v{rnd.randrange(10**6)}" for _ in range(COLUMNS - 1)]

    data = [row(i) for i in range(rows)]
    write_rows(old, header, data)
    changed = [list(r) for r in data]
    for _ in range(rows * COLUMNS // 100):  # 1% of the cells
        r, c = rnd.randrange(rows), rnd.randrange(1, COLUMNS)
        changed[r][c] = "changed " + changed[r][c]
    removed = set(rnd.sample(range(rows), rows // 200))
    changed = [r for i, r in enumerate(changed) if i not in removed] + [row(rows + i) for i in range(rows // 200)]
    rnd.shuffle(changed)
    write_rows(new, header, changed)
    return old.parent, new.parent


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(header) + "\r\n")
        for start in range(0, len(rows), 10000):
            handle.write("".join(",".join(r) + "\r\n" for r in rows[start:start + 10000]))


def make_zip_pair(folder: Path, documents: int = 100, records: int = 1000) -> tuple[Path, Path]:
    old, new = folder / "batch_2024_01.zip", folder / "batch_2024_02.zip"
    if old.exists() and new.exists():
        return old, new
    rnd = random.Random(5)

    def document(doc: int, edit: bool) -> str:
        parts = ["<?xml version='1.0'?><catalog><head><batch>2024</batch></head>"]
        for i in range(records):
            title = f"Title {doc}-{i}" + (" (revised)" if edit and i % 50 == 0 else "")
            parts.append(f"<item><id>{doc}-{i}</id><title>{title}</title><price>{rnd.randrange(1000)}</price>"
                         f"<tags><tag>a{i % 7}</tag><tag>b{i % 11}</tag></tags><note>{'x' * (i % 5)}</note></item>")
        return "".join(parts) + "</catalog>"

    rnd_state = rnd.getstate()
    with zipfile.ZipFile(old, "w", zipfile.ZIP_DEFLATED) as archive:
        for doc in range(documents):
            archive.writestr(f"docs/doc_{doc:03d}.xml", document(doc, False))
    rnd.setstate(rnd_state)
    with zipfile.ZipFile(new, "w", zipfile.ZIP_DEFLATED) as archive:
        for doc in range(documents):
            text = document(doc, doc % 10 == 0)  # every tenth document has 20 titles revised
            if doc == 1:
                continue  # removed
            name = "docs/renamed_002.xml" if doc == 2 else f"docs/doc_{doc:03d}.xml"
            archive.writestr(name, text)
        archive.writestr("docs/doc_new.xml", document(documents, False))
    return old, new


# ------------------------------------------------------------------------------------- tools (children)

def run_tool(tool: str, old: Path, new: Path, out: Path) -> dict:
    old_csv, new_csv = old / "data.csv", new / "data.csv"
    if tool == "ours":
        from ret_desktop.cli import main
        status = main(["compare", str(old), str(new), "--out", str(out), "--key", "id", "--format", "csv"])
        summary = json.loads((out / "summary.json").read_text())["tables"][0]
        return {"status": status, "cells_changed": summary["cells_changed"], "rows_added": summary["rows_added"]}
    if tool == "ours-diff":  # both sides already workbooks: time compare() alone
        from ret_desktop.core.compare import CompareOptions, Side, compare
        start = time.perf_counter()
        summary = compare(Side.session(old), Side.session(new), out / "result.sqlite", CompareOptions(key=("id",)))
        return {"diff_seconds": time.perf_counter() - start, "cells_changed": summary.tables[0].cells_changed}
    if tool == "ours-window":  # the diff table's first screen, as the result window shows a table
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication, QTableView
        from ret_desktop.core.compare import CompareOptions, DiffReader, Side, compare
        from ret_desktop.core.workbook import Workbook
        from ret_desktop.gui.compare_window import DiffTableModel
        result = out / "result.sqlite"
        summary = compare(Side.session(old), Side.session(new), result, CompareOptions(key=("id",)))
        app = QApplication([])
        view = QTableView()
        view.resize(1200, 800)
        view.show()
        start = time.perf_counter()
        workbook, reader = Workbook(result), DiffReader(result)
        model = DiffTableModel(workbook, summary.tables[0].diff_table, reader)
        view.setModel(model)
        view.resizeColumnsToContents()
        view.viewport().grab()  # paints the first screen: every visible cell is asked for
        shown = time.perf_counter() - start
        model.wait()
        view.setModel(None)
        reader.close()
        workbook.close()
        app.quit()
        return {"first_screen_seconds": shown, "rows": model.rowCount()}
    if tool == "ours-zip":
        from ret_desktop.cli import main
        status = main(["compare", str(old), str(new), "--out", str(out), "--format", "csv"])
        return {"status": status, "summary": json.loads((out / "summary.json").read_text())}
    if tool == "csv-diff":
        from csv_diff import compare, load_csv
        with open(old_csv, newline="") as a, open(new_csv, newline="") as b:
            diff = compare(load_csv(a, key="id"), load_csv(b, key="id"))
        return {"cells_changed": sum(len(c["changes"]) for c in diff["changed"]), "rows_added": len(diff["added"])}
    import pandas as pd
    left = pd.read_csv(old_csv, dtype=str, keep_default_na=False)
    right = pd.read_csv(new_csv, dtype=str, keep_default_na=False)
    if tool == "datacompy":
        import datacompy
        comparison = datacompy.PandasCompare(left, right, join_columns="id")
        comparison.report()
        cells = int(sum(comparison.column_stats[i]["unequal_cnt"] for i in range(len(comparison.column_stats))))
        return {"cells_changed": cells, "rows_added": len(comparison.df2_unq_rows)}
    if tool == "pandas":
        merged = left.merge(right, on="id", how="outer", suffixes=("_old", "_new"), indicator=True)
        both = merged[merged["_merge"] == "both"]
        cells = int(sum((both[f"{c}_old"] != both[f"{c}_new"]).sum() for c in left.columns if c != "id"))
        return {"cells_changed": cells, "rows_added": int((merged["_merge"] == "right_only").sum())}
    if tool == "daff":
        import daff
        tables = [daff.PythonTableView([list(r) for r in frame.itertuples(index=False)]) for frame in (left, right)]
        for table, frame in zip(tables, (left, right)):
            table.data.insert(0, list(frame.columns))
        flags = daff.CompareFlags()
        flags.addPrimaryKey("id")
        alignment = daff.Coopy.compareTables(tables[0], tables[1], flags).align()
        result = daff.PythonTableView([])
        daff.TableDiff(alignment, flags).hilite(result)
        return {"diff_rows": result.height}
    raise ValueError(tool)


def measure(tool: str, old: Path, new: Path) -> dict:
    """Run ``tool`` in a child process; its wall time, processor time and peak memory (ru_maxrss)."""
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as out:
        return {"tool": tool, **run_child([__file__, "--child", tool, str(old), str(new), out], tool,
                                          env={"RET_DATA_DIR": out})}


def summarize(tool: str, runs: list[dict]) -> dict:
    """A tool's runs as one: the median and best wall time, the median processor time, the largest peak."""
    def median(values: list[float]) -> float:
        values = sorted(values)
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return {**runs[-1], "tool": tool, "seconds": median([r["seconds"] for r in runs]),
            "best": min(r["seconds"] for r in runs), "cpu_seconds": median([r["cpu_seconds"] for r in runs]),
            "peak_mb": max(r["peak_mb"] for r in runs)}


def make_workbooks(old: Path, new: Path, folder: Path) -> tuple[Path, Path]:
    """The two CSV exports as workbooks (what a session holds after converting)."""
    from ret_desktop.core.compare.sides import Side, load_side
    from ret_desktop.core.convert import ConvertOptions
    from ret_desktop.core.importing import IntakeLimits
    paths = []
    for name, side in (("old", old), ("new", new)):
        target = folder / name
        if not (target / "side.sqlite").exists():
            load_side(Side.export(side), target, ConvertOptions(), IntakeLimits(), lambda: False, lambda *a: None)
        paths.append(target / "side.sqlite")
    return paths[0], paths[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the tools")
    parser.add_argument("--daff-rows", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "ret-bench-compare")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("TOOL", "OLD", "NEW", "OUT"))
    parser.add_argument("--prepare", action="store_true", help="only make the inputs")
    args = parser.parse_args()
    if args.child:
        tool, old, new, out = args.child
        print(json.dumps(run_tool(tool, Path(old), Path(new), Path(out))))
        return 0
    args.data.mkdir(parents=True, exist_ok=True)
    if args.prepare:
        old, new = make_csv_pair(args.data, args.rows)
        make_csv_pair(args.data, args.daff_rows)
        make_workbooks(old, new, args.data / f"workbooks_{args.rows}")
        make_zip_pair(args.data)
        return 0
    # The inputs are made in a child: a child's peak memory (ru_maxrss) starts at its parent's size.
    subprocess.run([sys.executable, __file__, "--prepare", "--rows", str(args.rows), "--daff-rows",
                    str(args.daff_rows), "--data", str(args.data)], check=True)

    failures = []
    old, new = make_csv_pair(args.data, args.rows)
    print(f"two CSV exports of {args.rows:,} rows x {COLUMNS} columns, keyed on id, new one shuffled")
    tools = ["ours"] + ([] if args.skip_peers else ["csv-diff", "datacompy", "pandas"])
    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    for _round in range(max(args.repeat, 1)):
        for tool in tools:
            runs[tool].append(measure(tool, old, new))
    results = [summarize(tool, runs[tool]) for tool in tools]
    print(f"  {'':<10} {'median':>8} {'best':>8} {'cpu':>8} {'peak':>8}   ({len(runs['ours'])} interleaved rounds)")
    for r in results:
        print(f"  {r['tool']:<10} {r['seconds']:6.1f} s {r['best']:6.1f} s {r['cpu_seconds']:6.1f} s {r['peak_mb']:5.0f} MB"
              f"   cells changed {r.get('cells_changed')}")
    ours = results[0]
    if len(results) > 1:
        fastest = min(results[1:], key=lambda r: r["seconds"])
        ratio = ours["seconds"] / fastest["seconds"]
        cpu_ratio = ours["cpu_seconds"] / fastest["cpu_seconds"]
        verdict = "met" if ratio < 1 and ours["peak_mb"] < 300 else "MISSED"
        print(f"  end to end: {ratio:.2f} x the fastest peer ({fastest['tool']}) in median wall time, "
              f"{cpu_ratio:.2f} x in processor time, {ours['peak_mb']:.0f} MB: {verdict}")
        if verdict != "met":
            failures.append("end to end")
        cells = {r["tool"]: r.get("cells_changed") for r in results}
        if len(set(cells.values())) != 1:
            print(f"  the tools disagree on the cells changed: {cells}")

    if args.daff_rows and not args.skip_peers:
        small_old, small_new = make_csv_pair(args.data, args.daff_rows)
        print(f"daff at {args.daff_rows:,} rows")
        for r in (measure("ours", small_old, small_new), measure("daff", small_old, small_new)):
            print(f"  {r['tool']:<10} {r['seconds']:7.1f} s  cpu {r['cpu_seconds']:6.1f} s  {r['peak_mb']:7.0f} MB")

    old_book, new_book = make_workbooks(old, new, args.data / f"workbooks_{args.rows}")
    diff = measure("ours-diff", old_book, new_book)
    verdict = "met" if diff["diff_seconds"] < 5 else "MISSED"
    print(f"the diff alone from two workbooks: {diff['diff_seconds']:.2f} s ({diff['peak_mb']:.0f} MB): {verdict}")
    if verdict != "met" and args.rows >= 1_000_000:
        failures.append("diff from workbooks")

    window = measure("ours-window", old_book, new_book)
    verdict = "met" if window["first_screen_seconds"] < 1 else "MISSED"
    print(f"the diff table's first screen ({window['rows']:,} rows): {window['first_screen_seconds']:.2f} s: {verdict}")
    if verdict != "met":
        failures.append("first screen")

    zip_old, zip_new = make_zip_pair(args.data)
    batch = measure("ours-zip", zip_old, zip_new)
    documents: dict[str, int] = {}
    for d in batch["summary"]["documents"]:
        documents[d["status"]] = documents.get(d["status"], 0) + 1
    t = batch["summary"]["tables"][0]
    print(f"100 documents x 1,000 records from ZIPs, no key: {batch['seconds']:.1f} s, {batch['peak_mb']:.0f} MB; "
          f"documents {documents}; rows +{t['rows_added']} -{t['rows_removed']} ~{t['rows_changed']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
