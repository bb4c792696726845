"""The compare reports' writing time: ``compare.xlsx`` and the CSV reports of a 1M x 20 comparison.

    flock /tmp/ret-bench.lock python tests/benchmarks/bench_compare_report.py [--rows 1000000] [--data DIR]
        [--formats xlsx,csv]

Inputs as ``bench_compare.py`` makes them (two CSV exports keyed on ``id``: 1% of the cells changed,
0.5% of the rows removed and as many added, shuffled; kept in --data), compared once into a result
workbook kept there too. Each report format is then written by a child process of its own; its wall
time and peak memory (ru_maxrss) are printed, with the size of what it wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_compare import make_csv_pair, make_workbooks  # noqa: E402
from child_run import run_child  # noqa: E402


def result_workbook(data: Path, rows: int) -> Path:
    from ret_desktop.core.compare import CompareOptions, Side, compare
    result = data / f"report_{rows}" / "result.sqlite"
    if not result.exists():
        old, new = make_csv_pair(data, rows)
        old_book, new_book = make_workbooks(old, new, data / f"workbooks_{rows}")
        compare(Side.session(old_book), Side.session(new_book), result, CompareOptions(key=("id",)))
    return result


def write(result: Path, report_format: str, out: Path) -> dict:
    from ret_desktop.core.compare import read_summary, write_reports
    summary = read_summary(result)
    start = time.perf_counter()
    written = write_reports(result, summary, out, (report_format,))
    return {"seconds": time.perf_counter() - start, "bytes": sum(p.stat().st_size for p in written),
            "rows_differing": sum(t.rows_added + t.rows_removed + t.rows_changed for t in summary.tables),
            "cells_changed": sum(t.cells_changed for t in summary.tables)}


def measure(result: Path, report_format: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as out:
        return {"format": report_format,
                **run_child([__file__, "--child", str(result), report_format, out], f"writing {report_format}")}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "ret-bench-compare")
    parser.add_argument("--formats", default="xlsx,csv")
    parser.add_argument("--child", nargs=3, metavar=("RESULT", "FORMAT", "OUT"))
    args = parser.parse_args()
    if args.child:
        result, report_format, out = args.child
        print(json.dumps(write(Path(result), report_format, Path(out))))
        return 0
    args.data.mkdir(parents=True, exist_ok=True)
    result = result_workbook(args.data, args.rows)
    for report_format in args.formats.split(","):
        r = measure(result, report_format)
        print(f"{report_format:<5} {r['seconds']:6.1f} s  {r['peak_mb']:5.0f} MB  {r['bytes'] / 1e6:6.1f} MB written  "
              f"({r['rows_differing']:,} rows differ, {r['cells_changed']:,} cells changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
