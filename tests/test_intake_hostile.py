"""Hostile inputs for intake: damaged streams and headers, odd names, a full disk, floods of entries,
XML under other names, and a seeded fuzz of a small real ZIP. Every run must end with a report."""

import codecs
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from ret_desktop.core.importing import IntakeLimits, sniff_kind, take_in

GOOD = b"<?xml version='1.0'?><r><a>good</a></r>"
TEXT = b"<r>" + b"some text that compresses well " * 64 + b"</r>"


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP of ``entries``: (name, data) or (name, data, compression)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, *method in entries:
            archive.writestr(name, data, compress_type=method[0] if method else compression)
    return buffer.getvalue()


def entry_layout(raw: bytes) -> dict[str, dict[str, int]]:
    """Where each entry's local header, data and central header start in ``raw``."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        position = archive.start_dir
        layout = {}
        for info in archive.infolist():
            local = info.header_offset
            name_length, extra_length = struct.unpack("<HH", raw[local + 26:local + 30])
            central_name, central_extra, central_comment = struct.unpack("<HHH", raw[position + 28:position + 34])
            layout[info.filename] = {"local": local, "data": local + 30 + name_length + extra_length,
                                     "data_length": info.compress_size, "central": position}
            position += 46 + central_name + central_extra + central_comment
    return layout


def put16(raw: bytearray, position: int, value: int) -> None:
    raw[position:position + 2] = struct.pack("<H", value)


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def taken(report) -> list[str]:
    return [d.chain[-1] for d in report.documents]


def reasons(report) -> dict[str, str]:
    return {s.chain[-1]: s.reason for s in report.skipped}


def assert_good_arrived(report) -> None:
    good = [d for d in report.documents if d.chain[-1] == "good.xml"]
    assert len(good) == 1 and good[0].path.read_bytes() == GOOD


# ---------------------------------------------------------------- 1. one bad entry never stops the others

def _damage_stream(method: int, header_bytes: int):
    def damage(raw: bytearray) -> None:
        where = entry_layout(bytes(raw))["bad.xml"]
        start = where["data"] + header_bytes  # past the LZMA properties / the "BZh9" magic
        raw[start:where["data"] + where["data_length"]] = b"\xff" * (where["data_length"] - header_bytes)
    return method, damage


def _unsupported_method(raw: bytearray) -> None:
    where = entry_layout(bytes(raw))["bad.xml"]
    put16(raw, where["local"] + 8, 99)
    put16(raw, where["central"] + 10, 99)


def _unsupported_version(raw: bytearray) -> None:
    put16(raw, entry_layout(bytes(raw))["bad.xml"]["central"] + 6, 99)  # "needs ZIP 9.9" (zipfile reads <= 6.3)


def _crc_mismatch(raw: bytearray) -> None:
    central = entry_layout(bytes(raw))["bad.xml"]["central"]
    raw[central + 16] ^= 0xFF
    raw[entry_layout(bytes(raw))["bad.xml"]["local"] + 14] ^= 0xFF


def _bad_local_header(raw: bytearray) -> None:
    local = entry_layout(bytes(raw))["bad.xml"]["local"]
    raw[local:local + 4] = b"JUNK"


def _runs_past_the_end(raw: bytearray) -> None:
    central = entry_layout(bytes(raw))["bad.xml"]["central"]
    struct.pack_into("<LL", raw, central + 20, 10_000_000, 10_000_000)  # sizes far beyond the file


DAMAGE = {
    "deflate stream (zlib.error)": _damage_stream(zipfile.ZIP_DEFLATED, 0),
    "LZMA stream (LZMAError)": _damage_stream(zipfile.ZIP_LZMA, 9),
    "bzip2 stream (OSError)": _damage_stream(zipfile.ZIP_BZIP2, 4),
    "unsupported method (NotImplementedError)": (zipfile.ZIP_DEFLATED, _unsupported_method),
    "unsupported zip version (NotImplementedError)": (zipfile.ZIP_DEFLATED, _unsupported_version),
    "CRC mismatch (BadZipFile)": (zipfile.ZIP_DEFLATED, _crc_mismatch),
    "local header magic (BadZipFile)": (zipfile.ZIP_DEFLATED, _bad_local_header),
    "data running past the end of the file (EOFError)": (zipfile.ZIP_STORED, _runs_past_the_end),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_entry_is_skipped_and_the_others_arrive(tmp_path, damage):
    method, apply = DAMAGE[damage]
    raw = bytearray(zip_bytes([("first.xml", GOOD), ("bad.xml", TEXT, method), ("good.xml", GOOD)]))
    apply(raw)
    (tmp_path / "batch.zip").write_bytes(bytes(raw))
    report = take_in([tmp_path / "batch.zip"], tmp_path / "x")
    assert_good_arrived(report)
    assert sorted(taken(report)) == ["first.xml", "good.xml"]
    assert list(reasons(report)) == ["bad.xml"]
    reason = reasons(report)["bad.xml"]
    assert reason.startswith(("damaged or unreadable entry", "unsupported")), reason
    assert sorted(p.name for p in files_under(tmp_path / "x")) == ["first.xml", "good.xml"]  # nothing half-written


def test_a_name_flagged_utf8_whose_bytes_are_not_utf8_still_lets_the_archive_be_read(tmp_path):
    raw = bytearray(zip_bytes([("caf__.xml", GOOD), ("good.xml", GOOD)]))
    for name, where in entry_layout(bytes(raw)).items():
        if name == "caf__.xml":
            for header, name_at, flag_at in ((where["local"], 30, 6), (where["central"], 46, 8)):
                raw[header + name_at + 3:header + name_at + 5] = b"\xe9\xff"  # Latin-1 é and a stray byte
                put16(raw, header + flag_at, struct.unpack("<H", raw[header + flag_at:header + flag_at + 2])[0] | 0x800)
    with pytest.raises(UnicodeDecodeError):  # what zipfile itself makes of it
        zipfile.ZipFile(io.BytesIO(bytes(raw)))
    (tmp_path / "names.zip").write_bytes(bytes(raw))
    report = take_in([tmp_path / "names.zip"], tmp_path / "x")
    assert_good_arrived(report)
    assert len(report.documents) == 2 and report.skipped == []
    odd = next(d for d in report.documents if d.chain[-1] != "good.xml")
    assert odd.chain[-1].startswith("caf") and odd.path.read_bytes() == GOOD


def test_a_damaged_extra_field_costs_only_its_entry(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("bad.xml")
        info.extra = struct.pack("<HH", 0x1234, 50) + b"xx"  # says 50 bytes follow; 2 do
        archive.writestr(info, GOOD)
        archive.writestr("good.xml", GOOD)
    with pytest.raises(zipfile.BadZipFile, match="Corrupt extra field"):  # zipfile refuses the whole archive
        zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    (tmp_path / "extra.zip").write_bytes(buffer.getvalue())
    report = take_in([tmp_path / "extra.zip"], tmp_path / "x")
    assert taken(report) == ["good.xml"]
    assert reasons(report) == {"bad.xml": "damaged or unreadable entry (corrupt extra field)"}


def test_a_write_error_other_than_a_full_disk_costs_only_its_entry(tmp_path):
    """A file-size limit (EFBIG) fails one big entry; the intake goes on. Run in a child process, so
    that the limit binds only there."""
    big = b"<r>" + b"y" * 300_000 + b"</r>"
    (tmp_path / "batch.zip").write_bytes(zip_bytes([("big.xml", big), ("good.xml", GOOD)]))
    script = (
        "import json, resource, signal, sys\n"
        "from pathlib import Path\n"
        "from ret_desktop.core.importing import take_in\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
        "report = take_in([Path(sys.argv[1])], Path(sys.argv[2]))\n"
        "print(json.dumps(report.to_json(Path(sys.argv[2]))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "batch.zip"), str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [d["chain"][-1] for d in report["documents"]] == ["good.xml"]
    assert report["skipped"] == [{"chain": ["batch.zip", "big.xml"],
                                  "reason": "cannot be written here (File too large)"}]
    assert report["limits_hit"] == []
    assert [p.name for p in files_under(tmp_path / "x")] == ["good.xml"]


def test_archives_that_cannot_be_read_at_all_are_one_skipped_archive_each(tmp_path):
    whole = zip_bytes([("a.xml", GOOD), ("b.xml", TEXT)])
    (tmp_path / "truncated.zip").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.zip").write_bytes(b"")
    (tmp_path / "good.xml").write_bytes(GOOD)
    cut_directory = bytearray(whole)
    central = entry_layout(whole)["b.xml"]["central"]
    cut_directory[central:central + 4] = b"XXXX"  # central directory damaged
    (tmp_path / "directory.zip").write_bytes(bytes(cut_directory))
    inputs = [tmp_path / n for n in ("truncated.zip", "empty.zip", "directory.zip", "good.xml")]
    report = take_in(inputs, tmp_path / "x")
    assert taken(report) == ["good.xml"]
    assert {name: reason.split(" (")[0] for name, reason in reasons(report).items()} == {
        "truncated.zip": "not a readable ZIP archive", "empty.zip": "not a readable ZIP archive",
        "directory.zip": "not a readable ZIP archive"}


def test_an_unreadable_loose_file_or_folder_is_reported(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    (folder / "locked" / "a.xml").write_bytes(GOOD)
    (folder / "good.xml").write_bytes(GOOD)
    (folder / "locked").chmod(0)
    try:
        report = take_in([folder], tmp_path / "x")
    finally:
        (folder / "locked").chmod(0o700)
    assert taken(report) == ["good.xml"] and "locked" in reasons(report)


def test_pipes_and_other_special_files_are_never_opened(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.xml")  # opening it to read would wait for a writer forever
    os.mkfifo(tmp_path / "loose.xml")
    (folder / "good.xml").write_bytes(GOOD)
    report = take_in([folder, tmp_path / "loose.xml"], tmp_path / "x")
    assert taken(report) == ["good.xml"]
    assert reasons(report) == {"pipe.xml": "not a regular file", "loose.xml": "not a regular file"}


# ---------------------------------------------------------------- 2. names too long for the file system

def test_names_too_long_for_the_file_system_are_taken_under_short_names(tmp_path):
    long_xml = "x" * 296 + ".xml"  # 300 characters
    twin_xml = "x" * 295 + "y.xml"  # differs only past any sensible cut
    long_zip = "y" * 246 + ".zip"  # 250 characters, an inner archive
    deep = "/".join(["d" * 200] * 25) + "/deep.xml"  # 5,000 characters of folders
    wide = "é" * 200 + ".xml"  # 400 bytes in UTF-8
    inner = zip_bytes([("inner.xml", GOOD)])
    raw = zip_bytes([(long_xml, GOOD), (twin_xml, TEXT), (long_zip, inner), (deep, GOOD), (wide, GOOD),
                     ("good.xml", GOOD)])
    (tmp_path / "long.zip").write_bytes(raw)
    first = take_in([tmp_path / "long.zip"], tmp_path / "x")
    assert report_names(first) == ["long.zip/" + long_xml, "long.zip/" + twin_xml,
                                   f"long.zip/{long_zip}/inner.xml", "long.zip/" + deep, "long.zip/" + wide,
                                   "long.zip/good.xml"]
    assert first.skipped == [] and first.limits_hit == []
    assert_good_arrived(first)
    paths = [d.path for d in first.documents]
    assert len(set(paths)) == len(paths)
    assert [p.read_bytes() for p in paths] == [GOOD, TEXT, GOOD, GOOD, GOOD, GOOD]
    assert all(len(part.encode()) <= 255 for p in paths for part in p.parts)
    second = take_in([tmp_path / "long.zip"], tmp_path / "y")  # the same short names, run after run
    assert [d.path.relative_to(tmp_path / "y") for d in second.documents] == \
           [p.relative_to(tmp_path / "x") for p in paths]


def report_names(report) -> list[str]:
    return [d.display for d in report.documents]


def test_a_long_loose_file_name_is_taken_as_it_is(tmp_path):
    folder = tmp_path / ("f" * 200)
    folder.mkdir()
    (folder / ("g" * 240 + ".gpx")).write_bytes(GOOD)
    report = take_in([folder], tmp_path / "x")
    assert taken(report) == ["g" * 240 + ".gpx"]


# ---------------------------------------------------------------- 3. a file where a folder must go

@pytest.mark.parametrize("order", [["f.xml", "f.xml/inner.xml"], ["f.xml/inner.xml", "f.xml"]])
def test_a_file_and_a_folder_of_the_same_name_are_both_taken(tmp_path, order):
    contents = {"f.xml": b"<r>file</r>", "f.xml/inner.xml": b"<r>inside</r>"}
    (tmp_path / "clash.zip").write_bytes(zip_bytes([(name, contents[name]) for name in order] + [("good.xml", GOOD)]))
    report = take_in([tmp_path / "clash.zip"], tmp_path / "x")
    assert report.skipped == []
    assert {d.chain[-1]: d.path.read_bytes() for d in report.documents} == {**contents, "good.xml": GOOD}
    assert len({d.path for d in report.documents}) == 3


def test_names_that_clean_to_the_same_name_are_both_taken(tmp_path):
    contents = {"a?b.xml": b"<r>question mark</r>", "a_b.xml": b"<r>underscore</r>", "d:x/a.xml": b"<r>drive</r>",
                "x/a.xml": b"<r>plain</r>"}
    (tmp_path / "clean.zip").write_bytes(zip_bytes(list(contents.items())))
    report = take_in([tmp_path / "clean.zip"], tmp_path / "x")
    assert report.skipped == []
    assert {d.chain[-1]: d.path.read_bytes() for d in report.documents} == contents
    assert len({d.path for d in report.documents}) == 4


def test_the_same_name_twice_keeps_the_first_and_says_so(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("a.xml", b"<r>first</r>")
        archive.writestr("a.xml", b"<r>second</r>")
        archive.writestr("good.xml", GOOD)
    (tmp_path / "twice.zip").write_bytes(buffer.getvalue())
    report = take_in([tmp_path / "twice.zip"], tmp_path / "x")
    assert [d.path.read_bytes() for d in report.documents] == [b"<r>first</r>", GOOD]
    assert [s.reason for s in report.skipped] == ["a second entry with the same name; the first is kept"]


# ---------------------------------------------------------------- 3b. the run's own scratch and output

def test_scratch_of_any_run_inside_an_input_folder_is_never_taken_in(tmp_path):
    folder = tmp_path / "in"
    (folder / ".ret-work-4242-abc123_x" / "extracted").mkdir(parents=True)
    (folder / ".ret-work-4242-abc123_x" / "extracted" / "copy.xml").write_bytes(GOOD)
    (folder / ".good.xml.ret-4242-k2j3h4.part").write_bytes(GOOD)
    (folder / "good.xml").write_bytes(GOOD)
    report = take_in([folder], tmp_path / "x")
    assert [d.display for d in report.documents] == ["in/good.xml"]
    assert sorted((s.display, s.reason) for s in report.skipped) == [
        ("in/.good.xml.ret-4242-k2j3h4.part", "scratch of a RET Desktop run; never taken in"),
        ("in/.ret-work-4242-abc123_x", "scratch of a RET Desktop run; never taken in")]


def test_an_output_folder_inside_an_input_folder_is_never_taken_in(tmp_path):
    from ret_desktop.core.convert import convert_to_folder

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "4_orders.zip").write_bytes(zip_bytes([("ok.xml", b"<r><i><a>1</a></i><i><a>2</a></i></r>")]))
    (folder / "out").mkdir()
    (folder / "out" / "earlier.xml").write_bytes(GOOD)  # in the output folder: not an input either
    result = convert_to_folder([folder], folder / "out")
    assert [(t.name, t.rows) for t in result.tables] == [("ORDERS", 2)]
    assert [(f.path, f.status) for f in result.files] == [("in/4_orders.zip/ok.xml", "ok"),
                                                          ("in/out", "skipped")]
    assert result.files[1].error == "the output folder of this run; never taken in"
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["ORDERS.csv", "earlier.xml", "manifest.json"]
    assert ".ret-work" not in (folder / "out" / "ORDERS.csv").read_text()


# ---------------------------------------------------------------- 4. a full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs, mounted for this test only (needs root, or skips saying why)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("filling a real disk needs a small tmpfs, and mounting one needs root")
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_says_disk_full_and_stops_with_what_was_taken(tmp_path, small_disk):
    big = b"<r>" + os.urandom(200_000).hex().encode() + b"</r>"  # 400 KB, more than the disk holds
    (tmp_path / "batch.zip").write_bytes(zip_bytes([("good.xml", GOOD), ("big.xml", big), ("after.xml", GOOD),
                                                    ("later.zip", zip_bytes([("c.xml", GOOD)]))]))
    (tmp_path / "loose.xml").write_bytes(GOOD)
    report = take_in([tmp_path / "batch.zip", tmp_path / "loose.xml"], small_disk / "x")
    assert_good_arrived(report)
    assert taken(report) == ["good.xml"]
    assert report.limits_hit == ["disk full"]
    assert reasons(report)["big.xml"].startswith("disk full")
    assert "damaged" not in " ".join(reasons(report).values())
    assert "2 more entries not read: disk full" in reasons(report)["batch.zip"]
    assert reasons(report)["loose.xml"] == "not read: disk full"
    assert [p.name for p in files_under(small_disk / "x")] == ["good.xml"]  # no partial big.xml


# ---------------------------------------------------------------- 5. entries that are not XML count

def test_entries_that_are_not_xml_count_against_the_file_limit(tmp_path):
    entries = [(f"n/{i}.txt", b"x", zipfile.ZIP_STORED) for i in range(50)] + [("good.xml", GOOD)]
    (tmp_path / "flood.zip").write_bytes(zip_bytes(entries))
    report = take_in([tmp_path / "flood.zip"], tmp_path / "x", limits=IntakeLimits(max_files=10))
    assert report.documents == [] and report.limits_hit == ["file count (10)"]
    assert len(report.skipped) == 11  # ten listed as not XML, then one line for the 41 not read
    assert report.skipped[-1].display == "flood.zip"
    assert report.skipped[-1].reason == "41 more entries not read: over the limit of 10 files"


def test_a_flood_of_tiny_entries_hits_the_default_file_limit_quickly(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(25_000):
            archive.writestr(f"{i}.txt", b"x")
        archive.writestr("good.xml", GOOD)
    (tmp_path / "flood.zip").write_bytes(buffer.getvalue())
    started = time.perf_counter()
    report = take_in([tmp_path / "flood.zip"], tmp_path / "x")
    elapsed = time.perf_counter() - started
    assert report.limits_hit == ["file count (20,000)"] and report.documents == []
    assert report.skipped[-1].reason == "5,001 more entries not read: over the limit of 20,000 files"
    assert files_under(tmp_path / "x") == []
    assert elapsed < 20, elapsed


def test_an_archive_listing_more_files_than_the_limit_is_not_held_in_memory(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(20_000):
            archive.writestr(f"folder_{i % 7}/entry_{i}.txt", b"x")
        archive.writestr("good.xml", GOOD)
    (tmp_path / "flood.zip").write_bytes(buffer.getvalue())
    tracemalloc.start()
    try:
        report = take_in([tmp_path / "flood.zip"], tmp_path / "x", limits=IntakeLimits(max_files=10))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.skipped[-1].reason == "19,991 more entries not read: over the limit of 10 files"
    assert peak < 2_000_000, peak  # the whole directory as zipfile holds it: 15 MB; read up to the limit: 0.07 MB


def folder_entries_zip(count: int) -> bytes:
    """A ZIP of ``count`` folder entries and one XML file (ZIP64 end records past 65,535 entries)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(count):
            archive.writestr(f"d{i}/", b"")
        archive.writestr("good.xml", GOOD)
    return buffer.getvalue()


