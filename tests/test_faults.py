"""Faults during conversion and export: a full disk is reported as such and leaves everything as it
was; a run killed with SIGKILL leaves scratch that the next run, or the app's start-up, removes."""

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ret_desktop.core.convert import convert_documents
from ret_desktop.core.diskspace import DiskFullError
from ret_desktop.core.importing import take_in
from ret_desktop.core.workbook import Workbook

ROOT = Path(__file__).resolve().parents[1]
needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only")
DISK_FULL = re.compile(r"disk full: (the conversion|writing the tables) needs about (\d+) MB more")


def library(path: Path, books: int, tag: str = "") -> Path:
    """A generated ``library/book`` document (about 180 bytes a book)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("<library>")
        for i in range(books):
            handle.write(f"<book id='{i}'><title>Title {tag}{i} of a fine book</title><author>Author {i % 97}"
                         f"</author><year>{1900 + i % 120}</year><note>{'x' * 60}</note></book>")
        handle.write("</library>")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(folder.rglob("*"))}


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RET_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "ret_desktop", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def small_disk(tmp_path):
    """Mount a real tmpfs of ``size_mb`` for the test (Linux, as root); skip where that is not allowed."""
    mounted = []

    def mount(size_mb: int) -> Path:
        if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
            pytest.skip("a small real disk needs a tmpfs, which only root can mount (Linux); "
                        "test_a_full_workbook_* covers the same path through SQLite's own size limit")
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


# ---------------------------------------------------------------------------------------------- disk full


@pytest.mark.parametrize("disk_mb", [9, 10])  # full while converting, and while writing the tables
def test_convert_on_a_full_disk_says_so_and_leaves_the_output_folder_as_it_was(tmp_path, small_disk, disk_mb):
    disk = small_disk(disk_mb)
    out = disk / "out"
    earlier = run_cli("convert", str(library(tmp_path / "small.xml", 50)), "--out", str(out), data_dir=tmp_path / "d")
    assert earlier.returncode == 0, earlier.stderr
    before = snapshot(out)
    free_before = shutil.disk_usage(disk).free

    full = run_cli("convert", str(library(tmp_path / "big.xml", 40_000)), "--out", str(out), data_dir=tmp_path / "d")

    assert full.returncode == 1
    assert "Traceback" not in full.stderr and "rollback" not in full.stderr
    match = DISK_FULL.search(full.stderr)
    assert match and int(match.group(2)) >= 1, full.stderr
    assert snapshot(out) == before  # the earlier tables intact, nothing half-written, no scratch left
    assert shutil.disk_usage(disk).free == free_before


def test_a_full_workbook_stops_the_conversion_and_keeps_the_earlier_tables(tmp_path):
    """The window's path (the same core call, on the session's WAL workbook). SQLite's page limit gives
    its real SQLITE_FULL, as a full disk does, on any machine."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    keep = take_in([library(tmp_path / "keep.xml", 30, "k")], tmp_path / "x1")
    first = take_in([library(tmp_path / "a" / "books.xml", 20, "a")], tmp_path / "x2")
    second = take_in([library(tmp_path / "b" / "books.xml", 20_000, "b")], tmp_path / "x3")  # group BOOKS again
    with Workbook(tmp_path / "workbook.sqlite") as workbook:
        convert_documents(keep, workbook)
        convert_documents(first, workbook)
        before = {name: list(workbook.iter_batches(name)) for name in workbook.table_names()}
        (pages,) = workbook._conn.execute("PRAGMA page_count").fetchone()
        workbook._conn.execute(f"PRAGMA max_page_count = {pages + 100}")  # 400 KB more at most

        with pytest.raises(DiskFullError) as raised:
            convert_documents(second, workbook)

        message = str(raised.value)
        assert re.fullmatch(r"disk full: the conversion needs about \d+ MB more", message)
        assert int(re.search(r"\d+", message).group()) >= 3  # the 3.6 MB input, less the 0.4 MB room
        assert str(tmp_path) not in message  # it goes to the job record
        assert {name: list(workbook.iter_batches(name)) for name in workbook.table_names()} == before
        assert workbook._conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

        workbook._conn.execute("PRAGMA max_page_count = 1073741823")  # space again: the same run now works
        assert convert_documents(second, workbook).tables[0].rows == 20_000
        assert workbook.info("KEEP").rows == 30


# ---------------------------------------------------------------------------------------------- SIGKILL

_CONVERT_AND_BLOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ret_desktop.core.convert import convert_to_folder

    def progress(done, total, current):
        if done:  # well inside the conversion: scratch unpacked, rows being written
            print("converting", flush=True)
            time.sleep(120)

    convert_to_folder([Path(sys.argv[1])], Path(sys.argv[2]), on_progress=progress)
""")

_EXPORT_AND_BLOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ret_desktop.core.convert import convert_documents, export_tables, export_zip
    from ret_desktop.core.importing import take_in
    from ret_desktop.core.scratch import record_scratch_in
    from ret_desktop.core.workbook import Workbook

    source, session, folder, records, how = sys.argv[1:6]
    record_scratch_in(Path(records))  # as the window does
    with Workbook(Path(session) / "workbook.sqlite") as workbook:
        tables = convert_documents(take_in([Path(source)], Path(session) / "extracted"), workbook).tables

        def blocked():  # asked between batches, with the file half-written
            print("exporting", flush=True)
            time.sleep(120)

        if how == "zip":
            export_zip(workbook, tables, Path(folder) / "all.zip", should_cancel=blocked)
        else:
            export_tables(workbook, tables, Path(folder), should_cancel=blocked)
""")


