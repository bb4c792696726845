"""Seeded differential fuzz of the flattener's runs serialised with their parent: records of a shape
that came twice running are held in the tree and matched in the parent's serialisation. Documents
full of what can make the parent's text differ from its records' texts laid end to end (tails,
CDATA, character references, comments and PIs between and inside records, records declaring
namespaces, nested records, context between records, a trailer, more records or bytes than are
held at once, several encodings) must give the general walk's columns, rows, backfills and CSV
bytes, or the same error; and the runs must really go with their parent."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ret_desktop.core.xmlflat import flatten as flatten_module
from ret_desktop.core.xmlflat.flatten import FlattenCancelled, flatten_document
from ret_desktop.core.xmlflat.names import ANY_DEPTH, ANY_ELEMENT
from test_flatten_fastpath import FlattenedRows, assert_same_as_the_general_walk, flattened_or_error

WORDS = ["alpha", "beta", "a.b*c", "(x|y)+", "Zo\u00eb", "\u4e2d\u6587", "\U0001f600", "02", "x > y", "5\" long"]
TEXTS = [
    "", " ", "\n", "\r\n", "\r", "\t lead", "trail \n", "&amp; &lt; &gt; &quot; &apos;", "&#13;", "x&#13;y",
    "&#xD;&#xA;", "&#x9;tab", "&#160;nbsp&#160;", "\u00a0", "\u00a0pad\u00a0", "\u2028sep\u2029", "\u3000ideo\u3000",
    "&#x85;next", "&#x1F600;", "<![CDATA[raw <b> & ]]>", "<![CDATA[  padded  ]]>", "<![CDATA[]]>", "a]]&gt;b",
    "'single' \"double\"", ">", "\U0001f600 \u00e9", "line one\nline two", "\ufeffbom",
]
ATTRIBUTES = [
    "", " pad ", "a&amp;b", "&lt;&gt;", "q&quot;q", "it&apos;s", "line\nbreak", "tab\there", "cr\r\nlf", "&#10;ref",
    "&#9;ref", "&#13;ref", ">", "a > b", "\u00e9\U0001f600", "\u00a0nb\u00a0", "&#x2028;",
]
# What can come between two records of a run (the text of a tail, or a node of the parent).
BETWEEN = [
    "\n", "\n  ", " ", "\t", "\r\n", "&#10;", "&#32;", "&#13;", "\u00a0", "\u2028", "stray text", " x ", "<![CDATA[ ]]>",
    "<![CDATA[cdata tail]]>", "<!-- a comment -->", "<?pi between?>", "<note>carried from here on</note>",
    "<note/>", "&gt;", "\U0001f600",
]
BETWEEN_WITH_DOCTYPE = ["&nbsp;", "&uuml;", " &unknownname; "]  # rewritten (or kept) by the entity filter


def _text(rng: random.Random, doctype: bool) -> str:
    if doctype and rng.randrange(12) == 0:
        return rng.choice(["J&uuml;rgen", "&nbsp;", "a &foo; b"])
    return rng.choice(TEXTS) if rng.randrange(3) == 0 else " ".join(rng.choices(WORDS, k=rng.randint(1, 2)))


def _attribute(rng: random.Random) -> str:
    value = rng.choice(ATTRIBUTES) if rng.randrange(2) else rng.choice(WORDS)
    return value.replace('"', "&quot;")


def _empty(rng: random.Random, name: str) -> str:
    return rng.choice([f"<{name}/>", f"<{name}></{name}>", f"<{name} />"])


class Shapes:
    """The record shapes of one document: a few, so runs of each recur, with rare variations."""

    def __init__(self, rng: random.Random, tag: str, doctype: bool) -> None:
        self.rng = rng
        self.tag = tag
        self.doctype = doctype
        self.kinds = rng.sample(range(8), rng.choice([1, 2, 2, 3]))

    def record(self, kind: int, number: int, variations: bool = True) -> str:
        rng, tag = self.rng, self.tag
        text = lambda: _text(rng, self.doctype)  # noqa: E731
        attributes = f' id="r{number}"'
        if kind in (1, 5) or rng.randrange(8) == 0:
            attributes += f' kind="{_attribute(rng)}"'
        if kind == 0:
            body = f"<title>{text()}</title><year>{rng.choice(['1999', '', ' 2001 ', '&#50;002'])}</year>"
        elif kind == 1:
            body = f"<title>{text()}</title>" + (_empty(rng, "x") if rng.randrange(2) else f"<x>{text()}</x>")
        elif kind == 2:
            body = "".join(f"<person><given>{text()}</given><family>{text()}</family></person>"
                           for _ in range(rng.choice([1, 2, 2, 2, 3])))
        elif kind == 3:
            body = f'<z:v xmlns:z="urn:z" z:a="{_attribute(rng)}">{text()}</z:v><w>{text()}</w>'
        elif kind == 4:
            body = f'<inner xmlns="urn:d"><x>{text()}</x></inner><y xml:space="preserve" xml:lang="en">{text()}</y>'
        elif kind == 5:
            return f"<{tag}{attributes}>{text()}</{tag}>"  # a leaf record
        elif kind == 6:
            body = f"<a><{tag}>{text()}</{tag}></a><b>{text()}</b>"  # the record's tag inside
        else:
            body = (f'<u xmlns="">{text()}</u><t>{text()}</t>' + _empty(rng, "e")
                    + ("\n  " if rng.randrange(2) else "") + f"<t2>{text()}</t2>")
        if variations:
            extra = rng.randrange(40)
            if extra == 0:
                body = "<!-- inside -->" + body
            elif extra == 1:
                body += "<?pi inside?>"
            elif extra == 2:
                body += f"<mixed>text <i>{text()}</i> beside</mixed>"
            elif extra == 3:
                body += "stray text inside"
            elif extra == 4:
                body += f"<late>{text()}</late>"
            elif extra == 5:
                body = body.replace("><", ">\r\n  <", 1)
            elif extra == 6:  # attributes in another order, or many of them
                attributes = f' kind="{_attribute(rng)}"' + attributes.split(" kind=")[0]
            elif extra == 7:
                attributes += "".join(f' m{k}="{k}"' for k in range(300))
        return f"<{tag}{attributes}>{body}</{tag}>"


def _between(rng: random.Random, doctype: bool) -> str:
    if doctype and rng.randrange(6) == 0:
        return rng.choice(BETWEEN_WITH_DOCTYPE)
    return rng.choice(BETWEEN)


def _records(rng: random.Random, shapes: Shapes, doctype: bool, nested: bool) -> str:
    """Runs of records of the document's shapes (or of shapes taking turns), with what can come
    between records thrown in between runs and, now and then, inside one. The first run is of one
    shape and without variations, so that some run goes with its parent in every document."""
    out = []
    number = 0
    lengths = [20] + [rng.choice([1, 2, 3, 6, 20, 60, 200, 513, 700]) for _ in range(rng.randint(2, 6))]
    for run, length in enumerate(lengths):
        alternate = run and len(shapes.kinds) > 1 and rng.randrange(4) == 0  # A B A B ...
        kind = rng.choice(shapes.kinds) if run else shapes.kinds[0]
        clean = not run or rng.randrange(3) == 0  # a run without variations: it goes with the parent whole
        for position in range(length):
            number += 1
            if alternate:
                kind = shapes.kinds[position % 2]
            record = shapes.record(kind, number, variations=not clean)
            if nested and rng.randrange(25) == 0:  # a record inside a record, at //tag
                record = record.replace("</", f"<sub>{shapes.record(kind, -number, False)}{_between(rng, doctype)}</sub></", 1)
            out.append(record)
            if not clean and rng.randrange(30) == 0:
                out.append(_between(rng, doctype))
            elif rng.randrange(3) == 0:
                out.append(rng.choice(["\n", "\n    ", " "]))
        out.append(_between(rng, doctype))
        if rng.randrange(40) == 0:  # a record longer than the bytes held at once
            out.append(f'<{shapes.tag} id="long"><title>{"long " * 60_000}</title><year>1</year></{shapes.tag}>')
    return "".join(out)


def _parent_start(rng: random.Random, tag: str, may_be_long: bool) -> str:
    """A parent's start tag and text (too long for its runs to go with it, ``may_be_long``, now and then)."""
    note = rng.choice(['', ' note="a &gt; b &lt;c&gt; &quot;q&quot;&#10;&#13;\t"', " note='it&apos;s'",
                       ' xml:space="preserve"', ' xml:lang="de"', f' long="{"l" * 5000}"' if may_be_long else ""])
    text = rng.choice(["", "", "text of the parent", "<![CDATA[<rec>not a record</rec>]]>", "&#60;rec&#62;",
                       "\u00a0", "t" * 5000 if may_be_long else "", "<!-- first -->", "<?pi first?>"])
    return f"<{tag}{note}>{text}"


