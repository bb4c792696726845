"""The table writer's cost per row (SQLite insert + CSV copy), this tree against a git ref, in one run.

    flock /tmp/ret-bench.lock python tests/benchmarks/bench_table_writer.py [--ref main] [--size-mb 8] [--repeat 5]

For each input shape of ``bench_convert.py`` (flat, Crossref) it converts a generated document once,
recording the calls the converter makes on its ``TableWriter`` (columns, rows, batches), then replays
those calls into a fresh scratch workbook with a CSV copy, alternating this tree's
``core/workbook.py`` + ``core/export.py`` with the ref's (read with ``git show``), ``--repeat`` times
each. It prints microseconds per row (the best run) for ``_insert``, ``CsvCopy.add`` and the whole
replay, scaled to a 100 MB document of that shape, and checks that both versions made the same
table, the same CSV copy bytes and the same bookkeeping (``neutralised``, ``copyable``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_convert import ROOT, generate_crossref, generate_flat  # noqa: E402

sys.path.insert(0, str(ROOT))
from ret_desktop.core import export as new_export  # noqa: E402
from ret_desktop.core import workbook as new_workbook  # noqa: E402
from ret_desktop.core.convert import convert_to_folder  # noqa: E402


def load_ref(ref: str) -> tuple[types.ModuleType, types.ModuleType]:
    """``core/export.py`` and ``core/workbook.py`` as they are at ``ref``, as modules of their own."""
    modules = []
    for name in ("export", "workbook"):
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:ret_desktop/core/{name}.py"],
                                capture_output=True, text=True, check=True).stdout
        module = types.ModuleType(f"ref_{name}")
        sys.modules[module.__name__] = module
        exec(compile(source, f"{ref}:{name}.py", "exec"), module.__dict__)
        modules.append(module)
    ref_export, ref_workbook = modules
    ref_workbook.CsvCopy = ref_export.CsvCopy
    return ref_export, ref_workbook


def record_calls(path: Path, work: Path) -> list[tuple[str, tuple]]:
    """The converter's calls on its table writer while converting ``path``."""
    calls: list[tuple[str, tuple]] = []
    writer_class = new_workbook.TableWriter
    originals = {name: getattr(writer_class, name) for name in ("place_of", "add_row", "add_values", "add_rows")}

    def recording(name):
        def method(self, *args):
            calls.append((name, tuple(list(arg) if isinstance(arg, list) else arg for arg in args)))
            return originals[name](self, *args)
        return method

    for name in originals:
        setattr(writer_class, name, recording(name))
    try:
        result = convert_to_folder([path], work / "out")
    finally:
        for name, original in originals.items():
            setattr(writer_class, name, original)
    assert all(f.status == "ok" for f in result.files), result.files
    return calls


def replay(workbook_module, calls, folder: Path) -> tuple[dict[str, float], list, bytes, tuple]:
    """Seconds spent (in all, in ``_insert``, in ``CsvCopy.add``) and what was written."""
    folder.mkdir()
    spent = {"insert": 0.0, "csv": 0.0}

    def timed(function, key):
        def call(*args):
            start = time.perf_counter()
            try:
                return function(*args)
            finally:
                spent[key] += time.perf_counter() - start
        return call

    workbook = workbook_module.Workbook(folder / "workbook.sqlite", scratch=True)
    workbook.keep_csv_copies(folder)
    start = time.perf_counter()
    with workbook.transaction():
        writer = workbook.writer("table", "group", "/record")
        writer._insert = timed(writer._insert, "insert")
        writer.csv_copy.add = timed(writer.csv_copy.add, "csv")
        for name, args in calls:
            getattr(writer, name)(*(list(arg) if isinstance(arg, list) else arg for arg in args))
        copy = writer.csv_copy
    spent["all"] = time.perf_counter() - start
    copy.close()
    width = len(writer.columns)
    rows = workbook._conn.execute(f"SELECT * FROM {writer.sql_name} ORDER BY rowid").fetchall()
    written = copy.path.read_bytes()
    bookkeeping = (copy.rows, copy.neutralised, copy.copyable(width), copy.copyable(width, raw=True),
                   copy.copyable(width + 1))
    workbook.close()
    return spent, rows, written, bookkeeping


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main", help="the git ref to compare with (default main)")
    parser.add_argument("--size-mb", type=float, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    _ref_export, ref_workbook = load_ref(args.ref)
    size = int(args.size_mb * 1024 * 1024)
    print(f"{args.size_mb:g} MB per shape, best of {args.repeat}; microseconds per row, "
          f"and seconds for a 100 MB document of the shape")
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for shape, generate in (("flat", generate_flat), ("crossref", generate_crossref)):
            path = work / f"{shape}.xml"
            generate(path, size)
            calls = record_calls(path, work / f"{shape}-record")
            rows = sum(len(args_[0]) if name == "add_rows" else 1
                       for name, args_ in calls if name in ("add_rows", "add_values", "add_row"))
            rows_per_100mb = rows * 100 * 1024 * 1024 / path.stat().st_size
            best = {version: {} for version in (args.ref, "this tree")}
            outputs = {}
            for run in range(args.repeat):
                for version, module in ((args.ref, ref_workbook), ("this tree", new_workbook)):
                    spent, *output = replay(module, calls, work / f"{shape}-{version.replace('/', '_')}-{run}")
                    outputs.setdefault(version, output)
                    for key, seconds in spent.items():
                        best[version][key] = min(best[version].get(key, seconds), seconds)
            identical = outputs[args.ref] == outputs["this tree"]
            same = same and identical
            print(f"{shape}: {rows:,} rows of {len(outputs[args.ref][0][0]) - 1} columns "
                  f"({rows_per_100mb:,.0f} in 100 MB); output identical: {identical}")
            for key, label in (("insert", "_insert"), ("csv", "CsvCopy.add"), ("all", "whole writer")):
                before, after = best[args.ref][key], best["this tree"][key]
                print(f"  {label:<13} {args.ref} {before / rows * 1e6:6.2f} us/row ({before / rows * rows_per_100mb:5.3f} s)"
                      f"   this tree {after / rows * 1e6:6.2f} us/row ({after / rows * rows_per_100mb:5.3f} s)"
                      f"   {after / before:5.1%}")
    print("outputs identical" if same else "OUTPUTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
