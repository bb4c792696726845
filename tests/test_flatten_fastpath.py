"""The known-shape path of the flattener (a record serialised and matched against the shapes seen
before) gives exactly the rows of the general walk, on documents full of the cases that could tell
them apart."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ret_desktop.core.export import write_csv
from ret_desktop.core.xmlflat import flatten as flatten_module
from ret_desktop.core.xmlflat.flatten import flatten_document
from ret_desktop.core.xmlflat.names import ANY_ELEMENT, XmlDocumentError

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


def _value(rng: random.Random) -> str:
    """Text as documents write it: mostly plain, sometimes escaped, padded, non-ASCII or empty."""
    word = " ".join(rng.choices(WORDS, k=rng.randint(1, 3)))
    kind = rng.randrange(12)
    if kind == 0:
        return ""
    if kind == 1:
        return f"  {word}\n\t"
    if kind == 2:
        return f"{word} &amp; {word} &lt;3 &#233;"
    if kind == 3:
        return f"<![CDATA[{word} <raw> & co]]>"
    if kind == 4:
        return f"Zoë {word} \u4e2d\u6587 \U0001f600"
    if kind == 5:
        return "02"
    if kind == 6:
        return f"{word} &gt; {word}"
    return word


def _attribute(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return " a &amp; b "
    if kind == 1:
        return "line&#10;break\ttab"
    if kind == 2:
        return "it's &quot;quoted&quot;"
    if kind == 3:
        return ""
    return rng.choice(WORDS)


def _record(rng: random.Random, number: int, late: bool) -> str:
    """One ``rec`` of a few shapes that recur (so known shapes are matched) with the tricky parts
    thrown in now and then."""
    shape = rng.randrange(6)
    parts = [f"<title>{_value(rng)}</title>"]
    if shape in (0, 1, 2):
        for _ in range(rng.randint(1, 3)):  # repeated children, with children of their own
            parts.append(f'<person role="{_attribute(rng)}"><given>{_value(rng)}</given>'
                         f"<family>{_value(rng)}</family></person>")
    if shape in (1, 3):
        parts.append(f'<p:note xml:lang="en" p:kind="{_attribute(rng)}">{_value(rng)}</p:note>')
    if shape == 4:
        parts.append("<empty/><empty></empty><blank> </blank>")
    if shape == 5:
        parts.append('<q:item xmlns:q="urn:other">other namespace</q:item><q:item>bound to urn:q</q:item>')
    extra = rng.randrange(40)
    if extra == 0:
        parts.append(f"<para>Mixed <i>{_value(rng)}</i> content, <b>bold</b> too.</para>")
    elif extra == 1:
        parts.insert(1, "<!-- a comment between siblings -->")
    elif extra == 2:
        parts.append("<?pi between siblings?>")
    elif extra == 3:
        parts.append("stray text beside structure")
    elif extra == 4:
        parts.append(f"<leafwithcomment>before<!-- c -->after {_value(rng)}</leafwithcomment>")
    elif extra == 5:
        parts.append('<p:note xmlns:p="urn:rebound">prefix p bound elsewhere</p:note>')
    elif extra == 6:
        parts.append("<_file>an element named like a provenance column</_file>")
    elif extra == 7:
        parts.append(f"<deep><a><b><c>{_value(rng)}</c></b></a></deep>")
    if late and rng.randrange(3) == 0:
        parts.append(f"<late>{_value(rng)}</late>")  # a column that appears only near the end
    attributes = f' id="r{number}"' + (f' status="{_attribute(rng)}"' if rng.randrange(3) == 0 else "")
    spacing = "\n    " if rng.randrange(2) else ""
    return f"<rec{attributes}>{spacing}{spacing.join(parts)}{spacing}</rec>"


NAMESPACES = ' xmlns:p="urn:p" xmlns:q="urn:q"'


def tricky_document(path: Path, seed: int, records: int = 600, declared_on_records: bool = False) -> Path:
    """``declared_on_records``: the namespaces are declared on each record rather than the root,
    so runs of a shape are serialised with their parent (none is declared above them)."""
    rng = random.Random(seed)
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<root{"" if declared_on_records else NAMESPACES} version="1">',
           "<head><id>batch-" + str(seed) + "</id></head>"]
    for group in range(3):
        out.append(f'<group name="g{group}"><meta>{_value(rng)}</meta>')  # context carried onto its records
        for number in range(records // 3):
            record = _record(rng, number, late=group == 2 and number > records // 4)
            out.append(record.replace("<rec", "<rec" + NAMESPACES, 1) if declared_on_records else record)
        out.append("</group>")
    out.append("<trailer>written after the records</trailer></root>\n")
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def leaf_records_document(path: Path, seed: int) -> Path:
    """Records that are leaves themselves (their text is the value), a few with attributes."""
    rng = random.Random(seed)
    items = []
    for _ in range(200):
        kind = f' kind="{_attribute(rng)}"' if rng.randrange(4) == 0 else ""
        items.append(f"<item{kind}>{_value(rng)}</item>")
    path.write_text("<list>" + "".join(items) + "</list>", encoding="utf-8")
    return path


class FlattenedRows:
    """Every table's columns and rows as the flattener hands them over."""

    def __init__(self) -> None:
        self.columns: dict[str, list[str]] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.backfills: list[tuple] = []

    def add_columns(self, table: str, names: list[str]) -> None:
        self.columns.setdefault(table, []).extend(names)

    def add_row(self, table: str, values) -> int:
        rows = self.rows.setdefault(table, [])
        rows.append(list(values))
        return len(rows) - 1

    def add_rows(self, table: str, rows) -> None:
        for values in rows:
            self.add_row(table, values)

    def backfill(self, table: str, first: int, last: int, pairs) -> None:
        self.backfills.append((table, first, last, list(pairs)))

    def padded(self) -> dict[str, list[list[str]]]:
        """The rows with every column (a row may leave out the columns that came after it)."""
        return {table: [row + [""] * (len(self.columns[table]) - len(row)) for row in rows]
                for table, rows in self.rows.items()}

    def csv(self, folder: Path) -> dict[str, bytes]:
        """Each table as the CSV export writes it."""
        out = {}
        for table, rows in self.padded().items():
            path = folder / f"{table}.csv"
            write_csv(path, self.columns[table], [rows])
            out[table] = path.read_bytes()
        return out


