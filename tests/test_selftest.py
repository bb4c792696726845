"""`ret-desktop selftest`: the whole path in a temporary data folder, and a clear word when a step fails."""

import os
import subprocess
import sys

from ret_desktop import selftest


def test_selftest_passes_and_touches_no_data_of_the_user(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RET_DATA_DIR": str(tmp_path / "mine")}
    result = subprocess.run([sys.executable, "-m", "ret_desktop", "selftest"], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "selftest passed"
    for step in ("sign in", "import test-examples_1.zip", "convert every document", "session folder wiped",
                 "session cache rows wiped"):
        assert any(line.startswith(f"  ok  {step}  (") for line in lines), step
    assert "propagateSizeHints" not in result.stderr
    assert not (tmp_path / "mine" / "runtime").exists()  # the user's own data folder was never used


def test_selftest_says_which_step_failed(qapp, monkeypatch):
    monkeypatch.setattr(selftest, "SAMPLE_DOCUMENTS", 99)
    said = []
    assert selftest.run_selftest(said.append) == 1
    assert said[-1] == "selftest FAILED: find the sample's documents: found 13, not 99"
