"""Launch to sign-in window, on a real X display: the PyInstaller bundle and the venv, cold (page
cache dropped first, needs root) and warm (median of the next runs).

    DISPLAY=:99 .venv/bin/python tests/benchmarks/bench_launch.py [--bundle dist/ret-desktop/ret-desktop] [--runs 5]

The clock runs from starting the process until the window "RET Desktop: sign in" is mapped
(xwininfo, polled every 10 ms), on a data folder with one user already in it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TITLE = '"RET Desktop: sign in"'


def window_shown() -> bool:
    tree = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True).stdout
    return TITLE in tree


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def launch(command: list[str], env: dict[str, str], timeout_s: float = 60) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not window_shown():
            if process.poll() is not None:
                raise SystemExit(f"{command[0]} exited with {process.returncode} before showing the window")
            if time.perf_counter() - started > timeout_s:
                raise SystemExit(f"{command[0]}: no sign-in window within {timeout_s:.0f} s")
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "ret-desktop" / "ret-desktop")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if window_shown():
        raise SystemExit("a sign-in window is already open on this display")
    with tempfile.TemporaryDirectory(prefix="ret-launch-") as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
        env.update(RET_DATA_DIR=data, QT_QPA_PLATFORM="xcb")
        subprocess.run([sys.executable, "-m", "ret_desktop", "users", "add", "bench", "--password-stdin"],
                       input="bench password 1\n", text=True, env=env, cwd=ROOT, check=True, capture_output=True)
        targets = {"venv": [sys.executable, "-m", "ret_desktop"]}
        if args.bundle.is_file():
            targets["bundle"] = [str(args.bundle)]
        for name, command in targets.items():
            cold = f"{launch(command, env):.2f} s" if drop_page_cache() else "n/a (cannot drop the page cache)"
            warm = statistics.median(launch(command, env) for _ in range(args.runs))
            print(f"{name:7} cold {cold:>8}   warm (median of {args.runs}) {warm:.2f} s")


if __name__ == "__main__":
    main()
