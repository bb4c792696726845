import io
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from ret_desktop.core.importing import (
    IntakeCancelled,
    IntakeLimits,
    archive_group,
    is_container_archive,
    loose_file_group,
    safe_member_path,
    take_in,
)

DATA = Path(__file__).parent / "data"
XML = b"<?xml version='1.0'?><r><a>1</a></r>"


def make_zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_sample_nested_archive_gives_all_13_documents(tmp_path):
    report = take_in([DATA / "test-examples_1.zip"], tmp_path / "x")
    assert len(report.documents) == 13
    assert {d.group for d in report.documents} == {"TEST-EXAMPLES_1"}
    nested = [d.display for d in report.documents if d.display.count("/") == 2]
    assert "test-examples_1.zip/test-examples.zip/5.4.0-book-bc-2.xml" in nested and len(nested) == 5
    assert [(s.display, s.reason) for s in report.skipped] == [
        ("test-examples_1.zip/test-examples.zip/Small_test-examples.rar", "RAR archives are not supported (only ZIP)")
    ]
    assert report.limits_hit == []
    for document in report.documents:
        assert document.path.read_bytes().startswith(b"<?xml") and document.size == document.path.stat().st_size
    assert not any(p.suffix == ".zip" for p in files_under(tmp_path / "x"))  # inner archive removed once read


def test_business_archive_names_the_group(tmp_path):
    report = take_in([DATA / "4_test-examples.zip"], tmp_path / "x")
    assert {d.group for d in report.documents} == {"TEST-EXAMPLES"} and len(report.documents) == 8


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../evil.xml", None), ("a/../../evil.xml", None), ("a\\..\\..\\evil.xml", None), ("..", None), ("", None),
        ("/etc/evil.xml", "etc/evil.xml"), ("C:\\Windows\\evil.xml", "Windows/evil.xml"),
        ("C:evil.xml", "evil.xml"), ("dir\\sub\\a.xml", "dir/sub/a.xml"), ("./a/./b.xml", "a/b.xml"),
        ("CON.xml", "_CON.xml"), ("ab:c?.xml", "ab_c_.xml"),
    ],
)
def test_entry_names_are_sanitised(name, expected):
    result = safe_member_path(name)
    assert (str(result) if result else None) == expected


def test_hostile_names_never_write_outside_the_target(tmp_path):
    archive = make_zip(tmp_path / "evil.zip", {
        "../escape.xml": XML, "/abs/inside.xml": XML, "..\\..\\win.xml": XML,
        "C:\\drive\\d.xml": XML, "good/a.xml": XML,
    })
    target = tmp_path / "session" / "extracted"
    report = take_in([archive], target)
    outside = files_under(tmp_path) - files_under(target) - {archive}
    assert outside == set()
    assert sorted(d.chain[-1] for d in report.documents) == ["/abs/inside.xml", "C:\\drive\\d.xml", "good/a.xml"]
    assert sorted(s.chain[-1] for s in report.skipped) == ["../escape.xml", "..\\..\\win.xml"]
    assert all("unsafe name" in s.reason for s in report.skipped)
    for document in report.documents:
        assert document.path.resolve().is_relative_to(target.resolve())


def test_links_in_archives_are_never_extracted(tmp_path):
    archive = make_zip(tmp_path / "links.zip", {"a.xml": XML}, symlinks={"link.xml": "/etc/passwd"})
    report = take_in([archive], tmp_path / "x")
    assert [d.chain[-1] for d in report.documents] == ["a.xml"]
    assert report.skipped[0].chain[-1] == "link.xml" and "link" in report.skipped[0].reason
    assert not any(p.is_symlink() for p in (tmp_path / "x").rglob("*"))


