"""Batches converted by worker processes (core.parallel): the same tables, byte for byte, as one
process gives; cancel ends every worker; a killed worker fails only its own document."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ret_desktop.core.convert import ConversionCancelled, ConvertOptions, convert_documents, convert_to_folder
from ret_desktop.core.importing import IntakeReport, take_in
from ret_desktop.core.parallel import ROWS_PER_BATCH
from ret_desktop.core.workbook import Workbook

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

DTD = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE dblp SYSTEM "http://127.0.0.1:9/dblp.dtd">\n'
NS = "http://www.crossref.org/schema/5.3.1"
DETECT_BYTES = 8000  # detection reads the start of the larger documents only: one fails after it


def _article(n: int, people: int) -> str:
    names = "".join(f'<person_name sequence="{"first" if i == 0 else "additional"}"><given_name>G{n}.{i}'
                    f"</given_name><surname>S{n}</surname></person_name>" for i in range(people))
    return (f'<journal_article type="t{n % 3}"><titles><title>Title <i>{n}</i> here</title></titles>'
            f"<contributors>{names}</contributors><doi_data><doi>10.5555/{n}</doi></doi_data></journal_article>")


def _deposit(first: int, count: int) -> str:
    articles = "".join(_article(n, 1 + n % 4) for n in range(first, first + count))
    return (f'<doi_batch xmlns="{NS}"><head><id>{first}</id></head><body><journal>'
            f"<journal_metadata><full_title>J{first % 2}</full_title></journal_metadata>{articles}"
            "</journal></body></doi_batch>")


def _library(n: int, books: int, trailer: bool = False) -> str:
    """Columns in an order of their own per document, some only in some documents; a trailer after
    the records is written back onto their rows."""
    rows = []
    for b in range(books):
        fields = [f"<title>T{n}.{b}</title>", f'<year y="{b}">{1900 + b % 120}</year>']
        if (n + b) % 3 == 0:
            fields.append(f"<note>N{b}</note>")
        if n % 2:
            fields.reverse()
        rows.append(f"<book>{''.join(fields)}</book>")
    tail = f"<footer>closed {n}</footer>" if trailer else ""
    return f"<library><owner>O{n}</owner>{''.join(rows)}{tail}</library>"


def _batch(tmp_path: Path) -> list[Path]:
    """Two archives (two groups) and a loose document: many documents, one of several batches,
    documents that fail (one while scanning, one after some rows), and one with a warning."""
    journals = tmp_path / "journals.zip"
    with zipfile.ZipFile(journals, "w") as archive:
        for number in range(9):
            archive.writestr(f"deposit-{number}.xml", _deposit(number * 40, 40 if number != 4 else 700))
        archive.writestr("deposit-broken.xml", _deposit(999, 30)[:-60])  # cut short after its rows
    library = tmp_path / "library.zip"
    with zipfile.ZipFile(library, "w") as archive:
        for number in range(7):
            archive.writestr(f"lib-{number}.xml", _library(number, 30 if number != 3 else 2 * ROWS_PER_BATCH + 17,
                                                           trailer=number in (2, 3)))
        # context between records: written back onto the rows before it, a new column mid-document
        archive.writestr("lib-shelves.xml", _library(5, 40).replace("<book>", "<shelf>S</shelf><book>", 3)
                         .replace("<shelf>S</shelf>", "", 1))
        archive.writestr("mismatched.xml", "<library><book><title>x</year></book></library>")  # fails its scan
        archive.writestr("references.xml", DTD + "<dblp><a><t>x &notaname; y &uuml;</t></a><a><t>z</t></a></dblp>")
    loose = tmp_path / "loose.xml"
    loose.write_text(_library(100, 5), encoding="utf-8")
    return [journals, library, loose]


def _tables(workbook: Workbook) -> dict:
    """Everything a table is: its description, column names and every cell (NULL apart from '')."""
    return {name: (workbook.info(name), [row for batch in workbook.iter_rows(name) for row in batch])
            for name in workbook.table_names()}


def _files(folder: Path) -> dict[str, bytes]:
    """The bytes of every file written; an XLSX as its parts, less the one that holds the time."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                for part in book.namelist():
                    if part != "docProps/core.xml":
                        files[f"{path.name}:{part}"] = book.read(part)
        else:
            files[path.name] = path.read_bytes()
    return files


