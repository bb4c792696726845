"""Permissions (issue 10 §6): started under umask 000, every folder the app creates is 0700 and every
file in it 0600; exported files in a folder the user picks are never writable by group or others.
Each case is a real child process started with umask 000; the tree is walked while its databases are
open (for -wal/-shm) and again after it has exited."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")

LISTING = """
import json, os, stat, sys
def dump_modes(root, target):
    modes = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            modes[os.path.relpath(path, root) + ("/" if name in dirs else "")] = stat.S_IMODE(os.lstat(path).st_mode)
    with open(target, "w") as handle:
        json.dump(modes, handle)
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RET_DATA_DIR": str(tmp_path / "data"),
            "QT_QPA_PLATFORM": "offscreen", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **extra}


def _run(tmp_path: Path, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=180,
                            env=_env(tmp_path), umask=0)
    assert result.returncode in (0, 1), result.stderr
    return result


def _modes(root: Path) -> dict[str, int]:
    modes = {}
    for path in [root, *root.rglob("*")]:
        key = str(path.relative_to(root)) + ("/" if path.is_dir() else "")
        modes[key] = stat.S_IMODE(path.lstat().st_mode)
    return modes


def _not_private(modes: dict[str, int]) -> dict[str, str]:
    return {path: oct(mode) for path, mode in modes.items() if mode != (0o700 if path.endswith("/") else 0o600)}


def _sample_zip(tmp_path: Path) -> Path:
    path = tmp_path / "4_AR_payment_term.zip"
    records = "".join(f"<term><code>T{i}</code><days>{i * 15}</days></term>" for i in range(50))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("terms.xml", f"<terms>{records}</terms>")
    return path


def test_cli_commands_under_umask_000_create_owner_only_folders_and_files(tmp_path):
    _run(tmp_path, ["-m", "ret_desktop", "users", "add", "admin", "--password-stdin"], stdin="a long password\n")
    _run(tmp_path, ["-m", "ret_desktop", "users", "list"])
    _run(tmp_path, ["-m", "ret_desktop", "cache", "stats"])
    out = tmp_path / "picked" / "out"
    _run(tmp_path, ["-m", "ret_desktop", "convert", str(_sample_zip(tmp_path)), "--out", str(out),
                    "--format", "both", "--zip", "all.zip"])
    modes = _modes(tmp_path / "data")
    assert {"./", "config/", "logs/", "logs/ret-desktop.log", "ret_app.db", "runtime/", "runtime/sessions/",
            "runtime/jobs/", "runtime/ret_session.db"} <= set(modes)
    assert _not_private(modes) == {}
    # Exported files, in a folder the user picks: a plain save under the umask, but never writable
    # by group or others; the folders convert creates likewise; no scratch is left.
    exported = _modes(tmp_path / "picked")
    assert exported == {"./": 0o755, "out/": 0o755, "out/AR_PAYMENT_TERM.csv": 0o644,
                        "out/AR_PAYMENT_TERM.xlsx": 0o644, "out/all.zip": 0o644, "out/manifest.json": 0o644}


DRIVER = LISTING + """
import logging
from pathlib import Path
from ret_desktop.cli import main

assert main(["cache", "stats"]) == 0  # the real start-up: umask, settings, logging, data folders
from ret_desktop.core.config import load_settings, save_settings
from ret_desktop.core.convert import convert_documents, export_tables, export_zip
from ret_desktop.core.importing import take_in
from ret_desktop.core.jobs import JobState
from ret_desktop.core.services import open_services
from ret_desktop.core.workbook import Workbook

settings = save_settings(load_settings(), {"operations_per_minute": 50})
with open_services(settings, keyring_backend=None) as services:
    services.accounts.create_user("alice", "a long password", role="admin")
    info = services.sessions.create("alice")
    folder = services.sessions.folder(info.session_id)
    job = services.jobs.create("convert", info.session_id)
    services.jobs.start(job.job_id)
    report = take_in([Path(sys.argv[1])], folder / "extracted")
    with Workbook(folder / "workbook.sqlite") as workbook:
        result = convert_documents(report, workbook)
        export_tables(workbook, result.tables, Path(sys.argv[2]), ("csv", "xlsx"))
        export_zip(workbook, result.tables, Path(sys.argv[2]) / "all.zip", ("csv",))
        services.jobs.finish(job.job_id, JobState.SUCCEEDED)
        for handler in logging.getLogger().handlers:
            if hasattr(handler, "doRollover"):
                handler.doRollover()
        logging.getLogger("ret_desktop").warning("a line in the new log")
        dump_modes(settings.data_dir, sys.argv[3])
"""