def test_links_in_folders_are_not_followed(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(XML)
    secret = tmp_path / "secret.xml"
    secret.write_bytes(XML)
    os.symlink(secret, folder / "link.xml")
    os.symlink(tmp_path, folder / "loop")
    report = take_in([folder], tmp_path / "x")
    assert [d.display for d in report.documents] == ["in/a.xml"]
    assert sorted(s.display for s in report.skipped) == ["in/link.xml", "in/loop"]


def test_same_named_inner_archives_stay_apart(tmp_path):
    inner_a = zip_bytes({"doc.xml": b"<r><v>from a</v></r>"})
    inner_b = zip_bytes({"doc.xml": b"<r><v>from b</v></r>"})
    outer = make_zip(tmp_path / "outer.zip", {"x/1_BATCH.zip": inner_a, "y/1_BATCH.zip": inner_b})
    report = take_in([outer], tmp_path / "x")
    assert [d.display for d in report.documents] == ["outer.zip/x/1_BATCH.zip/doc.xml", "outer.zip/y/1_BATCH.zip/doc.xml"]
    assert {d.path.read_bytes() for d in report.documents} == {b"<r><v>from a</v></r>", b"<r><v>from b</v></r>"}


def test_nesting_deeper_than_the_limit_is_reported(tmp_path):
    data = zip_bytes({"deep.xml": XML})
    for level in range(11, 1, -1):
        data = zip_bytes({f"level{level}.zip": data, f"at{level}.xml": XML})
    (tmp_path / "level1.zip").write_bytes(data)
    report = take_in([tmp_path / "level1.zip"], tmp_path / "x")
    # level1.zip holds at2.xml and level2.zip, ... level10.zip holds at11.xml and level11.zip
    assert sorted(d.chain[-1] for d in report.documents) == sorted(f"at{n}.xml" for n in range(2, 12))
    assert report.limits_hit == ["nesting depth (10)"]
    assert report.skipped[0].chain[-1] == "level11.zip"
    assert "more than 10 archives deep" in report.skipped[0].reason


def test_compression_bomb_entry_is_refused_while_reading(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.xml": b"<r>" + b"0" * (5 * 1024 * 1024) + b"</r>", "ok.xml": XML})
    report = take_in([archive], tmp_path / "x")
    assert [d.chain[-1] for d in report.documents] == ["ok.xml"]
    assert "compression ratio over 200" in report.skipped[0].reason
    assert report.limits_hit == ["compression ratio (200)"]
    assert {p.name for p in files_under(tmp_path / "x")} == {"ok.xml"}  # no partial file


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
                         ids=["deflate", "bzip2", "lzma"])
def test_a_header_claiming_more_compressed_bytes_does_not_lift_the_ratio_limit(tmp_path, method):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bomb.xml", b"<r>" + b" " * (8 * 1024 * 1024) + b"</r>", compress_type=method)
        archive.writestr("ok.xml", XML)
        archive.writestr("pad.bin", os.urandom(1024 * 1024), compress_type=zipfile.ZIP_STORED)
    raw = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        bomb, directory = archive.getinfo("bomb.xml"), archive.start_dir
    data_start = 30 + len(bomb.filename) + len(bomb.extra)
    struct.pack_into("<I", raw, directory + 20, directory - data_start)  # "everything up to the directory"
    assert 8 * 1024 * 1024 / (directory - data_start) < 200  # the ratio the header claims
    (tmp_path / "lying.zip").write_bytes(raw)
    report = take_in([tmp_path / "lying.zip"], tmp_path / "x")
    assert [d.chain[-1] for d in report.documents] == ["ok.xml"]
    assert [(s.chain[-1], s.reason) for s in report.skipped] == [
        ("bomb.xml", "compression ratio over 200 (a ZIP bomb?)"), ("pad.bin", "not XML (.bin)")]
    assert report.limits_hit == ["compression ratio (200)"]


def test_total_size_limit_counts_real_bytes_and_lists_the_rest(tmp_path):
    payload = b"<r>" + os.urandom(30_000).hex().encode() + b"</r>"  # ~60 KB, barely compressible
    archive = make_zip(tmp_path / "big.zip", {f"{i}.xml": payload for i in range(4)})
    report = take_in([archive], tmp_path / "x", limits=IntakeLimits(max_total_bytes=150_000))
    assert [d.chain[-1] for d in report.documents] == ["0.xml", "1.xml"]
    assert [s.chain[-1] for s in report.skipped] == ["2.xml", "3.xml"]
    assert report.limits_hit and report.limits_hit[0].startswith("total size")
    assert len(files_under(tmp_path / "x")) == 2


def test_file_count_limit(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"{i}.xml": XML for i in range(5)})
    report = take_in([archive], tmp_path / "x", limits=IntakeLimits(max_files=3))
    assert len(report.documents) == 3
    assert [(s.display, s.reason) for s in report.skipped] == [
        ("many.zip", "2 more entries not read: over the limit of 3 files")]
    assert report.limits_hit == ["file count (3)"]


