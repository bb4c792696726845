"""What a process leaves (job records, scratch) is judged by its owner's pid *and* start time: a pid
that another process now has does not keep a dead run's leftovers, nor lose a live run's."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ret_desktop.core.jobs import JobState, JobStore
from ret_desktop.core.procutil import process_start_time
from ret_desktop.core.scratch import sweep_leftovers
from test_sessions import unrelated_process  # noqa: F401  (a fixture)

pytestmark = pytest.mark.skipif(process_start_time(os.getpid()) is None,
                                reason="process start times are read from /proc")

CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def run_child(code: str, *args: str) -> str:
    """Run ``code`` in a real child process that has ended when this returns; its output."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          check=True, env=CHILD_ENV).stdout


def job_as_if_left_by(store: JobStore, pid: int, pid_started: int | None) -> str:
    """A running job whose record says process ``pid`` (started at ``pid_started``) runs it."""
    job = store.create("convert", "c" * 32)
    store.start(job.job_id)
    path = store.jobs_dir / f"{job.job_id}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid": pid, "pid_started": pid_started}))
    return job.job_id


def test_a_job_is_interrupted_when_its_pid_is_gone_or_names_another_process(tmp_path, unrelated_process):
    store = JobStore(tmp_path / "jobs")
    dead = run_child("""
        import sys
        from ret_desktop.core.jobs import JobStore
        store = JobStore(sys.argv[1])
        job = store.create("convert", "c" * 32)
        store.start(job.job_id)
        print(job.job_id)
    """, str(store.jobs_dir)).strip()
    assert store.get(dead).pid_started is not None  # the start time is recorded with the pid
    own_start, other_start = process_start_time(os.getpid()), process_start_time(unrelated_process.pid)
    reused = job_as_if_left_by(store, unrelated_process.pid, own_start)  # its pid now names another process
    earlier_run = job_as_if_left_by(store, os.getpid(), other_start)  # an earlier run that had this pid
    live = job_as_if_left_by(store, unrelated_process.pid, other_start)
    older_record = job_as_if_left_by(store, unrelated_process.pid, None)  # written before start times were
    mine = store.create("export", "d" * 32).job_id

    changed = store.mark_interrupted()

    assert sorted(r.job_id for r in changed) == sorted([dead, reused, earlier_run])
    assert all(store.get(job).state is JobState.INTERRUPTED for job in (dead, reused, earlier_run))
    assert store.get(live).state is store.get(older_record).state is JobState.RUNNING
    assert store.get(mine).state is JobState.PENDING
    assert unrelated_process.poll() is None


def test_scratch_is_swept_when_its_owner_is_gone_or_its_pid_names_another_process(tmp_path, unrelated_process):
    runtime, outside = tmp_path / "runtime", tmp_path / "picked"
    (runtime / "sessions").mkdir(parents=True)
    outside.mkdir()
    killed = run_child("""
        import os, sys
        from pathlib import Path
        from ret_desktop.core.scratch import part_file, record_scratch_in, scratch_folder
        runtime, outside = Path(sys.argv[1]), Path(sys.argv[2])
        record_scratch_in(runtime / "scratch")
        with scratch_folder(runtime) as a, scratch_folder(outside) as b, part_file(outside / "T.csv") as c:
            print(a.name, b.name, c.name, flush=True)
            os._exit(0)  # as if killed: nothing is cleaned up
    """, str(runtime), str(outside)).split()
    assert all("." in name.split("-")[2] for name in killed[:2])  # .ret-work-<pid>.<start>-…: the owner's start
    own_start, other_start = process_start_time(os.getpid()), process_start_time(unrelated_process.pid)
    reused = [runtime / f".ret-work-{unrelated_process.pid}.{own_start}-k2j4_x9q",
              runtime / f".T.csv.ret-{unrelated_process.pid}.{own_start}-a1b2c3d4.part"]
    earlier_run = [runtime / f".ret-work-{os.getpid()}.{other_start}-k2j4_x9q"]
    live = [runtime / f".ret-work-{unrelated_process.pid}.{other_start}-k2j4_x9q",
            runtime / f".T.csv.ret-{os.getpid()}.{own_start}-a1b2c3d4.part",
            runtime / f".ret-work-{unrelated_process.pid}-k2j4_x9q"]  # a name without a start time
    for path in reused + earlier_run + live:
        path.mkdir() if "work" in path.name else path.write_text("x")

    assert sweep_leftovers(runtime, runtime / "sessions") == len(killed) + len(reused) + len(earlier_run)

    assert not (runtime / killed[0]).exists() and not (outside / killed[1]).exists()
    assert not (outside / killed[2]).exists() and list((runtime / "scratch").iterdir()) == []
    assert not any(path.exists() for path in reused + earlier_run)
    assert all(path.exists() for path in live)
