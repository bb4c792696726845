"""One benchmark measurement in a child process of its own, so that its peak memory is its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_child(arguments: list[str], what: str, env: dict[str, str] | None = None) -> dict:
    """Run ``python arguments...`` from the checkout; the JSON object its last output line prints, with
    ``seconds`` (wall), ``cpu_seconds`` and ``peak_mb`` (ru_maxrss) of the child added. Exits with a
    message naming ``what`` if the child fails."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, *arguments], stdout=subprocess.PIPE, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    output = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{what} failed with status {code}")
    kilobytes = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_mb": kilobytes / 1024,
            **json.loads(output.decode().strip().splitlines()[-1])}