def test_damaged_archives_and_entries_are_reported(tmp_path):
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really a zip")
    good = make_zip(tmp_path / "crc.zip", {"a.xml": b"<r>" + b"x" * 1000 + b"</r>", "b.xml": XML})
    raw = bytearray(good.read_bytes())
    raw[raw.index(b"a.xml") + 5 + 10] ^= 0xFF  # flip a byte of a.xml's compressed data
    good.write_bytes(bytes(raw))
    report = take_in([tmp_path / "junk.zip", good, tmp_path / "missing.zip", tmp_path / "notes.pdf"], tmp_path / "x")
    reasons = {s.display.split("/")[-1]: s.reason for s in report.skipped}
    assert "not a readable ZIP archive" in reasons["junk.zip"]
    assert "damaged or unreadable entry" in reasons["a.xml"]
    assert reasons[str(tmp_path / "missing.zip").split("/")[-1]] == "no such file or folder"
    assert [d.chain[-1] for d in report.documents] == ["b.xml"]
    assert [p.name for p in files_under(tmp_path / "x")] == ["b.xml"]  # nothing half-extracted


def test_unsupported_and_other_files_are_listed(tmp_path):
    archive = make_zip(tmp_path / "mixed.zip", {"a.rar": b"Rar!", "b.7z": b"7z", "c.pdf": b"%PDF", "d.XML": XML})
    report = take_in([archive], tmp_path / "x")
    assert [d.chain[-1] for d in report.documents] == ["d.XML"]
    assert [s.reason for s in report.skipped] == [
        "RAR archives are not supported (only ZIP)", "7-Zip archives are not supported (only ZIP)", "not XML (.pdf)"
    ]


def test_container_archive_hands_each_inner_archive_its_own_group(tmp_path):
    container = make_zip(tmp_path / "export_20240131_1200.zip", {
        "1_AR_PAYMENT_TERM.zip": zip_bytes({"t1.xml": XML, "t2.xml": XML}),
        "02_gl_codes.zip": zip_bytes({"g.xml": XML}),
        "LOOSE_thing_1.xml": XML,
    })
    loose = tmp_path / "VENDOR_MASTER_01.xml"
    loose.write_bytes(XML)
    first = take_in([container, loose], tmp_path / "x")
    assert [(d.chain[-1], d.group) for d in first.documents] == [
        ("t1.xml", "AR_PAYMENT_TERM"), ("t2.xml", "AR_PAYMENT_TERM"), ("g.xml", "GL_CODES"),
        ("LOOSE_thing_1.xml", "LOOSE_THING"), ("VENDOR_MASTER_01.xml", "VENDOR_MASTER"),
    ]
    second = take_in([container, loose], tmp_path / "y")
    assert [(d.display, d.group) for d in second.documents] == [(d.display, d.group) for d in first.documents]
    by_folder = take_in([container], tmp_path / "z", group_by="folder")
    assert by_folder.documents[0].group == "export_20240131_1200.zip/1_AR_PAYMENT_TERM.zip"


def test_group_rules():
    assert archive_group("4_AR_payment_term.zip") == "AR_PAYMENT_TERM"
    assert archive_group("test-examples_1.zip") == "TEST-EXAMPLES_1"
    assert is_container_archive("batch_20240131_1200.zip") and is_container_archive("b_20240131_120059.zip")
    assert not is_container_archive("4_test-examples.zip")
    assert loose_file_group("book_4.4.2.xml") == "BOOK" and loose_file_group("515151.xml") == "MISC"


def test_cancel_removes_what_this_intake_extracted_only(tmp_path):
    target = tmp_path / "x"
    earlier = take_in([make_zip(tmp_path / "first.zip", {"a.xml": XML})], target)
    archive = make_zip(tmp_path / "second.zip", {f"{i}.xml": XML for i in range(50)})
    calls = iter(range(1000))
    with pytest.raises(IntakeCancelled):
        take_in([archive], target, should_cancel=lambda: next(calls) > 20)
    assert files_under(target) == {d.path for d in earlier.documents}
