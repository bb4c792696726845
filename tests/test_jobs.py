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
    assert (done.state, done.done, done.message, done.finished_at) == (JobState.SUCCEEDED, 4, "10 documents", clock.now)
    assert store.get(job.job_id) == done
    assert [p.name for p in store.jobs_dir.iterdir()] == [f"{job.job_id}.json"]  # no temp files left


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