ENCODINGS = ["utf-8", "utf-8", "utf-8-sig", "utf-16", "iso-8859-1"]
# (record path, how the document holds its records)
LAYOUTS = ["group", "group", "group", "root", "root", "any depth", "any depth", "any element"]


def attack_document(path: Path, seed: int) -> tuple[Path, tuple[str, ...], dict | None]:
    """A document of runs of records under parents of every kind; returns it with its record path
    and, for some seeds, the child tables of relational mode."""
    rng = random.Random(seed)
    layout = LAYOUTS[seed % len(LAYOUTS)]
    encoding = ENCODINGS[seed // len(LAYOUTS) % len(ENCODINGS)]
    doctype = rng.randrange(3) == 0
    tag = "rec"
    shapes = Shapes(rng, tag, doctype)
    relational = rng.randrange(5) == 0
    if relational:  # the first run of a shape without a child table's element
        shapes.kinds = sorted(set(shapes.kinds) | {0}, key=lambda kind: kind == 2)
    prolog = f'<?xml version="1.0" encoding="{encoding.upper().removesuffix("-SIG")}"?>\n'
    if rng.randrange(2):
        prolog += "<!-- before the root -->\n<?pi before the root?>\n"
    if doctype:
        prolog += '<!DOCTYPE root SYSTEM "root.dtd">\n'
    trailer = rng.choice(["", "<trailer>after the records</trailer>", "trailing text<trailer/>"])
    if layout == "root":
        body = _parent_start(rng, "root", False) + _records(rng, shapes, doctype, False) + trailer + "</root>"
        record = ("root", tag)
    elif layout == "any element":
        body = "<root>" + _records(rng, shapes, doctype, False) + "</root>"
        record = ("root", ANY_ELEMENT)
    else:
        groups = []
        for group in range(rng.randint(1, 3)):
            inner = _parent_start(rng, "group", group > 0) + f"<meta>{_text(rng, doctype)}</meta>"
            inner += _records(rng, shapes, doctype, layout == "any depth") + trailer + "</group>"
            if layout == "any depth" and rng.randrange(2):
                inner = f"<wrap>{inner}</wrap>"
            groups.append(inner)
        body = '<root version="1"><head><id>batch</id></head>' + "".join(groups) + "</root>"
        record = ("root", ANY_DEPTH, tag) if layout == "any depth" else ("root", "group", tag)
    text = prolog + body + "\n"
    if encoding == "iso-8859-1":  # what Latin-1 cannot hold, as character references
        text = text.encode("iso-8859-1", "xmlcharrefreplace").decode("iso-8859-1")
    path.write_bytes(text.encode(encoding))
    return path, record, {("person",): "t.person"} if relational else None


@pytest.mark.parametrize("seed", range(32))
def test_fuzzed_runs_give_the_rows_of_the_general_walk(tmp_path, seed, serialisations):
    path, record, child_tables = attack_document(tmp_path / f"runs{seed}.xml", seed)
    outcome = assert_same_as_the_general_walk(path, record, tmp_path, child_tables)
    if record[-1] != ANY_ELEMENT and not isinstance(outcome, tuple):
        assert {tag for tag, _characters in serialisations} - {"rec"}, "no run went with its parent"


def _read_size(tmp_path: Path, monkeypatch) -> int:
    """How many bytes the parser asks the document for at a time (where its reads end)."""
    sizes = []
    original = flatten_module._CountingReader.read

    def recording(self, size: int = -1) -> bytes:
        sizes.append(size)
        return original(self, size)

    monkeypatch.setattr(flatten_module._CountingReader, "read", recording)
    path = tmp_path / "probe.xml"
    path.write_text("<r><i>1</i><i>2</i></r>", encoding="utf-8")
    flattened_or_error(path, ("r", "i"), False)
    monkeypatch.setattr(flatten_module._CountingReader, "read", original)
    assert sizes and sizes[0] > 1000
    return sizes[0]


def test_the_tail_of_a_nested_record_does_not_depend_on_where_a_read_ends(tmp_path, monkeypatch):
    """At //rec a record inside a record is a row of its own, taken out of the outer one with the
    text after it. That text was left in the outer record's value when a read of the document
    ended just after the inner record's end tag (the text was parsed after the record had left the
    tree); when the inner record was held for a run it went with it. Every place of the read's end
    must give the same rows, held or not."""
    size = _read_size(tmp_path, monkeypatch)
    head = "<root>" + "".join(f"<rec><v>{n}</v></rec>" for n in range(40))
    inner, outer_start = "<rec><v>in</v></rec>", "<rec><a>x"
    outer_rows = set()
    for shift in range(-6, 4):
        fill = size - len(head) - len("<!---->") - len(outer_start) - len(inner) + shift
        text = (head + "<!--" + "f" * fill + "-->" + outer_start + inner + " and <b>y</b></a></rec>"
                + "".join(f"<rec><v>{n}</v></rec>" for n in range(40)) + "</root>")
        path = tmp_path / f"nested{shift}.xml"
        path.write_text(text, encoding="utf-8")
        rows = assert_same_as_the_general_walk(path, ("root", ANY_DEPTH, "rec"), tmp_path)
        outer_rows.update(tuple(row) for row in rows.padded()["t"] if row[1] == "42")
    assert len(outer_rows) == 1, outer_rows


RUN = "".join(f"<rec><a>{n}</a><b>x</b></rec>" for n in range(20))
SERIALISED_AGAIN = {
    # each was serialised three times: alone as the first of its run, then with its parent twice
    # (with the run before it, as what was parsed after that run, and with its own run of one)
    "records longer than the bytes held": (RUN + "".join(f"<rec><a>{'v' * 300_000}</a><b>x</b></rec>"
                                                         for _ in range(8)), 1.5),
    # each inner <rec> (not a record) ended the run: the parent, with all parsed after the record
    # (up to a read of 32 KiB), was serialised for every record: 400 times the document
    "the record's tag inside every record": ("".join(f"<rec><a><rec>{n}</rec></a><b>x</b></rec>"
                                                     for n in range(5000)), 3),
}


@pytest.mark.parametrize("case", SERIALISED_AGAIN)
def test_records_are_not_serialised_again_and_again(tmp_path, serialisations, case):
    records, most = SERIALISED_AGAIN[case]
    path = tmp_path / "again.xml"
    path.write_text(f"<root><g>{records}</g></root>", encoding="utf-8")
    record = ("root", "g", "rec")
    assert_same_as_the_general_walk(path, record, tmp_path)
    serialisations.clear()  # those of one flattening with the known shapes
    flattened_or_error(path, record, True)
    assert sum(length for _tag, length in serialisations) < most * path.stat().st_size
    assert any(tag == "g" for tag, _length in serialisations)  # runs still go with their parent


def _encoded(text: str, data: bytes) -> bytes:
    """``text`` in the encoding of the document ``data`` (UTF-16 with its byte-order mark, or UTF-8)."""
    return text.encode("utf-16-le") if data[:2] == b"\xff\xfe" else text.encode("utf-8")


BREAKAGES = ["", "<", "&#1;", "</bad>", "\u0001", "<rec", "&unterminated", "]]>"]


@pytest.mark.parametrize("seed", range(8))
def test_a_document_broken_in_a_run_fails_with_the_general_walks_error(tmp_path, seed):
    path, record, child_tables = attack_document(tmp_path / f"broken{seed}.xml", seed)
    data = path.read_bytes()
    rng = random.Random(seed)
    at = rng.randrange(len(data) // 3, len(data) - 10)
    at -= at % 2  # a whole UTF-16 unit
    breakage = BREAKAGES[seed % len(BREAKAGES)]
    path.write_bytes(data[:at] + _encoded(breakage, data) + (data[at:] if breakage else b""))
    outcome = assert_same_as_the_general_walk(path, record, tmp_path, child_tables)
    assert isinstance(outcome, tuple), "the broken document was read whole"


@pytest.mark.parametrize("reads", [1, 2, 4])
def test_cancelled_in_a_run(tmp_path, reads):
    """Cancelled after some reads, with records held: the conversion stops, and the rows handed
    over by then (the caller's to discard) are the general walk's first rows."""
    path = tmp_path / "cancel.xml"
    path.write_text("<root><g>" + "".join(f'<rec id="{n}"><a>{n}</a><b>x</b></rec>' for n in range(20_000))
                    + "</g></root>", encoding="utf-8")
    reference = FlattenedRows()
    flatten_document(path, ("root", "g", "rec"), reference, file_label="doc.xml", table="t", known_shapes=False)
    calls = []

    def cancel_after_some_reads() -> bool:
        calls.append(1)
        return len(calls) > reads

    rows = FlattenedRows()
    with pytest.raises(FlattenCancelled):
        flatten_document(path, ("root", "g", "rec"), rows, file_label="doc.xml", table="t",
                         should_cancel=cancel_after_some_reads)
    given = rows.padded().get("t", [])
    assert given and given == [row[:len(rows.columns["t"])] for row in reference.padded()["t"][:len(given)]]
    assert rows.columns["t"] == reference.columns["t"]


def _many(record, count: int = 60) -> str:
    return "".join(record(n) for n in range(count))


def _plain(n: int) -> str:
    return f'<rec id="{n}"><a>{n}</a><b>x{n}</b></rec>'


# What can make a parent's text other than its records' texts laid end to end, each in a document
# of runs: (document, record path, whether runs go with their parent there).
ATTACKS = {
    "tails of text": ("<r><g>" + _many(lambda n: _plain(n) + ("tail" if n % 7 == 0 else "\n ")) + "</g></r>",
                      ("r", "g", "rec"), True),
    "CDATA in values and tails": ("<r><g>" + _many(
        lambda n: f"<rec><a><![CDATA[ <{n}> & ]]></a><b>x</b></rec>" + ("<![CDATA[ ]]>" if n % 5 == 0 else ""))
        + "</g></r>", ("r", "g", "rec"), True),
    "carriage returns": ("<r><g>" + _many(
        lambda n: f'<rec k="a&#13;b\r\nc"><a>x&#13;\r\ny</a><b>&#xD;</b></rec>' + ("&#13;" if n % 9 == 0 else ""))
        + "</g></r>", ("r", "g", "rec"), True),
    "attribute values of every escape": ("<r><g>" + _many(
        lambda n: f"<rec k='a > b &lt;c&gt; \"q\" &apos;s&#10;n&#9;t'><a v=\"&quot;{n}&quot;\">{n}</a></rec>")
        + "</g></r>", ("r", "g", "rec"), True),
    "blanks kept by xml:space on the parent": ('<r><g xml:space="preserve">\n' + _many(
        lambda n: _plain(n) + ("\n  " if n % 2 else "\u00a0" if n % 11 == 0 else "")) + "\n</g></r>",
        ("r", "g", "rec"), True),
    "the xml: prefix": ("<r><g>" + _many(lambda n: f'<rec xml:lang="en"><a xml:space="preserve"> {n} </a></rec>')
                        + "</g></r>", ("r", "g", "rec"), True),
    "records declaring namespaces": ("<r><g>" + _many(
        lambda n: f'<rec xmlns:z="urn:z"><z:a z:k="{n}">{n}</z:a><b xmlns="urn:d">x</b></rec>')
        + "</g></r>", ("r", "g", "rec"), True),
    "the default namespace undeclared": ("<r><g>" + _many(lambda n: f'<rec><a xmlns="">{n}</a><b>x</b></rec>')
                                         + "</g></r>", ("r", "g", "rec"), True),
    "a parent undeclaring the default namespace": ('<r><g xmlns="">' + _many(_plain) + "</g></r>",
                                                   ("r", "g", "rec"), False),
    "the root as the parent, after a DOCTYPE, comments and PIs": (
        '<?xml version="1.0"?>\n<!-- c --><?pi x?>\n<!DOCTYPE r SYSTEM "r.dtd">\n<!-- d -->\n<r k="&#60;v&#62;">'
        "&lt;rec&gt;" + _many(lambda n: f"<rec><a>J&uuml;rgen {n}</a><b>&nbsp;</b></rec>") + "</r>", ("r", "rec"), True),
    "comments and PIs between and inside records": ("<r><g>" + _many(
        lambda n: _plain(n) + ("<!-- c -->" if n % 13 == 0 else "<?p i?>" if n % 17 == 0 else "")
        + (f"<rec><!-- in --><a>{n}</a><b>x</b></rec>" if n % 19 == 0 else "")) + "</g></r>", ("r", "g", "rec"), True),
    "the record's tag inside records": ("<r><g>" + _many(lambda n: f"<rec><a><rec>{n}</rec></a><b>x</b></rec>")
                                        + "</g></r>", ("r", "g", "rec"), True),
    "records inside records at //rec": ("<r><g>" + _many(
        lambda n: f"<rec><a><rec>{n}</rec><rec>{n}</rec> and </a><b>x</b></rec>" if n % 4 == 0 else _plain(n))
        + "</g></r>", ("r", ANY_DEPTH, "rec"), True),
    "records at /r/*": ("<r>" + _many(lambda n: f"<rec{n % 2}><a>{n}</a></rec{n % 2}>") + "</r>", ("r", ANY_ELEMENT),
                        False),
    "two shapes in turn": ("<r><g>" + _many(lambda n: _plain(n) if n % 2 else f"<rec><c>{n}</c></rec>") + "</g></r>",
                           ("r", "g", "rec"), False),
    "an empty leaf written both ways": ("<r><g>" + _many(
        lambda n: f"<rec><a>{n}</a>{'<x/>' if n % 3 else '<x></x>' if n % 2 else '<x> </x>'}</rec>") + "</g></r>",
        ("r", "g", "rec"), True),
    "blanks outside XML's around values": ("<r><g>" + _many(
        lambda n: f"<rec><a>\u00a0{n}\u2028</a><b>&#x85;x&#x3000;</b><c>\u2029</c></rec>") + "</g></r>",
        ("r", "g", "rec"), True),
    "non-ASCII and astral characters": ("<r><g>" + _many(
        lambda n: f"<rec k='\U0001f600'><a>Zo\u00eb {n} \u4e2d</a><b>&#x1F600;</b></rec>") + "</g></r>",
        ("r", "g", "rec"), True),
    "context between records and a trailer": ("<r><g><m>first</m>" + _many(
        lambda n: _plain(n) + (f"<m>from {n} on</m>" if n % 20 == 10 else "")) + "<t>trailer</t>tail text</g></r>",
        ("r", "g", "rec"), True),
    "more records than are held": ("<r><g>" + _many(_plain, 2000) + "</g></r>", ("r", "g", "rec"), True),
    "a parent with a long text": ("<r><g>" + "t" * 5000 + _many(_plain) + "</g></r>", ("r", "g", "rec"), False),
}


@pytest.mark.parametrize("case", ATTACKS)
def test_attacks_on_runs_give_the_rows_of_the_general_walk(tmp_path, case, serialisations):
    text, record, runs = ATTACKS[case]
    path = tmp_path / "attack.xml"
    path.write_text(text, encoding="utf-8")
    assert_same_as_the_general_walk(path, record, tmp_path)
    assert bool({"r", "g", "a"} & {tag for tag, _characters in serialisations}) == runs  # the records' parents
    assert_same_as_the_general_walk(path, record, tmp_path, child_tables={("a",): "t.a"})  # relational mode


def test_a_blank_inside_inline_markup_does_not_depend_on_where_a_read_ends(tmp_path, monkeypatch):
    size = _read_size(tmp_path, monkeypatch)
    head = "<r><g>" + "".join(f"<rec><m>text <i>{n}</i> beside</m></rec>" for n in range(40))
    before = "<rec><m>text <i>\n<"
    values = set()
    for shift in range(-3, 3):
        fill = size - len(head) - len("<!---->") - len(before) + shift
        text = head + "<!--" + "f" * fill + "-->" + before + "/i> beside</m></rec></g></r>"
        path = tmp_path / f"blank{shift}.xml"
        path.write_text(text, encoding="utf-8")
        rows = assert_same_as_the_general_walk(path, ("r", "g", "rec"), tmp_path)
        values.add(rows.padded()["t"][-1][-1])
    assert values == {"text \n beside"}
