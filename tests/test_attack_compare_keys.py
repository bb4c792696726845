"""A key naming one of the columns every table has from the conversion (``_file``, ``_record``) is
taken by the comparison, but the patch report then looked the key up among the data columns only:
``ValueError: '_file' is not in list`` and a traceback, exit 1 (which says "differ"). Such a key is
now refused up front, in one line (exit 2): these columns pair documents and locate rows, and
without a key rows are paired by them already."""

import pytest
from test_compare import run
from test_compare_keys import xml_pair


@pytest.mark.parametrize("key", ["_file", "ARTICLES=_file", "ARTICLES=_record"])
def test_a_key_naming_a_conversion_column_works_or_is_one_line(tmp_path, key):
    old, new = xml_pair(tmp_path)
    result = run(old, new, "--out", tmp_path / "out", "--key", key)
    assert result.returncode == 2 and "cannot be a key" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