def test_folder_entries_count_against_the_file_limit(tmp_path):
    (tmp_path / "folders.zip").write_bytes(folder_entries_zip(20))
    report = take_in([tmp_path / "folders.zip"], tmp_path / "x", limits=IntakeLimits(max_files=10))
    assert report.documents == [] and report.limits_hit == ["file count (10)"]
    assert [(s.display, s.reason) for s in report.skipped] == [
        ("folders.zip", "11 more entries not read: over the limit of 10 files")]


def traced_peak(work) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_archive_of_many_folder_entries_is_not_held_in_memory(tmp_path):
    peaks = {}
    for count in (35_000, 70_000):  # 70,000: a 6 MB archive whose directory zipfile holds in 35 MB
        (tmp_path / f"{count}.zip").write_bytes(zip_bytes([("dirs.zip", folder_entries_zip(count))]))
        report, peaks[count] = traced_peak(lambda: take_in([tmp_path / f"{count}.zip"], tmp_path / f"x{count}",
                                                           limits=IntakeLimits(max_files=100)))
        assert report.documents == [] and report.limits_hit == ["file count (100)"]
        assert [(s.display, s.reason) for s in report.skipped] == [
            (f"{count}.zip/dirs.zip", f"{count - 98:,} more entries not read: over the limit of 100 files")]
    assert peaks[70_000] < peaks[35_000] + 1_000_000, peaks  # not growing with the entries (17 MB more)