@pytest.mark.parametrize("mode", ["wide", "relational"])
def test_a_batch_converted_by_workers_is_identical_to_one_process(tmp_path, mode):
    inputs = _batch(tmp_path)
    report = take_in(inputs, tmp_path / "extracted")
    results = {}
    for workers in (1, 2, 3):
        with Workbook(tmp_path / f"workbook-{workers}.sqlite") as workbook:
            options = ConvertOptions(mode=mode, workers=workers, detect_bytes=DETECT_BYTES)
            result = convert_documents(report, workbook, options)
            results[workers] = (result, _tables(workbook))
    one, _ = results[1]
    assert {f.status for f in one.files} == {"ok", "failed"}
    failed = {f.path: f for f in one.files if f.status == "failed"}
    assert set(failed) == {"journals.zip/deposit-broken.xml", "library.zip/mismatched.xml"}
    assert failed["journals.zip/deposit-broken.xml"].table  # failed after its scan, while flattening
    assert any(f.warnings for f in one.files)
    assert any(t.parent for t in one.tables) == (mode == "relational")
    assert results[2] == results[1]
    assert results[3] == results[1]

    for workers in (1, 2):
        options = ConvertOptions(mode=mode, workers=workers, detect_bytes=DETECT_BYTES)
        convert_to_folder(inputs, tmp_path / f"out-{workers}", options,
                          formats=("csv", "xlsx"))
    assert _files(tmp_path / "out-2") == _files(tmp_path / "out-1")


def _labels(report: IntakeReport) -> list[str]:
    return [d.display for d in report.documents]


