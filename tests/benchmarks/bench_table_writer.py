"""The table writer's cost per row (SQLite insert + CSV copy) inside a real conversion: this tree against
the writer of a git ref, in one run.

    flock /tmp/ret-bench.lock python tests/benchmarks/bench_table_writer.py [--ref main] [--size-mb 100] [--repeat 3]
        [--inputs DIR]   (DIR/flat.xml and DIR/crossref.xml instead of generating them) [--shape flat|crossref]

For each input shape of ``bench_convert.py`` (flat, Crossref) it converts the document into a scratch
workbook with CSV copies and exports the tables to CSV, each run in a fresh process, the two versions
taking turns: this tree as it is, and this tree with ``core/export.py`` and ``core/workbook.py`` as they
are at ``--ref`` (read with ``git show``), so only the writer differs. It prints the best run's time in
``TableWriter._insert``, in ``CsvCopy.add`` and in the whole conversion (per row and in seconds), and
checks that both versions made the same tables, the same CSV copies with the same bookkeeping
(``neutralised``, ``copyable``) and the same exported files.
The writer is timed inside the conversion, not by replaying its rows: a batch's values lie scattered
in memory there, and a pass over them costs twice what it does over rows made one after another.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_convert import ROOT, generate_crossref, generate_flat  # noqa: E402

RUN = textwrap.dedent("""
    import hashlib, json, sys, time, types
    from pathlib import Path
    sys.path.insert(0, {root!r})
    source, work, ref_sources = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    import ret_desktop.core
    for path in ref_sources:  # the ref's writer in place of this tree's, before anything imports it
        name = "ret_desktop.core." + Path(path).stem
        module = types.ModuleType(name)
        module.__file__ = path
        sys.modules[name] = module
        exec(compile(Path(path).read_text(), path, "exec"), module.__dict__)
        setattr(ret_desktop.core, Path(path).stem, module)
    from ret_desktop.core.convert import ConvertOptions, convert_documents, export_tables
    from ret_desktop.core.export import CsvCopy
    from ret_desktop.core.importing import take_in
    from ret_desktop.core.workbook import TableWriter, Workbook
    spent = {{"insert": 0.0, "csv": 0.0}}

    def timed(cls, name, key):
        function = getattr(cls, name)
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start
        setattr(cls, name, call)

    timed(TableWriter, "_insert", "insert")
    timed(CsvCopy, "add", "csv")
    report = take_in([source], work / "extracted")
    (work / "copies").mkdir()
    digest = hashlib.sha256()
    with Workbook(work / "workbook.sqlite", scratch=True) as workbook:
        workbook.keep_csv_copies(work / "copies")
        start = time.perf_counter()
        result = convert_documents(report, workbook, ConvertOptions())
        spent["convert"] = time.perf_counter() - start
        assert all(f.status == "ok" for f in result.files), result.files
        rows = 0
        for table in result.tables:
            width = len(table.columns)
            for batch in workbook.iter_batches(table.name):
                rows += len(batch)
                digest.update(repr(batch).encode())
            copy = workbook.csv_copy(table.name)
            digest.update(repr((copy.rows, copy.neutralised, copy.copyable(width), copy.copyable(width, raw=True),
                                copy.copyable(width + 1))).encode())
            copy.close()
            digest.update(copy.path.read_bytes())
        start = time.perf_counter()
        files = export_tables(workbook, result.tables, work / "out", ("csv",))
        spent["export"] = time.perf_counter() - start
        for path in files:
            digest.update(path.read_bytes())
    print(json.dumps({{**spent, "rows": rows, "columns": width, "digest": digest.hexdigest()}}))
""").format(root=str(ROOT))


def run_once(source: Path, work: Path, ref_sources: list[Path]) -> dict:
    work.mkdir()
    result = subprocess.run([sys.executable, "-c", RUN, str(source), str(work), *map(str, ref_sources)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"a run failed:\n{result.stderr[-2000:]}")
    shutil.rmtree(work)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main", help="the git ref whose writer to compare with (default main)")
    parser.add_argument("--size-mb", type=float, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--inputs", type=Path, help="a folder holding flat.xml and crossref.xml to use")
    parser.add_argument("--shape", choices=("flat", "crossref"), help="only this shape")
    args = parser.parse_args()
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ref_sources = []
        for name in ("export", "workbook"):
            path = work / f"{name}.py"
            path.write_text(subprocess.run(["git", "-C", str(ROOT), "show", f"{args.ref}:ret_desktop/core/{name}.py"],
                                           capture_output=True, text=True, check=True).stdout)
            ref_sources.append(path)
        print(f"best of {args.repeat}, each run in a fresh process, {args.ref}'s writer and this tree's taking turns")
        for shape, generate in (("flat", generate_flat), ("crossref", generate_crossref)):
            if args.shape not in (None, shape):
                continue
            if args.inputs:
                source = args.inputs / f"{shape}.xml"
            else:
                source = work / f"{shape}.xml"
                generate(source, int(args.size_mb * 1024 * 1024))
            runs: dict[str, list[dict]] = {args.ref: [], "this tree": []}
            for number in range(args.repeat):
                for version, sources in ((args.ref, ref_sources), ("this tree", [])):
                    runs[version].append(run_once(source, work / f"run-{shape}-{number}-{bool(sources)}", sources))
            identical = len({run["digest"] for version in runs.values() for run in version}) == 1
            same = same and identical
            first = runs[args.ref][0]
            rows = first["rows"]
            print(f"{shape} ({source.stat().st_size / 1e6:.0f} MB): {rows:,} rows of {first['columns']} columns; "
                  f"tables, CSV copies and exported files identical: {identical}")
            for key, label in (("insert", "_insert"), ("csv", "CsvCopy.add"), ("convert", "conversion"),
                               ("export", "CSV export")):
                before, after = (min(run[key] for run in runs[version]) for version in runs)
                print(f"  {label:<12} {args.ref} {before:6.3f} s ({before / rows * 1e6:5.2f} us/row)   "
                      f"this tree {after:6.3f} s ({after / rows * 1e6:5.2f} us/row)   {after - before:+.3f} s")
    print("outputs identical" if same else "OUTPUTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
