"""Conversion against lxml's bare parse in instructions counted by valgrind: steady (within a few
percent) where wall-clock times on a shared machine are not.

    python tests/benchmarks/count_convert_instructions.py [--size-mb 4]

Needs valgrind (Debian: ``apt-get install valgrind``). For each input shape of ``bench_convert.py``
it counts, each in a fresh process under callgrind: the imports alone (subtracted from the others),
the floor (``iterparse`` over every element with ``clear()``) and ours (``convert_to_folder`` to CSV).
Detection reads 2 MiB of a 100 MB input, so here it reads the same 2% of the smaller input.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_convert import ROOT, generate_crossref, generate_flat  # noqa: E402

RUN = """
import sys, tempfile
sys.path.insert(0, {root!r})
from pathlib import Path
from lxml import etree
from ret_desktop.core.convert import ConvertOptions, convert_to_folder
kind, path, detect_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "floor":
    for _, element in etree.iterparse(path, events=("end",)):
        element.clear()
elif kind == "ours":
    convert_to_folder([Path(path)], Path(tempfile.mkdtemp()), ConvertOptions(detect_bytes=detect_bytes))
"""


def count(kind: str, path: Path, detect_bytes: int, work: Path) -> int:
    out = work / f"callgrind.{kind}.out"
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c",
         RUN.format(root=str(ROOT)), kind, str(path), str(detect_bytes)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or not found:
        raise SystemExit(f"valgrind {kind} failed:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=4)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed")
        return 2
    size = int(args.size_mb * 1024 * 1024)
    detect_bytes = size // 50
    print(f"input {args.size_mb:g} MB per shape, detection reads {detect_bytes:,} bytes; millions of instructions")
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for shape, generate in (("flat", generate_flat), ("crossref", generate_crossref)):
            path = work / f"{shape}.xml"
            generate(path, size)
            base = count("imports", path, detect_bytes, work)
            floor = count("floor", path, detect_bytes, work) - base
            ours = count("ours", path, detect_bytes, work) - base
            verdicts.append(floor / ours >= 0.40)
            print(f"{shape:<9} floor {floor / 1e6:8.0f}  ours {ours / 1e6:8.0f}  ours at {floor / ours:.0%} of the "
                  "floor's throughput (target >= 40%)")
    print("target met" if all(verdicts) else "TARGET MISSED")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