def test_a_killed_worker_fails_its_document_and_the_others_go_on(tmp_path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for number in range(7):
            # documents 1 and 2 have far more rows than a worker may hold: neither can be done when
            # the writer, at the start of document 1, stops to kill the workers
            zipped.writestr(f"lib-{number}.xml", _library(number, 60_000 if number in (1, 2) else 40))
    report = take_in([archive], tmp_path / "extracted")
    labels = _labels(report)
    killed = []

    def kill_workers(done, total, current):
        if current == labels[1] and not killed:
            killed.extend(multiprocessing.active_children())
            for worker in killed:
                os.kill(worker.pid, signal.SIGKILL)

    with Workbook(tmp_path / "parallel.sqlite") as workbook:
        result = convert_documents(report, workbook, ConvertOptions(workers=2), on_progress=kill_workers)
        parallel = _tables(workbook)
    assert len(killed) == 2
    failed = {f.path: f.error for f in result.files if f.status == "failed"}
    assert set(failed) == {labels[1], labels[2]}
    assert all("ended unexpectedly (SIGKILL)" in reason for reason in failed.values())
    assert multiprocessing.active_children() == []

    rest = IntakeReport([d for n, d in enumerate(report.documents) if n not in (1, 2)])
    with Workbook(tmp_path / "one.sqlite") as workbook:
        convert_documents(rest, workbook, ConvertOptions(workers=1))
        assert parallel == _tables(workbook)


def test_cancel_ends_every_worker_and_leaves_the_workbook_as_it_was(tmp_path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for number in range(8):
            zipped.writestr(f"lib-{number}.xml", _library(number, 3000))
    report = take_in([archive], tmp_path / "extracted")
    labels = _labels(report)
    with Workbook(tmp_path / "workbook.sqlite") as workbook:
        convert_documents(IntakeReport(report.documents[:2]), workbook, ConvertOptions(workers=2))
        before = _tables(workbook)
        seen = []
        with pytest.raises(ConversionCancelled):
            convert_documents(report, workbook, ConvertOptions(workers=2),
                              should_cancel=lambda: labels[3] in seen,
                              on_progress=lambda done, total, current: seen.append(current))
        assert multiprocessing.active_children() == []
        assert _tables(workbook) == before


def test_cancel_while_the_workers_scan_ends_them_too(tmp_path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for number in range(4):
            zipped.writestr(f"lib-{number}.xml", _library(number, 20))
    report = take_in([archive], tmp_path / "extracted")
    with Workbook(tmp_path / "workbook.sqlite") as workbook:
        with pytest.raises(ConversionCancelled):
            convert_documents(report, workbook, ConvertOptions(workers=2), should_cancel=lambda: True)
        assert workbook.table_names() == []
    assert multiprocessing.active_children() == []


def _run_convert(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ret_desktop", "convert", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "RET_DATA_DIR": str(tmp_path / "data"),
                                                       "PYTHONPATH": os.pathsep.join(sys.path)})


def test_convert_with_workers_from_the_command_line_writes_what_one_process_writes(tmp_path):
    inputs = _batch(tmp_path)
    for workers in ("1", "2"):
        result = _run_convert(tmp_path, *inputs, "--out", tmp_path / f"out-{workers}", "--workers", workers)
        assert result.returncode == 1, result.stderr  # the broken documents
        assert "Traceback" not in result.stderr
    assert _files(tmp_path / "out-2") == _files(tmp_path / "out-1")
    refused = _run_convert(tmp_path, *inputs, "--out", tmp_path / "out-0", "--workers", "0")
    assert refused.returncode == 2 and "--workers" in refused.stderr and "Traceback" not in refused.stderr


def test_the_workers_setting_defaults_to_all_cores_but_one_and_reads_its_variable(tmp_path):
    from ret_desktop.core.config import default_convert_workers, load_settings

    env = {"RET_DATA_DIR": str(tmp_path / "data")}
    assert load_settings(env).convert_workers == default_convert_workers() == max(1, len(os.sched_getaffinity(0)) - 1)
    assert load_settings({**env, "RET_CONVERT_WORKERS": "3"}).convert_workers == 3


def test_the_window_converts_a_batch_with_worker_processes(tmp_path, qtbot, monkeypatch):
    from test_gui import DATA, build_app, convert_all, create_admin_and_sign_in, import_samples

    import ret_desktop.core.convert as convert

    pools = []

    class CountedPool(convert.FlattenPool):  # the real pool, counted
        def __init__(self, workers):
            pools.append(workers)
            super().__init__(workers)

    monkeypatch.setattr(convert, "FlattenPool", CountedPool)
    monkeypatch.setenv("RET_CONVERT_WORKERS", "2")
    app = build_app(tmp_path / "data", keyring_backend=None)
    app.login_window.show()
    try:
        create_admin_and_sign_in(app, qtbot)
        window = app.main_window
        _, state, _ = import_samples(app, qtbot, monkeypatch, DATA / "test-examples_1.zip", DATA / "library_1mb.xml")
        assert state == "succeeded"
        _, state, error = convert_all(app, qtbot)
        assert (state, error) == ("succeeded", "")
        assert pools == [2]
        session = window.controller.session
        with Workbook(session.workbook_path) as workbook:
            in_the_window = _tables(workbook)
        with Workbook(tmp_path / "one.sqlite") as workbook:
            convert_documents(session.intake, workbook, ConvertOptions(workers=1))
            assert in_the_window == _tables(workbook)
    finally:
        app.close()
    assert multiprocessing.active_children() == []


WRITER_THAT_STOPS = """
import multiprocessing, sys, time
from pathlib import Path
from ret_desktop.core.convert import ConvertOptions, convert_documents
from ret_desktop.core.importing import take_in
from ret_desktop.core.workbook import Workbook

if __name__ == "__main__":
    report = take_in([Path(sys.argv[1])], Path(sys.argv[2]) / "extracted")

    def stop_reading(done, total, current):
        if current.endswith("lib-1.xml"):  # the workers are in documents larger than they may hold
            print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
            time.sleep(600)

    with Workbook(Path(sys.argv[2]) / "workbook.sqlite") as workbook:
        convert_documents(report, workbook, ConvertOptions(workers=2), on_progress=stop_reading)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.split() == ["State:", "Z", "(zombie)"] for line in status)
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_workers_end_when_the_writer_is_killed(tmp_path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for number in range(4):
            zipped.writestr(f"lib-{number}.xml", _library(number, 60_000 if number in (1, 2) else 40))
    script = tmp_path / "writer.py"
    script.write_text(WRITER_THAT_STOPS)
    writer = subprocess.Popen([sys.executable, str(script), str(archive), str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        pids = [int(pid) for pid in writer.stdout.readline().split()]
        assert len(pids) == 2
        writer.kill()
        writer.wait(30)
        deadline = time.monotonic() + 30
        while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_gone(pid) for pid in pids)
    finally:
        writer.kill()
        writer.wait()
