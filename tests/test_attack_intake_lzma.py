"""An LZMA entry's dictionary is memory the intake holds while the entry decompresses; its size comes
from the entry's own header. A hostile header naming a 1 GiB dictionary on an entry of 70 MB kept all
70 MB in memory (and 2 GiB for a 2 GiB entry); such an entry is now refused with its reason, while
an entry written with the usual dictionary streams in flat memory. Hand-broken LZMA property headers
are each skipped with a reason."""

import random
import struct
import tracemalloc
import zipfile

import pytest

from ret_desktop.core.importing import take_in

BLOCKS = 1150  # about 70 MB of XML, 150:1 (under the ratio limit), over the largest dictionary read


def lzma_entry_at(path, body_blocks: int = BLOCKS) -> int:
    """A ZIP holding ``big.xml``, LZMA-compressed by zipfile; returns where its LZMA header starts."""
    rng = random.Random(5)
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("big.xml")
        info.compress_type = zipfile.ZIP_LZMA
        with archive.open(info, "w") as entry:
            entry.write(b"<r>")
            for _ in range(body_blocks):
                entry.write(rng.randbytes(400) + b" " * 60000)
            entry.write(b"</r>")
        archive.writestr("good.xml", b"<r/>")
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo("big.xml").header_offset
    name_length, extra_length = struct.unpack_from("<HH", data, offset + 26)
    return offset + 30 + name_length + extra_length


def patched(path, at: int, header: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[at:at + len(header)] = header
    path.write_bytes(bytes(data))


def peak_of_take_in(path, target):
    tracemalloc.start()  # liblzma allocates through Python's raw allocator, which this sees
    try:
        report = take_in([path], target)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_header_naming_a_huge_dictionary_is_refused_before_it_fills_memory(tmp_path):
    at = lzma_entry_at(tmp_path / "a.zip")
    data = (tmp_path / "a.zip").read_bytes()
    assert data[at + 2:at + 4] == b"\x05\x00"  # five bytes of properties: lc/lp/pb, then the dictionary
    patched(tmp_path / "a.zip", at + 5, struct.pack("<I", 1 << 30))

    report, peak = peak_of_take_in(tmp_path / "a.zip", tmp_path / "x")

    assert [d.chain[-1] for d in report.documents] == ["good.xml"]
    assert [(s.chain[-1], s.reason) for s in report.skipped] == [
        ("big.xml", "unsupported (an LZMA dictionary of 1 GiB; at most 64 MiB is read)")]
    assert peak < 32 * 1024**2


def test_the_same_entry_with_the_usual_dictionary_streams_in_flat_memory(tmp_path):
    lzma_entry_at(tmp_path / "a.zip")
    report, peak = peak_of_take_in(tmp_path / "a.zip", tmp_path / "x")
    assert sorted(d.chain[-1] for d in report.documents) == ["big.xml", "good.xml"] and not report.skipped
    assert peak < 32 * 1024**2


@pytest.mark.parametrize("header", [
    b"\x09\x14\x00\x00",  # no properties
    b"\x09\x14\x04\x00\x5d\x00\x00\x80",  # four
    b"\x09\x14\xff\xff",  # 65,535 claimed, fewer there
    b"\x09\x14\x05\x00\xe1\x00\x00\x80\x00",  # lc/lp/pb byte past 9 * 5 * 5
], ids=["none", "four", "lying-length", "bad-lc-lp-pb"])
def test_hand_broken_property_headers_are_each_skipped_with_a_reason(tmp_path, header):
    at = lzma_entry_at(tmp_path / "a.zip", body_blocks=2)
    patched(tmp_path / "a.zip", at, header)
    report = take_in([tmp_path / "a.zip"], tmp_path / "x")
    assert [d.chain[-1] for d in report.documents] == ["good.xml"]
    assert [s.chain[-1] for s in report.skipped] == ["big.xml"] and report.skipped[0].reason


@pytest.mark.parametrize("dictionary", [0, 0xFFFF_FFFF], ids=["0-bytes", "4-GiB"])
def test_a_dictionary_named_too_small_or_too_large_for_a_small_entry_still_reads_it(tmp_path, dictionary):
    at = lzma_entry_at(tmp_path / "a.zip", body_blocks=2)
    patched(tmp_path / "a.zip", at + 5, struct.pack("<I", dictionary))
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        expected = archive.read("big.xml")
    report = take_in([tmp_path / "a.zip"], tmp_path / "x")
    assert {d.chain[-1]: d.path.read_bytes() for d in report.documents} == {"big.xml": expected, "good.xml": b"<r/>"}