def test_an_end_record_that_understates_the_entries_does_not_let_them_all_be_read(tmp_path):
    raw = bytearray(folder_entries_zip(30_000))
    end = raw.rindex(zipfile.stringEndArchive)
    put16(raw, end + 8, 5)  # entries on this disk
    put16(raw, end + 10, 5)  # entries in all
    (tmp_path / "lying.zip").write_bytes(raw)
    report, peak = traced_peak(lambda: take_in([tmp_path / "lying.zip"], tmp_path / "x",
                                               limits=IntakeLimits(max_files=100)))
    assert report.documents == [] and report.limits_hit == ["file count (100)"]
    assert [s.display for s in report.skipped] == ["lying.zip"]
    assert peak < 2_000_000, peak


def test_an_archive_that_cannot_be_read_only_in_part_is_refused_before_it_is_read(tmp_path):
    # a limit above 65,535 entries: ending the directory early would need ZIP64 end records of its own
    (tmp_path / "folders.zip").write_bytes(folder_entries_zip(70_000))
    (tmp_path / "later.xml").write_bytes(GOOD)
    report, peak = traced_peak(lambda: take_in([tmp_path / "folders.zip", tmp_path / "later.xml"], tmp_path / "x",
                                               limits=IntakeLimits(max_files=66_000)))
    assert taken(report) == ["later.xml"] and report.limits_hit == ["file count (66,000)"]
    assert [(s.display, s.reason) for s in report.skipped] == [
        ("folders.zip", "not read: it lists 70,001 entries, over the limit of 66,000 files")]
    assert peak < 2_000_000, peak  # zipfile would hold 35 MB of its directory


