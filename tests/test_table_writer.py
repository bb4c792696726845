"""The table writer puts every row into the workbook and its CSV copy as given, whatever the table's
width: rows split over multi-row INSERTs (how many rows a statement takes depends on the width) and
the rest one by one, short rows padded, row ids in order."""

from __future__ import annotations

import csv
import io

import pytest

from ret_desktop.core.workbook import Workbook


@pytest.mark.parametrize("width, rows", [(2, 2001), (7, 4003), (65, 2011), (300, 13), (1999, 7)])
def test_every_row_reaches_the_table_and_the_csv_copy(tmp_path, width, rows):
    table = [[f"r{r}c{c}" if (r + c) % 5 else "" for c in range(width)] for r in range(rows)]
    for r in range(0, rows, 3):  # some rows arrive short, as the flattener hands them over
        table[r] = table[r][:width - 1 - r % 2] if width > 2 else table[r]
    with Workbook(tmp_path / "workbook.sqlite", scratch=True) as workbook:
        workbook.keep_csv_copies(tmp_path)
        with workbook.transaction():
            writer = workbook.writer("t", "group", "/r/i")
            for c in range(width):
                writer.place_of(f"col{c}")
            assert writer.add_values(table[0]) == 1
            for start in range(1, rows, 256):
                writer.add_rows(table[start:start + 256])
            assert writer.next_rowid == rows + 1
        stored = [row for batch in workbook.iter_batches("t") for row in batch]
        copy = workbook.csv_copy("t")
        assert copy is not None and copy.copyable(width)
        copy.write_csv(tmp_path / "t.csv", workbook.columns("t"))
    padded = [tuple(row) + ("",) * (width - len(row)) for row in table]
    assert stored == padded
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\r\n").writerows([[f"col{c}" for c in range(width)], *padded])
    assert (tmp_path / "t.csv").read_bytes() == expected.getvalue().encode("utf-8")
