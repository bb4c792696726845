"""No exception of one document escapes a conversion: seeded mutations of real small documents
(byte flips, truncation, inserted junk, deep nesting, odd encodings, odd file names), converted in
batches with a good document into one workbook, each run ending with every document's status and
the workbook consistent."""

import os
import random
import sys
from pathlib import Path

import pytest

from ret_desktop.core.convert import ConvertOptions, convert_documents, printable
from ret_desktop.core.importing import Document, IntakeReport
from ret_desktop.core.workbook import Workbook

DATA = Path(__file__).parent / "data"

def _library_start(size: int = 20_000) -> bytes:
    """The first whole books of the 1 MB library: a document of many records."""
    data = (DATA / "library_1mb.xml").read_bytes()
    return data[:data.index(b"</book>", size) + len(b"</book>")] + b"</library>"


SEEDS = [path.read_bytes() for path in sorted((DATA / "crossref").glob("*.xml"))] + [_library_start()] * 4
GOOD = DATA / "crossref" / "515151.xml"
JUNK = [b"<x>", b"</x>", b"&#0;", b"&#xD800;", b"&uuml;", b"&undeclared;", b"<![CDATA[", b"]]>", b"<!--",
        b"<?pi x?>", b' xmlns:a="urn:x" a:b="1" ', b"\xff\xfe", b"\xef\xbb\xbf", b"\x00",
        b"<!DOCTYPE r [<!ENTITY e 'x'>]>", b'<?xml version="1.0" encoding="bogus"?>']
ENCODINGS = ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp500", "shift_jis"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three mutations of ``data``, chosen by ``rng``."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        if kind == 0:  # byte flips
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:  # truncation
            data = data[:rng.randrange(len(data))]
        elif kind == 2:  # inserted junk
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice(JUNK)
        elif kind == 3:  # deep nesting, around and past the parser's depth limit
            depth = rng.choice([100, 255, 256, 257, 3000])
            data = bytearray(b"<r>" + b"<a>" * depth + b"x" + b"</a>" * depth + b"</r>")
        elif kind == 4:  # the text in another encoding, declared or not, rightly or wrongly
            encoding = rng.choice(ENCODINGS)
            data = bytearray(bytes(data).decode("utf-8", "replace").encode(encoding, "replace"))
            if rng.random() < 0.5:
                declared = rng.choice([encoding, "utf-8", "utf-16", "bogus"])
                data[:0] = f'<?xml version="1.0" encoding="{declared}"?>'.encode()
        elif kind == 5:  # a stretch moved elsewhere
            a, b = sorted(rng.randrange(len(data) + 1) for _ in range(2))
            piece = data[a:b]
            del data[a:b]
            at = rng.randrange(len(data) + 1)
            data[at:at] = piece
        elif data:  # a tag name broken
            at = data.find(b"<", rng.randrange(len(data)))
            if at >= 0:
                data[at + 1:at + 1] = rng.choice([b" ", b"1", b"-", b":", b"\x00", b"\xc3"])
    return bytes(data)


def odd_name(number: int, rng: random.Random) -> bytes:
    """A file name as another system may have written it."""
    stem = b"m%d" % number
    choice = rng.randrange(6)
    if choice == 0 and sys.platform.startswith("linux"):
        stem += rng.choice([b"-caf\xe9", b"-\xff\xfe", b"-\xed\xa0\x80", b"-\x80"])  # not UTF-8
    elif choice == 1:
        stem += b"-" + b"x" * 180  # long
    elif choice == 2:
        stem += rng.choice([b", with \"quotes\"", b" =cmd|' /c calc'!A1", b"-\xe2\x80\xae-rtl"])
    return stem + rng.choice([b".xml", b".XML", b""])


def write_document(folder: Path, name: bytes, data: bytes) -> Document:
    try:
        path = Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
        path.write_bytes(data)
    except (OSError, UnicodeError):  # a file system that refuses the name
        path = folder / f"plain-{len(list(folder.iterdir()))}.xml"
        path.write_bytes(data)
    return Document((path.name,), path, "G", path.stat().st_size)


