"""An atomic write killed half-way leaves a temporary file named with its owner, which the next start
removes; the file it was replacing is untouched."""

import json
import signal
import textwrap

import pytest

from ret_desktop.core.fsutil import atomic_write_json
from ret_desktop.core.scratch import sweep_leftovers
from test_faults import kill_when

needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX")

WRITE_AND_HOLD = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from ret_desktop.core.fsutil import atomic_write_json
    from ret_desktop.core.scratch import record_scratch_in

    real_fsync = os.fsync

    def fsync_then_hold(fd):  # the new bytes are all in the temporary file, not yet renamed over the old
        real_fsync(fd)
        print("written", flush=True)
        sys.stdin.read()

    os.fsync = fsync_then_hold
    record_scratch_in(Path(sys.argv[2]) / "scratch")
    atomic_write_json(Path(sys.argv[1]), {"rows": ["x" * 100] * 100_000})
""")


@needs_sigkill
@pytest.mark.parametrize("where", ["jobs", "config"])  # inside the runtime root (a job record), and outside it
def test_a_write_killed_midway_leaves_a_temporary_file_that_the_next_start_removes(tmp_path, where):
    runtime_root = tmp_path / "runtime"
    (runtime_root / "sessions").mkdir(parents=True)
    folder = runtime_root / "jobs" if where == "jobs" else tmp_path / "config"
    folder.mkdir()
    target = folder / "settings.json"
    atomic_write_json(target, {"version": "old"})
    users_file = folder / ".settings.json.1234.tmp"  # not named as the app's: never removed
    users_file.write_text("mine")

    pid = kill_when([WRITE_AND_HOLD, str(target), str(runtime_root)], "written")  # all 10 MB in its temporary file

    left = sorted(set(folder.iterdir()) - {target, users_file})
    assert len(left) == 1 and left[0].stat().st_size > 10_000_000  # the whole new text, never renamed
    assert left[0].name.startswith(f".settings.json.ret-{pid}.")  # its owner: <pid>.<start time>
    assert json.loads(target.read_text()) == {"version": "old"}

    assert sweep_leftovers(runtime_root, runtime_root / "sessions") == 1  # what the next start does

    assert sorted(folder.iterdir()) == sorted([target, users_file])
    assert json.loads(target.read_text()) == {"version": "old"}
    assert not (runtime_root / "scratch").exists() or list((runtime_root / "scratch").iterdir()) == []