def _flatten(path: Path, record: tuple[str, ...], known_shapes: bool, child_tables=None) -> FlattenedRows:
    rows = FlattenedRows()
    flatten_document(path, record, rows, file_label="doc.xml", table="t", child_tables=child_tables,
                     known_shapes=known_shapes)
    return rows


def flattened_or_error(path: Path, record, known_shapes: bool, child_tables=None, should_cancel=lambda: False):
    """The rows the flattener gives, or the error it stops with."""
    rows = FlattenedRows()
    try:
        flatten_document(path, record, rows, file_label="doc.xml", table="t", child_tables=child_tables,
                         should_cancel=should_cancel, known_shapes=known_shapes)
    except XmlDocumentError as error:
        return ("error", str(error))
    return rows


def assert_same_as_the_general_walk(path: Path, record, folder: Path, child_tables=None) -> FlattenedRows | tuple:
    """The known shapes (and runs) give the general walk's columns, rows, written-back context and
    CSV bytes, or the same error; returns what they gave."""
    reference = flattened_or_error(path, record, False, child_tables)
    fast = flattened_or_error(path, record, True, child_tables)
    if isinstance(reference, tuple) or isinstance(fast, tuple):
        assert fast == reference
        return fast
    assert fast.columns == reference.columns
    assert fast.padded() == reference.padded()
    assert fast.backfills == reference.backfills
    (folder / "ref").mkdir(exist_ok=True)
    (folder / "fast").mkdir(exist_ok=True)
    assert fast.csv(folder / "fast") == reference.csv(folder / "ref")
    return fast


@pytest.fixture
def general_walks(monkeypatch):
    """How many records the general walk took: the known-shape path must have taken the others."""
    walks = []
    original = flatten_module._Walker.element

    def counting(self, element, node, out):
        if node.path == "" and node.clark in (None, ()):
            walks.append(element)
        return original(self, element, node, out)

    monkeypatch.setattr(flatten_module._Walker, "element", counting)
    return walks