def rows_by_file(workbook: Workbook, table: str) -> dict[str, int]:
    position = workbook.columns(table).index("_file")
    counts: dict[str, int] = {}
    for batch in workbook.iter_batches(table):
        for row in batch:
            counts[row[position]] = counts.get(row[position], 0) + 1
    return counts


def test_mutated_documents_never_stop_a_batch_and_leave_the_workbook_consistent(tmp_path):
    rng = random.Random(20261201)
    good = Document((GOOD.name,), GOOD, "G", GOOD.stat().st_size)
    with Workbook(tmp_path / "workbook.sqlite") as workbook:
        kept = convert_documents(IntakeReport([Document(("keep.xml",), DATA / "crossref" / "book_4.4.2.xml",
                                                        "KEEP", 1)]), workbook)
        kept_rows = {t.name: list(workbook.iter_batches(t.name)) for t in kept.tables}
        good_records = convert_documents(IntakeReport([good]), workbook).files[0].records
        assert good_records > 0
        for run in range(45):
            folder = tmp_path / f"run{run}"
            folder.mkdir()
            documents = [good] + [write_document(folder, odd_name(n, rng), mutate(rng.choice(SEEDS), rng))
                                  for n in range(3)]
            rng.shuffle(documents)
            # Detection reading only a prefix leaves the damage for the flattener to meet, after rows
            # of the document were written: they must go again.
            options = ConvertOptions(mode=rng.choice(["wide", "relational"]), group_by=rng.choice(["archive", "type"]),
                                     detect_bytes=rng.choice([2 * 1024 * 1024, 2048, 300]))

            result = convert_documents(IntakeReport(documents), workbook, options)

            labels = [printable(d.display) for d in documents]
            assert [f.path for f in result.files] == labels, f"run {run}: every document has its status, in order"
            for outcome in result.files:
                assert outcome.status in ("ok", "failed"), f"run {run}: {outcome}"
                assert outcome.status == "ok" or (outcome.error and "Traceback" not in outcome.error)
            good_outcome = result.files[documents.index(good)]
            assert (good_outcome.status, good_outcome.records) == ("ok", good_records), f"run {run}"
            converted = {f.path: f for f in result.files if f.status == "ok"}
            for table in result.tables:
                counts = rows_by_file(workbook, table.name)
                assert set(counts) <= set(converted), f"run {run}: rows of a failed document in {table.name}"
                if table.parent is None:  # one row per record of each converted document
                    assert counts == {path: f.records for path, f in converted.items()
                                      if f.table == table.name and f.records}, f"run {run}: {table.name}"
            assert workbook._conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert {name: list(workbook.iter_batches(name)) for name in kept_rows} == kept_rows


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a file system that takes any bytes as a name")
def test_a_document_whose_name_is_not_utf8_converts_with_the_others(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    odd = write_document(folder, b"caf\xe9.xml", GOOD.read_bytes())
    good = Document((GOOD.name,), GOOD, "G", GOOD.stat().st_size)
    # the group an archive named so gives its documents: "4_caf\xe9.zip" -> "CAF\udce9"
    grouped = Document((os.fsdecode(b"4_caf\xe9.zip"), "x.xml"), GOOD, os.fsdecode(b"CAF\xe9"), 1)
    with Workbook(tmp_path / "workbook.sqlite") as workbook:
        result = convert_documents(IntakeReport([odd, good, grouped]), workbook)
        assert [(f.path, f.status) for f in result.files] == [
            ("caf\\xe9.xml", "ok"), (GOOD.name, "ok"), ("4_caf\\xe9.zip/x.xml", "ok")]
        assert rows_by_file(workbook, "G") == {"caf\\xe9.xml": 1, GOOD.name: 1}
        assert [t.name for t in result.tables] == ["CAF\\xe9", "G"]
