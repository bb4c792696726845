"""The table export's XLSX: ``export_tables(..., ("xlsx",))`` of a ROWS x 20 table, against xlsxwriter
(the writer the export used before ``ret_desktop/core/xlsx.py``) writing the same rows in the same run.

    flock /tmp/ret-bench.lock python tests/benchmarks/bench_export_xlsx.py [--rows 1000000,200000]
        [--data DIR] [--writers ours,xlsxwriter]

The table is made once per size in a workbook kept in --data (ids, short words, numbers with leading
zeros, dates, a longer sentence, a few empty cells). Each writer runs in a child process of its own;
its wall time and peak memory (ru_maxrss) are printed with the size of the file. xlsxwriter is needed
for the reference only (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from child_run import run_child  # noqa: E402

COLUMNS = 20
WORDS = ["alpha", "beta", "gamma", "delta", "Müller", "Zoë", "naïve", "ok", "x & y", "<tag>", "Œuvre", "北京"]


def make_workbook(data: Path, rows: int) -> Path:
    from ret_desktop.core.workbook import Workbook
    path = data / f"table_{rows}.sqlite"
    if path.exists():
        return path
    rng = random.Random(rows)
    part = path.with_suffix(".part")
    part.unlink(missing_ok=True)
    with Workbook(part) as workbook:
        with workbook.transaction():
            writer = workbook.writer("T", "T", "/r/i")
            header = ["_file", "_record"] + [f"field_{c}" for c in range(COLUMNS - 2)]
            for n in range(rows):
                values = [f"batch/{n // 1000:04d}.xml", str(n % 1000 + 1)]
                for c in range(COLUMNS - 2):
                    kind = c % 6
                    if kind == 0:
                        values.append(f"{rng.randrange(10 ** 6):06d}")
                    elif kind == 1:
                        values.append(rng.choice(WORDS))
                    elif kind == 2:
                        values.append(f"{rng.random() * 1000:.2f}")
                    elif kind == 3:
                        values.append(f"20{rng.randrange(10, 30)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}")
                    elif kind == 4:
                        values.append(" ".join(rng.choices(WORDS, k=6)))
                    else:
                        values.append("" if rng.random() < 0.3 else str(rng.randrange(100)))
                if n == 0:
                    writer.add_row(list(zip(header, values)))
                else:
                    writer.add_values(values)
            writer.flush()
    os.replace(part, path)
    return path


def write_with_xlsxwriter(path: Path, header, batches, sheet_name: str) -> int:
    """What the export did before: xlsxwriter in constant_memory mode, every value as a string."""
    import xlsxwriter
    from ret_desktop.core.xlsx import excel_sheet_name
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": str(path.parent),
                                               "strings_to_numbers": False, "strings_to_formulas": False,
                                               "strings_to_urls": False})
    bold = workbook.add_format({"bold": True})
    sheet = workbook.add_worksheet(excel_sheet_name(sheet_name))
    sheet.freeze_panes(1, 0)
    widths = [min(max(len(h), 8), 60) for h in header]
    for col, title in enumerate(header):
        sheet.write_string(0, col, title, bold)
    row_number = 0
    for batch in batches:
        for row in batch:
            row_number += 1
            for col, value in enumerate(row):
                if value:
                    sheet.write_string(row_number, col, value[:32_767])
                    if len(value) > widths[col] and widths[col] < 60:
                        widths[col] = min(len(value), 60)
    sheet.autofilter(0, 0, row_number, len(header) - 1)
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width + 2)
    workbook.close()
    return row_number


def run_writer(writer: str, table: Path, out: Path) -> dict:
    from ret_desktop.core.convert import TableOutcome, export_tables
    from ret_desktop.core.workbook import Workbook
    with Workbook(table) as workbook:
        outcome = TableOutcome.from_info(workbook.info("T"))
        start = time.perf_counter()
        if writer == "ours":
            (path,) = export_tables(workbook, [outcome], out, ("xlsx",))
        else:
            path = out / "T.xlsx"
            write_with_xlsxwriter(path, workbook.columns("T"), workbook.iter_batches("T"), "T")
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "bytes": path.stat().st_size}


def measure(writer: str, table: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-xlsx-", dir=table.parent) as out:
        return run_child([__file__, "--child", writer, str(table), out], writer)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000000,200000")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "ret-bench-export-xlsx")
    parser.add_argument("--writers", default="ours,xlsxwriter")
    parser.add_argument("--prepare", action="store_true", help="only make the tables")
    parser.add_argument("--child", nargs=3, metavar=("WRITER", "TABLE", "OUT"))
    args = parser.parse_args()
    if args.child:
        writer, table, out = args.child
        print(json.dumps(run_writer(writer, Path(table), Path(out))))
        return 0
    args.data.mkdir(parents=True, exist_ok=True)
    tables = {int(rows): make_workbook(args.data, int(rows)) for rows in args.rows.split(",")}
    if args.prepare:
        return 0
    for rows, table in tables.items():
        for writer in args.writers.split(","):
            r = measure(writer, table)
            print(f"{rows:>9,} x {COLUMNS}  {writer:<10} {r['seconds']:6.1f} s  {r['peak_mb']:5.0f} MB peak  "
                  f"{r['bytes'] / 1e6:6.1f} MB file", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