@pytest.mark.parametrize("declared_on_records", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_known_shapes_give_the_rows_of_the_general_walk(tmp_path, seed, declared_on_records, general_walks):
    path = tricky_document(tmp_path / f"tricky{seed}.xml", seed, declared_on_records=declared_on_records)
    record = ("root", "group", "rec")
    reference = _flatten(path, record, known_shapes=False)
    walked = len(general_walks)
    fast = _flatten(path, record, known_shapes=True)
    assert fast.columns == reference.columns  # the same columns in the same order
    assert fast.padded() == reference.padded()
    assert fast.backfills == reference.backfills and fast.backfills  # the trailer, written back
    assert walked == 600 and len(general_walks) - walked < 600 / 2  # most records took the known shape


def test_known_shapes_of_leaf_records(tmp_path, general_walks):
    path = leaf_records_document(tmp_path / "leaves.xml", 7)
    reference = _flatten(path, ("list", "item"), known_shapes=False)
    fast = _flatten(path, ("list", "item"), known_shapes=True)
    assert (fast.columns, fast.padded()) == (reference.columns, reference.padded())
    assert len(general_walks) - 200 < 100


@pytest.mark.parametrize("declared_on_records", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_known_shapes_in_relational_mode(tmp_path, seed, declared_on_records):
    """Records with child-table rows go the general way; the others may take their known shape."""
    path = tricky_document(tmp_path / f"tricky{seed}.xml", seed, declared_on_records=declared_on_records)
    record = ("root", "group", "rec")
    children = {("person",): "t.person"}
    reference = _flatten(path, record, known_shapes=False, child_tables=children)
    fast = _flatten(path, record, known_shapes=True, child_tables=children)
    assert (fast.columns, fast.padded()) == (reference.columns, reference.padded())


def test_records_of_ever_new_shapes_stop_the_trying(tmp_path, general_walks, serialisations):
    """Where no shape comes back, every record takes the general walk: the same rows, and the
    serialising is given up after a while."""
    path = tmp_path / "unique.xml"
    path.write_text("<list>" + "".join(f"<item><field{n} a='{n}'>value {n}</field{n}></item>" for n in range(600))
                    + "</list>", encoding="utf-8")
    reference = _flatten(path, ("list", "item"), known_shapes=False)
    fast = _flatten(path, ("list", "item"), known_shapes=True)
    assert (fast.columns, fast.padded()) == (reference.columns, reference.padded())
    assert len(general_walks) == 1200
    assert len(serialisations) < 600 / 2


def test_patterns_of_one_skeleton_stay_few(tmp_path, monkeypatch):
    """Documents alike but for their namespace URI share a skeleton (quoted values are blanked):
    the process keeps a few patterns of it, not one per URI, and each document's rows stay exact."""
    monkeypatch.setattr(flatten_module, "_PATTERNS", {})
    for number in range(40):
        path = tmp_path / f"ns{number}.xml"
        path.write_text("<list>" + "".join(f'<item><a xmlns="urn:example:{number}">{n}</a><b>x{n}</b></item>'
                                           for n in range(20)) + "</list>", encoding="utf-8")
        reference = _flatten(path, ("list", "item"), known_shapes=False)
        fast = _flatten(path, ("list", "item"), known_shapes=True)
        assert (fast.columns, fast.padded()) == (reference.columns, reference.padded())
    assert max(map(len, flatten_module._PATTERNS.values())) <= flatten_module._MAX_SHAPES_ALIKE


def _run_record(rng: random.Random, number: int) -> str:
    """A record of the one shape most of a runs document has, with values of every kind."""
    year = rng.choice(["1999", "", " 2001 ", "&#50;002"])
    year = "<year/>" if not year and rng.randrange(2) else f"<year>{year}</year>"
    return (f'<rec id="r{number}" kind="{_attribute(rng)}"><title>{_value(rng)}</title>'
            f"<author>{_value(rng)}</author>{year}</rec>")


# What breaks a run of records of one shape, between two records or instead of one.
RUN_BREAKS = [
    "stray text between records",
    "<!-- a comment between records -->",
    "<?pi between records?>",
    "<note>context between records, carried from here on</note>",
    '<rec id="b"><title>another shape</title><extra>x</extra></rec>',
    '<rec id="z" xmlns:z="urn:z"><z:title>own namespace</z:title><author>a</author><year>1</year></rec>',
    '<rec id="n"><title>a record inside</title><author><rec>not a record</rec></author><year>2</year></rec>',
    '<rec id="m"><title>mixed <i>content</i> here</title><author>a</author><year>3</year></rec>',
    '<rec id="e"><title>&nbsp; named, undeclared</title><author>a</author><year>4</year></rec>',
    '<rec id="c"><title>t</title><!-- inside --><author>a</author><year>5</year></rec>',
]


def runs_document(path: Path, seed: int) -> Path:
    """Runs of one record shape, long and short (past the records and bytes held at once), broken
    by all that can come between records, under parents with text and attributes, and with no
    namespace declared above the records: these runs are serialised with their parent."""
    rng = random.Random(seed)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE root SYSTEM "root.dtd">\n'  # named references are kept
           '<root version="1 &gt; 0"><head><id>runs</id></head>']
    number = 0
    for group in range(3):
        out.append(f'<group name="g{group}" note="a &gt; b &quot;q&quot; &lt;c&gt;">text of the group')
        for _run in range(rng.randint(8, 14)):
            for _ in range(rng.choice([1, 2, 3, 40, 300, 700])):
                number += 1
                out.append(_run_record(rng, number) + rng.choice(["", "\n", "\n  "]))
            if rng.randrange(6) == 0:  # one record of more than the bytes held at once
                out.append(f'<rec id="long"><title>{"long " * 60_000}</title><author>a</author><year>6</year></rec>')
            out.append(rng.choice(RUN_BREAKS))
        out.append("</group>")
    out.append("<trailer>written after the records</trailer></root>\n")
    path.write_text("".join(out), encoding="utf-8")
    return path


@pytest.mark.parametrize("seed", range(4))
def test_runs_of_one_shape_serialised_with_their_parent(tmp_path, seed, serialisations):
    path = runs_document(tmp_path / f"runs{seed}.xml", seed)
    record = ("root", "group", "rec")
    reference = _flatten(path, record, known_shapes=False)
    fast = _flatten(path, record, known_shapes=True)
    assert fast.columns == reference.columns
    assert fast.padded() == reference.padded()
    assert fast.backfills == reference.backfills and fast.backfills
    assert fast.csv(tmp_path) == reference.csv(tmp_path)
    records = len(reference.rows["t"])
    assert records > 3000
    parents = [tag for tag, _characters in serialisations if tag == "group"]
    assert len(parents) > 10 and len(serialisations) < records / 4  # most went with their parent


@pytest.mark.parametrize("seed", range(2))
def test_runs_of_one_shape_in_relational_mode(tmp_path, seed):
    path = runs_document(tmp_path / f"runs{seed}.xml", seed)
    record = ("root", "group", "rec")
    children = {("author",): "t.author"}
    reference = _flatten(path, record, known_shapes=False, child_tables=children)
    fast = _flatten(path, record, known_shapes=True, child_tables=children)
    assert (fast.columns, fast.padded(), fast.backfills) == (reference.columns, reference.padded(),
                                                             reference.backfills)


@pytest.mark.parametrize("root, record", [
    ('<list xmlns="urn:l">', ("{urn:l}list", "{urn:l}item")),  # a record's text alone declares the namespace
    ("<list>", ("list", ANY_ELEMENT)),  # the events of the records' children come before theirs
])
def test_where_runs_cannot_go_with_their_parent_each_record_is_serialised_once(tmp_path, serialisations, root,
                                                                              record):
    path = tmp_path / "list.xml"
    path.write_text(root + "".join(f"<item><a>{n}</a><b>x{n}</b></item>" for n in range(2000)) + "</list>",
                    encoding="utf-8")
    reference = _flatten(path, record, known_shapes=False)
    fast = _flatten(path, record, known_shapes=True)
    assert (fast.columns, fast.padded()) == (reference.columns, reference.padded())
    assert len(serialisations) <= 2000


def test_a_parent_with_a_long_start_is_not_serialised_with_each_run(tmp_path, serialisations):
    """Its text and attributes would be written again with every run of its records."""
    path = tmp_path / "long-start.xml"
    path.write_text(f'<list note="{"n" * 300_000}">{"t" * 300_000}'
                    + "".join(f"<item><a>{n}</a><b>x{n}</b></item>" for n in range(5000)) + "</list>", encoding="utf-8")
    reference = _flatten(path, ("list", "item"), known_shapes=False)
    fast = _flatten(path, ("list", "item"), known_shapes=True)
    assert (fast.columns, fast.padded()) == (reference.columns, reference.padded())
    assert sum(characters for _tag, characters in serialisations) < path.stat().st_size
