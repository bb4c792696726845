import json
import os
import subprocess
import sys
import textwrap

import pytest

from ret_desktop.core.jobs import JobState, JobStateError, JobStore


@pytest.fixture
def store(tmp_path, clock):
    return JobStore(tmp_path / "jobs", clock=clock)


def test_a_job_runs_through_its_states_and_is_written_each_time(store, clock):
    job = store.create("convert", "a" * 32)
    assert job.state is JobState.PENDING
    store.start(job.job_id, total=10)
    clock.advance(2)
    store.progress(job.job_id, 4, message="b.xml")
    on_disk = json.loads((store.jobs_dir / f"{job.job_id}.json").read_text())
    assert on_disk["state"] == "running" and on_disk["done"] == 4 and on_disk["total"] == 10
    done = store.finish(job.job_id, JobState.SUCCEEDED, message="10 documents")
    assert (done.state, done.done, done.total, done.message, done.finished_at) == (
        JobState.SUCCEEDED, 10, 10, "10 documents", clock.now)  # a finished job did all of it
    assert store.get(job.job_id) == done
    assert [p.name for p in store.jobs_dir.iterdir()] == [f"{job.job_id}.json"]  # no temp files left


def test_a_succeeded_job_records_done_equal_to_total_whatever_its_last_progress_said(store):
    counted_up = store.create("import", "a" * 32)  # counts files as it finds them: no total
    store.start(counted_up.job_id)
    store.progress(counted_up.job_id, 1, 0)
    short = store.create("export", "a" * 32)  # the last report came before the last table
    store.start(short.job_id)
    store.progress(short.job_id, 12, 13)
    cancelled = store.create("convert", "a" * 32)
    store.start(cancelled.job_id)
    store.progress(cancelled.job_id, 3, 13)
    store.finish(counted_up.job_id, JobState.SUCCEEDED)
    store.finish(short.job_id, JobState.SUCCEEDED)
    assert (store.get(counted_up.job_id).done, store.get(counted_up.job_id).total) == (1, 1)
    assert (store.get(short.job_id).done, store.get(short.job_id).total) == (13, 13)
    store.finish(cancelled.job_id, JobState.CANCELLED)
    assert (store.get(cancelled.job_id).done, store.get(cancelled.job_id).total) == (3, 13)  # as far as it got


@pytest.mark.parametrize(
    "path",
    [
        ["finish:succeeded"],  # pending cannot succeed without running
        ["start", "finish:succeeded", "finish:failed"],
        ["start", "finish:cancelled", "start"],
        ["start", "finish:interrupted", "progress"],
    ],
)
def test_forbidden_transitions_are_refused(store, path):
    job = store.create("import", "b" * 32)
    *allowed, forbidden = path

    def apply(step):
        if step == "start":
            store.start(job.job_id)
        elif step == "progress":
            store.progress(job.job_id, 1)
        else:
            store.finish(job.job_id, JobState(step.split(":")[1]))

    for step in allowed:
        apply(step)
    before = store.get(job.job_id)
    with pytest.raises(JobStateError):
        apply(forbidden)
    assert store.get(job.job_id) == before


def test_running_is_not_a_final_state(store):
    job = store.create("import", "b" * 32)
    with pytest.raises(JobStateError):
        store.finish(job.job_id, JobState.RUNNING)


def test_list_filters_by_session_and_skips_damaged_records(store, caplog):
    first = store.create("import", "a" * 32)
    store.create("convert", "b" * 32)
    (store.jobs_dir / "0123456789abcdef01234567.json").write_text("{not json")
    assert [r.job_id for r in store.list("a" * 32)] == [first.job_id]
    assert len(store.list()) == 2
    assert "unreadable" in caplog.text
    with pytest.raises(KeyError):
        store.get("../../etc/passwd")


DEAD_JOBS = textwrap.dedent(
    """
    import sys
    from ret_desktop.core.jobs import JobState, JobStore
    store = JobStore(sys.argv[1])
    running = store.create("convert", "c" * 32)
    store.start(running.job_id, total=5)
    store.create("export", "c" * 32)
    finished = store.create("import", "c" * 32)
    store.start(finished.job_id)
    store.finish(finished.job_id, JobState.SUCCEEDED)
    """
)


def test_jobs_of_a_dead_process_become_interrupted_at_start_up(store):
    subprocess.run(
        [sys.executable, "-c", DEAD_JOBS, str(store.jobs_dir)], check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    mine = store.create("convert", "d" * 32)
    store.start(mine.job_id)
    changed = store.mark_interrupted()
    assert sorted(r.kind for r in changed) == ["convert", "export"]
    states = {(r.kind, r.session_id[0]): r.state for r in store.list()}
    assert states == {
        ("convert", "c"): JobState.INTERRUPTED,
        ("export", "c"): JobState.INTERRUPTED,
        ("import", "c"): JobState.SUCCEEDED,
        ("convert", "d"): JobState.RUNNING,  # this process's own job is not touched
    }
    assert all(r.error for r in changed)
    assert store.mark_interrupted() == []