def test_the_file_limit_stops_later_inputs_too(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.xml").write_bytes(GOOD)
    (tmp_path / "after.zip").write_bytes(zip_bytes([("a.xml", GOOD)]))
    report = take_in([folder, tmp_path / "after.zip"], tmp_path / "x", limits=IntakeLimits(max_files=3))
    assert taken(report) == ["0.xml", "1.xml", "2.xml"]
    assert [(s.display, s.reason) for s in report.skipped] == [
        ("in", "2 more files not read: over the limit of 3 files"),
        ("after.zip", "not read: over the limit of 3 files")]


# ---------------------------------------------------------------- 6. XML by content, whatever the name

XML_STARTS = {
    "declaration": b"<?xml version='1.0'?><gpx><trk/></gpx>",
    "bare root": b"\n\t <kml xmlns='http://www.opengis.net/kml/2.2'><Placemark/></kml>",
    "comment, doctype": b"<!-- feed --><?xml-stylesheet href='a'?><!DOCTYPE rss [<!ELEMENT rss ANY>]><rss/>",
    "utf-8 BOM": codecs.BOM_UTF8 + b"<feed/>",
    "utf-16 BOM": "<?xml version='1.0' encoding='UTF-16'?><schema/>".encode("utf-16"),
    "utf-16be no BOM": "<svg/>".encode("utf-16-be"),
    "utf-32 BOM": "<xbrl/>".encode("utf-32"),
    "a long leading comment": b"<!--" + b"-" * 20_000,
}
NOT_XML = {
    "PDF": b"%PDF-1.7 ...", "text": b"name,value\n1,2\n", "empty": b"", "binary plist": b"bplist00\x00\x01",
    "HTML-like fragment": b"< not a tag", "JSON": b'{"a": 1}', "BOM then text": codecs.BOM_UTF8 + b"hello",
}


@pytest.mark.parametrize("start", XML_STARTS, ids=list(XML_STARTS))
def test_xml_is_known_by_its_first_bytes(start):
    assert sniff_kind(XML_STARTS[start]) == "xml"


@pytest.mark.parametrize("start", NOT_XML, ids=list(NOT_XML))
def test_other_content_is_not_xml(start):
    assert sniff_kind(NOT_XML[start]) is None


def test_zip_is_known_by_its_first_bytes():
    assert sniff_kind(zip_bytes([("a.xml", GOOD)])) == "zip" and sniff_kind(b"PK\x05\x06" + b"\0" * 18) == "zip"


NAMES = ["track.gpx", "places.kml", "feed.rss", "feed.atom", "schema.xsd", "logo.svg", "report.xbrl",
         "info.plist", "page.xhtml", "README"]


def _mixed_batch() -> list[tuple[str, bytes]]:
    xml_starts = list(XML_STARTS.values())
    return ([(name, xml_starts[i % len(xml_starts)]) for i, name in enumerate(NAMES)]
            + [("fake.xml", b"%PDF-1.7 not xml"), ("notes.txt", b"plain text"), ("good.xml", GOOD)])


def test_in_archives_xml_is_taken_by_content_and_a_zip_whatever_its_name(tmp_path):
    inner = zip_bytes([("inside.gpx", GOOD)])
    (tmp_path / "batch.zip").write_bytes(zip_bytes(_mixed_batch() + [("attachment.bin", inner),
                                                                     ("photos.rar", b"Rar!\x1a\x07\x01\x00")]))
    report = take_in([tmp_path / "batch.zip"], tmp_path / "x")
    assert taken(report) == [*NAMES, "good.xml", "inside.gpx"]
    assert report_names(report)[-1] == "batch.zip/attachment.bin/inside.gpx"
    assert {d.group for d in report.documents} == {"BATCH"}
    assert reasons(report) == {"fake.xml": "not XML (the content is not XML despite the .xml name)",
                               "notes.txt": "not XML (.txt)",
                               "photos.rar": "RAR archives are not supported (only ZIP)"}
    assert sorted(p.name for p in files_under(tmp_path / "x")) == sorted([*NAMES, "good.xml", "inside.gpx"])


def test_in_folders_and_as_loose_files_xml_is_taken_by_content(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in _mixed_batch():
        (folder / name).write_bytes(data)
    (folder / "archive_without_suffix").write_bytes(zip_bytes([("z.xml", GOOD)]))
    report = take_in([folder], tmp_path / "x")
    assert sorted(taken(report)) == sorted([*NAMES, "good.xml", "z.xml"])
    assert set(reasons(report)) == {"fake.xml", "notes.txt"}
    loose = take_in([folder / "track.gpx", folder / "README", folder / "fake.xml"], tmp_path / "y")
    assert taken(loose) == ["track.gpx", "README"]
    assert reasons(loose) == {"fake.xml": "not XML (the content is not XML despite the .xml name)"}


def test_the_command_line_reports_damaged_entries_and_takes_xml_by_content(tmp_path):
    raw = bytearray(zip_bytes([("bad.xml", TEXT), ("good.xml", GOOD)]))
    _damage_stream(zipfile.ZIP_DEFLATED, 0)[1](raw)
    (tmp_path / "batch.zip").write_bytes(bytes(raw))
    (tmp_path / "track.gpx").write_bytes(b"<?xml version='1.0'?><gpx><trkpt lat='1'/><trkpt lat='2'/></gpx>")
    result = subprocess.run(
        [sys.executable, "-m", "ret_desktop", "convert", str(tmp_path / "batch.zip"), str(tmp_path / "track.gpx"),
         "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RET_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "skipped: batch.zip/bad.xml: damaged or unreadable entry" in result.stderr
    files = {f["path"]: f for f in json.loads((tmp_path / "out" / "manifest.json").read_text())["files"]}
    assert files["batch.zip/good.xml"]["status"] == "ok" and files["track.gpx"]["status"] == "ok"
    assert files["batch.zip/bad.xml"]["status"] == "skipped"


# ---------------------------------------------------------------- 7. fuzz

FUZZ_RUNS = 600
FUZZ_LIMITS = IntakeLimits(max_total_bytes=64 * 1024, max_files=8, max_depth=3)  # the file limit binds
INTERESTING = [0, 1, 0x7F, 0x800, 0x801, 0x808, 0x20, 0x40, 8, 9, 12, 14, 99, 0xFF, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF]
# (offset, width) of the fields worth editing: local header, central header, end of central directory
LOCAL_FIELDS = [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)]
CENTRAL_FIELDS = [(4, 2), (6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (38, 4),
                  (42, 4)]
END_FIELDS = [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]


def fuzz_base() -> bytes:
    inner = zip_bytes([("deep.xml", GOOD), ("deeper.zip", zip_bytes([("d.xml", GOOD)]))])
    return zip_bytes([
        ("good.xml", GOOD), ("stored.xml", TEXT, zipfile.ZIP_STORED), ("dir/text.xml", TEXT),
        ("lz.xml", TEXT, zipfile.ZIP_LZMA), ("bz.xml", TEXT, zipfile.ZIP_BZIP2), ("notes.txt", b"not xml"),
        ("inner.zip", inner, zipfile.ZIP_STORED), ("sub/", b""),
    ])


def fuzz_targets(base: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]]]:
    """The header fields (position, width), data spans and name spans (start, end) of ``base``."""
    fields, spans, names = [], [], []
    for name, where in entry_layout(base).items():
        fields += [(where["local"] + offset, width) for offset, width in LOCAL_FIELDS]
        fields += [(where["central"] + offset, width) for offset, width in CENTRAL_FIELDS]
        if where["data_length"]:
            spans.append((where["data"], where["data"] + where["data_length"]))
        names += [(where["local"] + 30, where["local"] + 30 + len(name)),
                  (where["central"] + 46, where["central"] + 46 + len(name))]
    end = base.rindex(b"PK\x05\x06")
    return fields + [(end + offset, width) for offset, width in END_FIELDS], spans, names


def mutate(base: bytes, fields: list[tuple[int, int]], spans: list[tuple[int, int]], names: list[tuple[int, int]],
           rng: random.Random) -> tuple[str, bytes]:
    """One mutation of ``base``: ``spans`` are where entry data lies, ``names`` where entry names lie."""
    raw = bytearray(base)
    kind = rng.choice(["flip", "data flip", "data flip", "truncate", "field", "field", "fields and flips", "name"])
    if kind == "data flip":
        start, end = rng.choice(spans)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(start, end)] ^= 1 << rng.randrange(8)
    if kind == "name":  # bytes that are not UTF-8, with or without the UTF-8 flag; or a hostile name
        start, end = rng.choice(names)
        raw[rng.randrange(start, end)] = rng.choice([0xFF, 0xC3, 0x80, ord("/"), ord("\\"), ord("."), 0])
        if rng.random() < 0.7:
            flags_at = start - 46 + 8 if raw[start - 46:start - 42] == b"PK\x01\x02" else start - 30 + 6
            raw[flags_at + 1] |= 0x08  # bit 11 of the flags: the name is UTF-8
    if kind in ("field", "fields and flips"):
        for _ in range(rng.randint(1, 3)):
            position, width = rng.choice(fields)
            value = rng.choice(INTERESTING + [rng.getrandbits(8 * width)])
            if rng.random() < 0.3:  # nudge what is there
                value = int.from_bytes(raw[position:position + width], "little") + rng.choice([-2, -1, 1, 2, 64])
            raw[position:position + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    if kind in ("flip", "fields and flips"):
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    if kind == "truncate":
        del raw[rng.randrange(1, len(raw)):]
    return kind, bytes(raw)


def test_fuzzed_archives_always_end_with_a_report(tmp_path):
    base = fuzz_base()
    fields, spans, names = fuzz_targets(base)
    rng = random.Random(20261201)
    failures: list[str] = []
    took_something = 0
    for run in range(FUZZ_RUNS):
        kind, raw = mutate(base, fields, spans, names, rng)
        archive = tmp_path / "fuzzed.zip"
        archive.write_bytes(raw)
        target = tmp_path / "target"
        try:
            report = take_in([archive], target, limits=FUZZ_LIMITS)
        except Exception as exc:  # noqa: BLE001 - counting exactly these is the point
            failures.append(f"run {run} ({kind}): {type(exc).__name__}: {exc}"[:160])
            shutil.rmtree(target, ignore_errors=True)
            continue
        extracted = files_under(target)
        assert all(p.resolve().is_relative_to(target.resolve()) for p in target.rglob("*")), run
        assert not any(p.is_symlink() for p in target.rglob("*")), run
        assert len(report.documents) <= FUZZ_LIMITS.max_files, run
        assert sum(p.stat().st_size for p in extracted) <= FUZZ_LIMITS.max_total_bytes, run
        assert {d.path for d in report.documents} == set(extracted), run  # nothing left over, nothing missing
        assert all(d.size == d.path.stat().st_size for d in report.documents), run
        took_something += bool(report.documents)
        shutil.rmtree(target)
    assert not failures, f"{len(failures)} of {FUZZ_RUNS} runs raised:\n" + "\n".join(failures[:25])
    assert took_something > FUZZ_RUNS // 4  # the mutations leave much of the archive readable


# ---------------------------------------------------------------- the window

def test_the_window_lists_damaged_entries_and_copies_loose_xml_of_any_name(tmp_path, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLineEdit, QPushButton, QTreeWidget

    from ret_desktop.app import build_app

    raw = bytearray(zip_bytes([("bad.xml", TEXT), ("good.xml", GOOD)]))
    _damage_stream(zipfile.ZIP_DEFLATED, 0)[1](raw)
    (tmp_path / "batch.zip").write_bytes(bytes(raw))
    (tmp_path / "track.gpx").write_bytes(b"<?xml version='1.0'?><gpx><trkpt lat='1'/></gpx>")
    app = build_app(tmp_path / "data", keyring_backend=None)
    try:
        login = app.login_window
        login.show()
        for name, text in (("setupUsername", "alice"), ("setupPassword", "a long password 1"),
                           ("setupConfirm", "a long password 1")):
            login.findChild(QLineEdit, name).setText(text)
        qtbot.mouseClick(login.findChild(QPushButton, "setupCreate"), Qt.MouseButton.LeftButton)
        login.findChild(QLineEdit, "username").setText("alice")
        login.findChild(QLineEdit, "password").setText("a long password 1")
        qtbot.mouseClick(login.findChild(QPushButton, "signIn"), Qt.MouseButton.LeftButton)
        window = app.main_window
        runner = window.controller.runner
        finished = []
        runner.job_finished.connect(lambda *args: finished.append(args))
        window.import_paths([tmp_path / "batch.zip", tmp_path / "track.gpx"])
        qtbot.waitUntil(lambda: bool(finished) and not runner.busy, timeout=30_000)
        groups = window.findChild(QTreeWidget, "groupsView")
        tops = {groups.topLevelItem(i).text(0): groups.topLevelItem(i) for i in range(groups.topLevelItemCount())}
        assert set(tops) == {"BATCH", "TRACK", "Skipped"}
        skipped = tops["Skipped"].child(0)
        assert skipped.text(0) == "batch.zip/bad.xml" and skipped.child(0).text(0).startswith("damaged or unreadable entry")
        session_folder = app.services.sessions.folder(window.controller.session.info.session_id)
        assert (session_folder / "input" / "track.gpx").read_bytes() == (tmp_path / "track.gpx").read_bytes()
    finally:
        app.close()
