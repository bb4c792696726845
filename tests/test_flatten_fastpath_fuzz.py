"""Seeded differential fuzz of the known-shape path: documents of a few record shapes that vary in
small ways (escapes, character references, CDATA, blanks, attribute quoting and normalisation,
namespaces, comments late on, encodings); every one must give the general walk's columns, rows,
backfills and CSV bytes."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from ret_desktop.core.export import write_csv
from ret_desktop.core.xmlflat import flatten as flatten_module
from ret_desktop.core.xmlflat.flatten import flatten_document

WORDS = ["alpha", "beta", "a.b*c", "(x|y)+", "[z]{2}", "$^\\d", "Zoë", "\u4e2d", "\U0001f600", "02"]
TEXTS = [
    "", " ", "\t", "\n", "\r\n", "\r", "  lead", "trail  ", " \r\n both \t", "&amp; &lt; &gt; &quot; &apos;",
    "a &amp;amp; b", "&#13;", "x&#13;y", "&#x9;tab&#x9;", "&#160;nbsp&#160;", "&#x1F600;", "&#xD;&#xA;",
    "<![CDATA[raw <b> & ]]>", "<![CDATA[  padded  ]]>", "<![CDATA[]]>", "a]]&gt;b", "]]&gt;", "\U0001f600 \u00e9",
    "line one\nline two", "tab\tinside", "\u00a0", "\u2028sep", "'single' \"double\"", ">", "a>b",
]
ATTRIBUTES = [
    "plain", "", " pad ", "a&amp;b", "&lt;&gt;", "q&quot;q", "it&apos;s", "line\nbreak", "tab\there",
    "cr\r\nlf", "&#10;ref", "&#9;ref", "&#13;ref", ">", "a > b", "\u00e9\U0001f600", "  two  spaces  ",
]


def _text(rng: random.Random) -> str:
    return rng.choice(TEXTS) if rng.randrange(3) == 0 else " ".join(rng.choices(WORDS, k=rng.randint(1, 3)))


def _attribute_value(rng: random.Random) -> tuple[str, str]:
    """An attribute value and a quote to write it in (its quote escaped inside)."""
    value = rng.choice(ATTRIBUTES) if rng.randrange(2) else rng.choice(WORDS)
    quote = rng.choice(['"', "'"])
    if quote == '"':
        value = value.replace('"', "&quot;")
    else:
        value = value.replace("'", "&apos;")
    return value, quote


def _attributes(rng: random.Random, names: list[str]) -> str:
    names = list(names)
    if rng.randrange(4) == 0:
        rng.shuffle(names)  # attributes in another order than before
    out = []
    for name in names:
        value, quote = _attribute_value(rng)
        space = rng.choice([" ", " ", "\n  ", "\t"])
        out.append(f"{space}{name}={quote}{value}{quote}")
    return "".join(out)


def _leaf(rng: random.Random, name: str, attributes: list[str] = ()) -> str:
    text = _text(rng)
    attrs = _attributes(rng, attributes) if attributes else ""
    if not text and rng.randrange(2):
        return f"<{name}{attrs}/>"
    return f"<{name}{attrs}>{text}</{name}>"


def _record(rng: random.Random, number: int, late: bool) -> str:
    shape = rng.randrange(5)
    spacing = rng.choice(["", "\n  ", "\r\n\t", " "])
    parts: list[str] = [_leaf(rng, "title")]
    if shape == 0:
        parts.append(_leaf(rng, "value", ["unit", "kind"]))
    elif shape == 1:
        for _ in range(rng.choice([1, 2, 2, 2, 3])):  # a repeat once more than before, now and then
            parts.append(f"<person>{_leaf(rng, 'given')}{_leaf(rng, 'family')}</person>")
    elif shape == 2:
        prefix = rng.choice(["p", "p", "p2"])  # another prefix for the same namespace
        declare = f' xmlns:{prefix}="urn:p"' if prefix != "p" or rng.randrange(6) == 0 else ""
        parts.append(f"<{prefix}:note{declare} xml:lang=\"{rng.choice(['en', 'fr'])}\""
                     f" {prefix}:kind=\"{rng.choice(WORDS)}\">{_text(rng)}</{prefix}:note>")
    elif shape == 3:
        default = rng.choice(["", "", ' xmlns="urn:d"', ' xmlns=""'])
        parts.append(f"<inner{default}>{_leaf(rng, 'x')}<y xml:space=\"preserve\">{_text(rng)}</y></inner>")
    else:
        parts.append(rng.choice(["<e/>", "<e></e>", "<e> </e>", "<e>\r\n</e>"]))
        parts.append(_leaf(rng, "long") if rng.randrange(20) else f"<long>{'v' * rng.randint(2000, 20000)}</long>")
    if number == 50:
        parts.insert(1, rng.choice(["<!-- comment in the 50th -->", "<?pi in the 50th?>"]))
    extra = rng.randrange(60)
    if extra == 0:
        parts.append(f"<mixed>text <i>{_text(rng)}</i> beside</mixed>")
    elif extra == 1:
        parts.append("stray text")
    elif extra == 2:
        parts.append("<title>twice</title>")
    if late and rng.randrange(4) == 0:
        parts.append(_leaf(rng, "late"))
    attributes = _attributes(rng, ["id", "status"] if rng.randrange(3) else ["id"])
    redeclare = ' xmlns:p="urn:p"' if rng.randrange(10) == 0 else ""
    return f"<rec{attributes}{redeclare}>{spacing}{spacing.join(parts)}{spacing}</rec>"


ENCODINGS = ["utf-8", "utf-16", "iso-8859-1"]


def fuzz_document(path: Path, seed: int, records: int) -> Path:
    rng = random.Random(seed)
    encoding = ENCODINGS[seed % len(ENCODINGS)]
    out = [f'<?xml version="1.0" encoding="{encoding.upper()}"?>',
           '<root xmlns:p="urn:p" version="1"><head><id>batch</id></head>']
    groups = rng.randint(1, 3)
    for group in range(groups):
        out.append(f'<group name="g{group}"><meta>{_text(rng)}</meta>')
        for number in range(records // groups):
            out.append(_record(rng, number, late=number > records // 2))
        out.append("</group>")
    out.append("<trailer>after</trailer></root>")
    text = "\n".join(out)
    if encoding == "iso-8859-1":  # what Latin-1 cannot hold, as character references
        text = text.encode("iso-8859-1", "xmlcharrefreplace").decode("iso-8859-1")
    path.write_bytes(text.encode(encoding))
    return path


class _Rows:
    def __init__(self) -> None:
        self.columns: dict[str, list[str]] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.backfills: list[tuple] = []

    def add_columns(self, table, names):
        self.columns.setdefault(table, []).extend(names)

    def add_row(self, table, values) -> int:
        rows = self.rows.setdefault(table, [])
        rows.append(list(values))
        return len(rows) - 1

    def add_rows(self, table, rows):
        for values in rows:
            self.add_row(table, values)

    def backfill(self, table, first, last, pairs):
        self.backfills.append((table, first, last, list(pairs)))

    def padded(self):
        return {table: [row + [""] * (len(self.columns[table]) - len(row)) for row in rows]
                for table, rows in self.rows.items()}

    def csv(self, folder: Path) -> dict[str, bytes]:
        out = {}
        for table, rows in self.padded().items():
            path = folder / f"{table}.csv"
            write_csv(path, self.columns[table], [rows])
            out[table] = path.read_bytes()
        return out


def _flatten(path: Path, known_shapes: bool, child_tables=None, record=("root", "group", "rec")) -> _Rows:
    rows = _Rows()
    flatten_document(path, record, rows, file_label="doc.xml", table="t", child_tables=child_tables,
                     known_shapes=known_shapes)
    return rows


def _assert_same(path: Path, folder: Path, child_tables=None, record=("root", "group", "rec")) -> None:
    reference = _flatten(path, False, child_tables, record)
    fast = _flatten(path, True, child_tables, record)
    assert fast.columns == reference.columns
    assert fast.padded() == reference.padded()
    assert fast.backfills == reference.backfills
    (folder / "ref").mkdir(exist_ok=True)
    (folder / "fast").mkdir(exist_ok=True)
    assert fast.csv(folder / "fast") == reference.csv(folder / "ref")


@pytest.mark.parametrize("seed", range(24))
def test_fuzzed_documents_give_the_rows_of_the_general_walk(tmp_path, seed):
    records = [40, 300, 700][seed % 3]  # below and across the 256-miss rule
    path = fuzz_document(tmp_path / f"fuzz{seed}.xml", seed, records)
    _assert_same(path, tmp_path)


@pytest.mark.parametrize("seed", range(6))
def test_fuzzed_documents_in_relational_mode(tmp_path, seed):
    path = fuzz_document(tmp_path / f"fuzz{seed}.xml", seed, 300)
    _assert_same(path, tmp_path, child_tables={("person",): "t.person"})
