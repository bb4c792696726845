"""bzip2 and LZMA bombs inside a ZIP are refused by the ratio limit before they expand: zipfile's
own reader decompresses a whole compressed read at once (the first 8 KiB of a bzip2 entry is
gigabytes), so the check has to bound every read, whatever the method."""

import random
import tracemalloc
import zipfile

import pytest

from ret_desktop.core.importing import take_in

GOOD = b"<?xml version='1.0'?><r><a>good</a></r>"
BOMB_BYTES = 64 * 1024 * 1024
METHODS = {"bzip2": zipfile.ZIP_BZIP2, "LZMA": zipfile.ZIP_LZMA}


def honest_text(size: int) -> bytes:
    """XML that compresses about 2:1, far under the ratio limit, several read chunks long."""
    digits = random.Random(7).randbytes(size // 2 - 8).hex().encode()
    return b"<r>" + digits + b"</r>"


def write_batch(path, method: int) -> bytes:
    """``first.xml``, a ``bomb.xml`` of 64 MiB of spaces, an honest 3 MB ``big.xml`` and ``good.xml``,
    the last three compressed with ``method``; the bomb is streamed in, never held whole."""
    big = honest_text(3 * 1024 * 1024)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("first.xml", GOOD, compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("bomb.xml")
        info.compress_type = method
        with archive.open(info, "w") as bomb:
            bomb.write(b"<r>")
            spaces = b" " * (1024 * 1024)
            for _ in range(BOMB_BYTES // len(spaces)):
                bomb.write(spaces)
            bomb.write(b"</r>")
        archive.writestr("big.xml", big, compress_type=method)
        archive.writestr("good.xml", GOOD, compress_type=method)
    return big


@pytest.mark.parametrize("method", METHODS, ids=list(METHODS))
def test_a_bomb_is_refused_by_its_ratio_within_a_bounded_expansion_and_the_rest_arrives(tmp_path, method):
    big = write_batch(tmp_path / "batch.zip", METHODS[method])
    with zipfile.ZipFile(tmp_path / "batch.zip") as archive:
        assert archive.getinfo("bomb.xml").compress_size < 16 * 1024  # 64 MiB from a few KB

    tracemalloc.start()
    try:
        report = take_in([tmp_path / "batch.zip"], tmp_path / "x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [(s.chain[-1], s.reason) for s in report.skipped] == [
        ("bomb.xml", "compression ratio over 200 (a ZIP bomb?)")]
    assert report.limits_hit == ["compression ratio (200)"]
    documents = {d.chain[-1]: d.path.read_bytes() for d in report.documents}
    assert documents == {"first.xml": GOOD, "big.xml": big, "good.xml": GOOD}
    # a few 1 MiB read chunks and LZMA's 8 MiB dictionary, never the bomb's 64 MiB (140 MiB before)
    assert peak < 16 * 1024 * 1024, f"{peak / 2**20:.1f} MiB"
    assert sorted(p.name for p in (tmp_path / "x").rglob("*") if p.is_file()) == ["big.xml", "first.xml", "good.xml"]