def kill_when(args: list[str], ready: str) -> int:
    """Start ``python -c args`` in the repository, wait for its line ``ready``, SIGKILL it; its pid.
    Its stdin stays open, so a child may hold by reading it."""
    child = subprocess.Popen([sys.executable, "-c", *args], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == ready
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.pid


def _users_files(folder: Path) -> list[Path]:
    """Hidden files and folders a person (or a live run) may have that look a little like scratch."""
    made = [folder / ".ret-work-notes", folder / f".ret-work-{os.getpid()}-abcdefgh",
            folder / ".report.csv.part", folder / ".report.csv.ret-1-x.part", folder / "ret-work-1-abcdefgh"]
    for path in made:
        if "notes" in path.name or str(os.getpid()) in path.name:
            path.mkdir()
            (path / "inside.txt").write_text("mine")
        else:
            path.write_text("mine")
    return made


@needs_sigkill
def test_a_convert_killed_midway_leaves_scratch_that_the_next_run_removes(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = _users_files(out)
    pid = kill_when([_CONVERT_AND_BLOCK, str(library(tmp_path / "big.xml", 20_000)), str(out)], "converting")
    left = [p for p in out.iterdir() if re.match(rf"\.ret-work-{pid}[.-]", p.name)]  # <pid>.<start time>
    assert len(left) == 1 and (left[0] / "workbook.sqlite").exists()  # what SIGKILL left behind

    again = run_cli("convert", str(library(tmp_path / "small.xml", 5)), "--out", str(out), data_dir=tmp_path / "d")

    assert again.returncode == 0, again.stderr
    assert sorted(out.iterdir()) == sorted([*mine, out / "SMALL.csv", out / "manifest.json"])
    assert all(p.is_file() or (p / "inside.txt").read_text() == "mine" for p in mine)


@needs_sigkill
@pytest.mark.parametrize("how", ["tables", "zip"])
def test_an_export_killed_midway_leaves_scratch_that_the_app_start_removes(tmp_path, qtbot, how):
    from ret_desktop.app import build_app  # Qt only for this test
    from ret_desktop.core.config import load_settings

    settings = load_settings({"RET_DATA_DIR": str(tmp_path / "data")})
    session = settings.sessions_dir / ("ab" * 16)
    session.mkdir(parents=True)
    folder = tmp_path / "exports"
    folder.mkdir()
    mine = _users_files(folder)
    records = settings.runtime_root / "scratch"
    pid = kill_when([_EXPORT_AND_BLOCK, str(library(tmp_path / "big.xml", 20_000)), str(session), str(folder),
                      str(records), how], "exporting")
    left = [p for p in folder.iterdir() if re.search(rf"ret-(work-)?{pid}[.-]", p.name)]
    assert len(left) == 1 and left[0].name.startswith(".BIG.csv.ret-" if how == "tables" else ".ret-work-")
    assert list(records.iterdir())  # where the scratch went, for the start-up sweep

    app = build_app(tmp_path / "data", keyring_backend=None)
    app.close()

    assert sorted(folder.iterdir()) == sorted(mine)  # the leftover gone, nothing else
    assert list(records.iterdir()) == []
    assert (session / "workbook.sqlite").exists()  # the session itself is not scratch


def test_the_window_says_disk_full_and_keeps_the_tables_it_had(tmp_path, small_disk, qtbot, monkeypatch):
    from test_gui import build_app, convert_all, create_admin_and_sign_in, import_samples

    disk = small_disk(11)  # the 7 MB input fits, and half of its tables
    app = build_app(disk / "data", keyring_backend=None)
    try:
        app.login_window.show()
        create_admin_and_sign_in(app, qtbot)
        window = app.main_window
        import_samples(app, qtbot, monkeypatch, library(tmp_path / "books.xml", 40, "a"))
        assert convert_all(app, qtbot)[1] == "succeeded"
        before = {t.name: list(window.controller.read_workbook.iter_batches(t.name)) for t in window.controller.session.tables}
        (tmp_path / "b").mkdir()
        import_samples(app, qtbot, monkeypatch, library(tmp_path / "b" / "books.xml", 40_000, "b"))
        job_id, state, error = convert_all(app, qtbot)

        assert state == "failed"
        assert DISK_FULL.search(error) and str(disk) not in error, error
        recorded = app.services.jobs.get(job_id).error  # the record says the kind of failure, no message
        assert "DiskFullError at " in recorded and str(disk) not in recorded, recorded
        assert {t.name: list(window.controller.read_workbook.iter_batches(t.name)) for t in window.controller.session.tables} == before
    finally:
        app.close()


def test_the_start_up_sweep_removes_only_scratch_of_dead_processes(tmp_path):
    from ret_desktop.core.scratch import sweep_leftovers

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead = int(gone.stdout)  # a process that has ended
    runtime = tmp_path / "runtime"
    session = runtime / "sessions" / ("cd" * 16)
    (session / "output").mkdir(parents=True)
    leftovers, kept = [], []
    for folder in (runtime, session, session / "output"):
        leftovers += [folder / f".ret-work-{dead}-k2j4_x9q", folder / f".T.csv.ret-{dead}-a1b2c3d4.part"]
        kept += [folder / f".ret-work-{os.getpid()}-k2j4_x9q", folder / f".T.csv.ret-{os.getpid()}-a1b2c3d4.part",
                 folder / f"ret-work-{dead}-k2j4_x9q", folder / f".T.csv.{dead}.part", folder / "workbook.sqlite"]
    for path in leftovers + kept:
        if "work" in path.name:
            path.mkdir()
            (path / "inside").write_text("x")
        else:
            path.write_text("x")

    assert sweep_leftovers(runtime, runtime / "sessions") == len(leftovers)

    assert not any(p.exists() for p in leftovers)
    assert all(p.exists() for p in kept)
