"""The session controller, ops over the job runner, and what a failed job leaves on disk. Real threads,
a real job store and real services; no window (an op and the controller work without one)."""

import json
import logging
import threading
from pathlib import Path

import pytest
import shiboken6

from conftest import signed_in_controller
from ret_desktop.core.jobs import JobState, JobStore, failure_summary, failure_trace
from ret_desktop.gui.jobs import JobRunner
from ret_desktop.gui.ops import Op

SECRET = "Capybaraentry-7.xml"  # stands for a name from the session


def _fail_reading(name: str) -> None:
    try:
        open(Path("/nonexistent-folder") / name, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {name}") from exc


def test_a_failed_job_tells_the_window_why_but_the_record_and_the_log_only_what_and_where(tmp_path, qtbot, caplog):
    store = JobStore(tmp_path / "jobs")
    runner = JobRunner(store, "s1")

    def work(progress, cancelled):
        progress(1, 2, SECRET)
        _fail_reading(SECRET)

    caplog.set_level(logging.INFO)
    with qtbot.waitSignal(runner.job_finished, timeout=10_000) as finished:
        job_id = runner.submit("convert", work)
    assert finished.args[0] == job_id and finished.args[1] == "failed"
    assert SECRET in finished.args[2]  # the window hears it in full

    record = store.get(job_id)
    assert record.state is JobState.FAILED
    assert record.error == f"ValueError at {Path(__file__).name}:{_fail_reading.__code__.co_firstlineno + 4} " \
                           "in _fail_reading"
    on_disk = (tmp_path / "jobs" / f"{job_id}.json").read_text(encoding="utf-8")
    assert "Capybara" not in on_disk and json.loads(on_disk)["message"] == ""  # not the progress item either

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Capybara" not in logged and "nonexistent-folder" not in logged
    assert f"job {job_id} (convert) failed" in logged
    assert "FileNotFoundError" in logged and "which led to\nValueError" in logged  # the chain, in order
    assert f"{Path(__file__).name}:" in logged and "in _fail_reading" in logged and "in work" in logged


def test_failure_summary_and_trace_name_types_and_places_only():
    try:
        _fail_reading(SECRET)
    except ValueError as exc:
        summary, trace = failure_summary(exc), failure_trace(exc)
    assert summary.startswith("ValueError at test_gui_ops.py:") and "Capybara" not in summary
    assert trace.splitlines()[0] == "FileNotFoundError" and "Capybara" not in trace
    try:
        raise KeyboardInterrupt  # no frames of its own beyond this one; a type from builtins
    except KeyboardInterrupt as exc:
        assert failure_summary(exc).startswith("KeyboardInterrupt at test_gui_ops.py:")
    assert failure_summary(json.JSONDecodeError("x", "", 0)) == "json.decoder.JSONDecodeError"


@pytest.fixture
def controller(tmp_path, qtbot):
    with signed_in_controller(tmp_path / "data", RET_OPERATIONS_PER_MINUTE="2") as controller:
        yield controller


class CountRowsOp(Op):
    """An op as a tool window would write one: plain work on the job's thread, apply on the GUI thread."""

    kind = "count"

    def __init__(self, controller, rows):
        super().__init__(controller)
        self.rows = rows
        self.applied = []

    def work(self, progress, cancelled):
        progress(1, 1, "")
        return sum(self.rows)

    def apply(self, result):
        self.applied.append(result)
        self.controller.refresh_status(f"{result} rows")


def test_an_op_runs_as_a_job_applies_its_result_then_hands_it_on_and_goes(controller, qtbot):
    op = CountRowsOp(controller, [1, 2, 3])
    statuses, handed = [], []
    controller.status_message.connect(statuses.append)
    op.succeeded.connect(lambda result: handed.append((result, list(op.applied))))
    with qtbot.waitSignal(controller.job_finished, timeout=10_000):
        job_id = op.run()
    assert job_id and handed == [(6, [6])] and "6 rows" in statuses  # applied before it is handed on
    assert controller.services.jobs.get(job_id).state is JobState.SUCCEEDED
    qtbot.waitUntil(lambda: not shiboken6.isValid(op))  # deleted once its job has ended


def test_ops_over_the_rate_limit_are_refused_with_a_message_and_run_nothing(controller, qtbot):
    statuses = []
    controller.status_message.connect(statuses.append)
    for _ in range(2):
        with qtbot.waitSignal(controller.job_finished, timeout=10_000):
            assert CountRowsOp(controller, [1]).run()
    refused = CountRowsOp(controller, [1])
    assert refused.run() is None and not controller.runner.busy
    assert any(s.startswith("Too many operations in a minute") for s in statuses)
    assert len(controller.services.jobs.list(controller.session.info.session_id)) == 2
    qtbot.waitUntil(lambda: not shiboken6.isValid(refused))


def test_a_job_stopped_at_sign_out_hands_nothing_back(controller, qtbot):
    running = threading.Event()

    class WaitingOp(CountRowsOp):
        def work(self, progress, cancelled):
            running.set()
            while not cancelled():
                running.wait(0.005)
            return 1

    op = WaitingOp(controller, [])
    applied = op.applied
    job_id = op.run()
    qtbot.waitUntil(running.is_set)
    session = controller.session
    controller.end()
    qtbot.waitUntil(lambda: not shiboken6.isValid(op))
    assert applied == [] and controller.services.jobs.get(job_id).state is JobState.CANCELLED
    controller.start(session)  # the fixture ends the session
