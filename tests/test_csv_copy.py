"""The CSV text of a batch of rows (``write_csv`` and the conversion's ``CsvCopy``) against the csv
module itself: byte for byte the same file, formulas neutralised exactly where ``neutralise_formula``
changes a value, and the copy's bookkeeping (``neutralised``, ``copyable``) right. The batches are
the edge cases of the writer's fast paths (a batch joined in one go, the formula search skipped when
no trigger shows, a line's first field looked for among the first values) and seeded random ones."""

from __future__ import annotations

import csv
import io
import random

import pytest

from ret_desktop.core.export import FORMULA_TRIGGERS, CsvCopy, neutralise_formula, write_csv


def expected_csv(header, batches, width, raw=False):
    """What the csv module writes of these rows, padded to ``width``, neutralised unless ``raw``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for batch in batches:
        for row in batch:
            row = [*row, *[""] * (width - len(row))]
            writer.writerow(row if raw else [neutralise_formula(value) for value in row])
    return out.getvalue().encode("utf-8")


def copied(tmp_path, batches, width, raw=False):
    """The copy's bytes as exported with a ``width``-column header (None: not copyable), and the copy."""
    copy = CsvCopy(tmp_path / "copy.csv")
    for batch in batches:
        copy.add(batch, len(batch[0]))
    copy.close()
    if not copy.copyable(width, raw):
        return None, copy
    copy.write_csv(tmp_path / "out.csv", [f"h{i}" for i in range(width)], raw=raw)
    return (tmp_path / "out.csv").read_bytes(), copy


def check(tmp_path, batches, width=None):
    """Both CSV paths against the csv module, and the copy's bookkeeping against the values."""
    width = width or max(len(row) for batch in batches for row in batch)
    header = [f"h{i}" for i in range(width)]
    padded = [[[*row, *[""] * (width - len(row))] for row in batch] for batch in batches]
    for raw in (False, True):
        write_csv(tmp_path / "written.csv", header, padded, raw=raw)
        assert (tmp_path / "written.csv").read_bytes() == expected_csv(header, batches, width, raw)
    values = [value for batch in batches for row in batch for value in row]
    changed = any(neutralise_formula(value) != value for value in values)
    breaks_lines = [any("\r" in v or "\n" in v for row in batch for v in row) for batch in batches]
    safe, copy = copied(tmp_path, batches, width)
    assert copy.neutralised == changed
    assert copy.rows == sum(map(len, batches))
    short = [len(batch[0]) < width for batch in batches]
    assert copy.copyable(width) == (not any(s and b for s, b in zip(short, breaks_lines)))
    if safe is not None:
        assert safe == expected_csv(header, batches, width)
    raw_copy, _ = copied(tmp_path, batches, width, raw=True)
    assert (raw_copy is None) == (changed or not copy.copyable(width))
    if raw_copy is not None:
        assert raw_copy == expected_csv(header, batches, width, raw=True)


# A trigger shown to each fast path: at a line's start, after a comma, in the first and the last row.
@pytest.mark.parametrize("trigger", sorted(set(FORMULA_TRIGGERS)))
@pytest.mark.parametrize("column", [0, 1, 2])
@pytest.mark.parametrize("row", [0, 1, 2])
def test_a_field_starting_with_any_trigger_is_neutralised_wherever_it_is(tmp_path, trigger, column, row):
    batch = [["a", "b", "c"] for _ in range(3)]
    batch[row][column] = trigger + "cmd"
    check(tmp_path, [batch])


@pytest.mark.parametrize("value", ["-", "+", "-5", "+44 20 7946 0958", "-1.5e3", "\uff0d", "@", "="])
@pytest.mark.parametrize("column", [0, 1])
def test_a_sign_alone_or_a_number_stays_and_a_lone_trigger_is_neutralised(tmp_path, value, column):
    row = ["x", "y"]
    row[column] = value
    check(tmp_path, [[["p", "q"], row, ["r", "s"]]])


@pytest.mark.parametrize("values", [
    ["a-b", "x@y", "1=1", "k+l"],                 # triggers inside values only: nothing to neutralise
    ["a\t", "b\uff1dc", "d\uff20", "e\uff0b"],     # tab and full-width forms inside values
    ["\uff1dSUM(1)", "x", "y", "z"],              # a full-width trigger first on the line
    ["x", "\uff20A1", "y", "\uff0b1"],            # full-width triggers after commas
])
def test_triggers_inside_values_stay_and_at_a_field_start_are_neutralised(tmp_path, values):
    check(tmp_path, [[["p", "q", "r", "s"], values, ["t", "u", "v", "w"]]])


@pytest.mark.parametrize("value", ["\r", "\n", "\r\n", "a\rb", "a\nb", "\r=1", "\n-x", ",", '"', 'say "hi"',
                                   "a,b", '"=1"', ",=1", "=1,2", "", " "])
@pytest.mark.parametrize("where", ["first", "last"])
def test_a_value_needing_quotes_or_breaking_a_line_in_the_first_or_only_the_last_row(tmp_path, value, where):
    batch = [["a", "b", "c"] for _ in range(4)]
    batch[0 if where == "first" else -1][2 if where == "last" else 0] = value
    check(tmp_path, [batch])


def test_a_quoted_field_with_a_line_break_before_a_formula(tmp_path):
    check(tmp_path, [[["a\n", "=1"], ["b\r", "+x"], ["c", "d"]], [["e\n=f", "g"]]])


@pytest.mark.parametrize("rows", [[[""]], [["x"]], [["="]], [[""], ["y"]], [["a"], ["-b"]]])
def test_one_column_rows_and_a_lone_empty_value(tmp_path, rows):
    check(tmp_path, [rows])


def test_a_ragged_batch_with_an_empty_row_still_neutralises_the_others(tmp_path):
    rows = [[], ["=x", "y"], ["z"]]  # the only trigger at a line start
    for raw in (False, True):
        write_csv(tmp_path / "ragged.csv", ["a", "b"], [rows], raw=raw)
        assert (tmp_path / "ragged.csv").read_bytes() == expected_csv(["a", "b"], [rows], 0, raw)


def test_short_rows_are_padded_and_a_short_batch_with_a_line_break_is_not_copyable(tmp_path):
    check(tmp_path, [[["a", "b"], ["c", "=d"]], [["e", "f", "g"]]])
    check(tmp_path, [[["a", "b\nc"]], [["d", "e", "f"]]])
    check(tmp_path, [[["a", "b\rc"]], [["d", "e", "f"]]])
    check(tmp_path, [[["a", "b,c"], ['"', "x"]], [["d", "e", "f"]]])


PIECES = ["", "a", "word", "-", "-5", "+1+1", "=x", "@A1", "\t", "\uff1d", "\uff0d3", "é", "日本",
          ",", '"', "\r", "\n", "\r\n", "a-b", "x@y", "1=2", " ", "'", "0000-0002-1234"]


@pytest.mark.parametrize("seed", range(40))
def test_random_batches_match_the_csv_module(tmp_path, seed):
    rng = random.Random(seed)
    width = rng.randint(2, 6)
    rare = rng.random()  # how often a value is made of the tricky pieces: from almost never to often
    batches = []
    for _ in range(rng.randint(1, 4)):
        batch_width = rng.randint(max(1, width - 2), width)
        batches.append([["".join(rng.choices(PIECES, k=rng.randint(1, 3))) if rng.random() < rare
                         else rng.choice(["plain", "text", "42", "https://example.com/x"])
                         for _ in range(batch_width)] for _ in range(rng.randint(1, 30))])
    check(tmp_path, batches, width)