def test_a_session_under_umask_000_keeps_every_file_owner_only(tmp_path):
    picked = tmp_path / "picked"
    picked.mkdir()
    os.chmod(picked, 0o755)
    _run(tmp_path, ["-c", DRIVER, str(_sample_zip(tmp_path)), str(picked), str(tmp_path / "during.json")])
    during = json.loads((tmp_path / "during.json").read_text())
    session = next(p for p in during if p.startswith("runtime/sessions/") and p.count("/") == 3)
    expected = {"config/settings.json", "logs/ret-desktop.log", "logs/ret-desktop.log.1", "ret_app.db",
                "ret_app.db-wal", "ret_app.db-shm", "runtime/ret_session.db", "runtime/ret_session.db-wal",
                "runtime/ret_session.db-shm", f"{session}metadata.json", f"{session}workbook.sqlite",
                f"{session}workbook.sqlite-wal", f"{session}workbook.sqlite-shm", f"{session}extracted/"}
    assert expected <= set(during)
    assert any(p.startswith("runtime/jobs/") and p.endswith(".json") for p in during)
    assert _not_private(during) == {}
    assert _not_private(_modes(tmp_path / "data")) == {}
    assert {p: oct(m) for p, m in _modes(picked).items()} == {
        "./": "0o755", "AR_PAYMENT_TERM.csv": "0o644", "AR_PAYMENT_TERM.xlsx": "0o644", "all.zip": "0o644"}


WINDOW = LISTING + """
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from ret_desktop.cli import main
from ret_desktop.core.config import load_settings

qapp = QApplication(sys.argv[:1])

def started():
    dump_modes(load_settings().data_dir, sys.argv[1])
    qapp.quit()

QTimer.singleShot(0, started)  # runs once the event loop of the window is up
sys.exit(main([]))
"""


def test_the_window_started_under_umask_000_creates_owner_only_folders_and_files(tmp_path):
    _run(tmp_path, ["-c", WINDOW, str(tmp_path / "during.json")])
    during = json.loads((tmp_path / "during.json").read_text())
    assert {"ret-desktop.lock", "ret_app.db", "ret_app.db-wal", "runtime/ret_session.db-wal",
            "logs/ret-desktop.log"} <= set(during)
    assert _not_private(during) == {}
    assert _not_private(_modes(tmp_path / "data")) == {}


def test_folders_left_open_by_an_earlier_version_are_made_owner_only(tmp_path):
    data = tmp_path / "data"
    for folder in ("config", "logs", "runtime/jobs"):
        (data / folder).mkdir(parents=True)
        os.chmod(data / folder, 0o777)
    (data / "logs" / "ret-desktop.log").write_text("")
    os.chmod(data / "logs" / "ret-desktop.log", 0o666)
    _run(tmp_path, ["-m", "ret_desktop", "cache", "stats"])
    assert _not_private(_modes(data)) == {}


def test_a_session_db_folder_the_user_named_is_left_as_it_is(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    env = _env(tmp_path, RET_SESSION_DB=str(shared / "cache.db"))
    subprocess.run([sys.executable, "-m", "ret_desktop", "cache", "stats"], check=True, capture_output=True,
                   timeout=120, env=env, umask=0)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "cache.db").stat().st_mode) == 0o600
