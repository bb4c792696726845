"""Seeded differential fuzz of the known-shape path: documents of a few record shapes that vary in
small ways (escapes, character references, CDATA, blanks, attribute quoting and normalisation,
namespaces, comments late on, encodings); every one must give the general walk's columns, rows,
backfills and CSV bytes."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from ret_desktop.core.xmlflat.flatten import flatten_document
from ret_desktop.core.xmlflat.names import ANY_DEPTH, ANY_ELEMENT
from test_flatten_fastpath import FlattenedRows, assert_same_as_the_general_walk

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


def _record(rng: random.Random, number: int, late: bool, on_record: bool = False) -> str:
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
    redeclare = ' xmlns:p="urn:p"' if rng.randrange(10) == 0 or on_record else ""
    return f"<rec{attributes}{redeclare}>{spacing}{spacing.join(parts)}{spacing}</rec>"


ENCODINGS = ["utf-8", "utf-16", "iso-8859-1"]


def fuzz_document(path: Path, seed: int, records: int, declared_on_records: bool = False) -> Path:
    """``declared_on_records``: ``p`` is declared on each record, not the root (then runs of a
    shape are serialised with their parent)."""
    rng = random.Random(seed)
    encoding = ENCODINGS[seed % len(ENCODINGS)]
    declaration = "" if declared_on_records else ' xmlns:p="urn:p"'
    out = [f'<?xml version="1.0" encoding="{encoding.upper()}"?>',
           f'<root{declaration} version="1"><head><id>batch</id></head>']
    groups = rng.randint(1, 3)
    for group in range(groups):
        extra = f' extra="{rng.choice(WORDS)}"' if group and rng.randrange(2) else ""  # new carried column
        out.append(f'<group name="g{group}"{extra}><meta>{_text(rng)}</meta>')
        for number in range(records // groups):
            if rng.randrange(150) == 0:  # context between records of the same group, carried from then on
                tag = f"between{rng.randrange(2)}"
                out.append(f"<{tag}>{_text(rng)}</{tag}>")
            out.append(_record(rng, number, late=number > records // 2, on_record=declared_on_records))
        out.append("</group>")
    out.append("<trailer>after</trailer></root>")
    text = "\n".join(out)
    if encoding == "iso-8859-1":  # what Latin-1 cannot hold, as character references
        text = text.encode("iso-8859-1", "xmlcharrefreplace").decode("iso-8859-1")
    path.write_bytes(text.encode(encoding))
    return path


def _flatten(path: Path, known_shapes: bool, child_tables=None, record=("root", "group", "rec")) -> FlattenedRows:
    rows = FlattenedRows()
    flatten_document(path, record, rows, file_label="doc.xml", table="t", child_tables=child_tables,
                     known_shapes=known_shapes)
    return rows


def _assert_same(path: Path, folder: Path, child_tables=None, record=("root", "group", "rec")) -> None:
    rows = assert_same_as_the_general_walk(path, record, folder, child_tables)
    assert isinstance(rows, FlattenedRows), rows  # these documents are well-formed


@pytest.mark.parametrize("declared_on_records", [False, True])
@pytest.mark.parametrize("seed", range(24))
def test_fuzzed_documents_give_the_rows_of_the_general_walk(tmp_path, seed, declared_on_records):
    records = [40, 300, 700][seed % 3]  # below and across the 256-miss rule
    path = fuzz_document(tmp_path / f"fuzz{seed}.xml", seed, records, declared_on_records)
    _assert_same(path, tmp_path)


@pytest.mark.parametrize("seed", range(6))
def test_fuzzed_documents_in_relational_mode(tmp_path, seed):
    path = fuzz_document(tmp_path / f"fuzz{seed}.xml", seed, 300)
    _assert_same(path, tmp_path, child_tables={("person",): "t.person"})


def test_the_shape_cache_across_documents_of_other_prefixes_and_context(tmp_path):
    """Patterns are kept for the process's other documents: one learnt where the namespace is
    ``p`` (and the records carry one context) must not give another document's rows its columns."""
    documents = []
    for number, (prefix, uri, context) in enumerate([("p", "urn:p", "<meta>one</meta>"),
                                                     ("q", "urn:p", '<meta kind="k">two</meta><more>x</more>'),
                                                     ("p", "urn:other", ""), ("p", "urn:p", "<meta/>")]):
        records = "".join(f'<rec id="{n}"><{prefix}:v {prefix}:a="{n}">{n} &amp; {number}</{prefix}:v>'
                          f"<w>{' ' if n % 7 else ''}{n}</w></rec>" for n in range(300))
        path = tmp_path / f"doc{number}.xml"
        path.write_text(f'<root xmlns:{prefix}="{uri}"><group>{context}{records}</group></root>', encoding="utf-8")
        documents.append(path)
    for path in documents + documents[::-1]:
        _assert_same(path, tmp_path)


def test_two_threads_converting_documents_of_the_same_shapes_at_once(tmp_path):
    paths = [fuzz_document(tmp_path / f"t{seed}.xml", seed, 700) for seed in (2, 5, 8, 11)]
    references = [_flatten(path, False) for path in paths]
    results: dict[tuple[int, int, int], FlattenedRows] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def convert(worker: int) -> None:
        try:
            start.wait()
            for round_ in range(2):
                for number, path in enumerate(paths if worker else paths[::-1]):
                    results[(worker, round_, number)] = _flatten(path, True)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=convert, args=(worker,)) for worker in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for (worker, _round, number), rows in results.items():
        index = number if worker else len(paths) - 1 - number
        reference = references[index]
        assert (rows.columns, rows.padded(), rows.backfills) == (
            reference.columns, reference.padded(), reference.backfills)


def _repeat(record, count: int = 300) -> str:
    return "".join(record(n) for n in range(count))


EDGE_CASES = {
    "no-break space between children": ("<root><g>" + _repeat(
        lambda n: f"<rec><a>{n}</a>{chr(160) if n % 3 else 'text' if n % 10 == 0 else ''}<b>x</b></rec>") + "</g></root>", ("root", "g", "rec")),
    "blanks kept by xml:space": ("<root><g>" + _repeat(
        lambda n: f"<rec xml:space='preserve'>{'  ' if n % 2 else ''}<a>{n}</a>{' ' if n % 3 else ' y ' if n % 9 == 0 else ''}"
        "<b> x </b></rec>")
        + "</g></root>", ("root", "g", "rec")),
    "records that are leaves": ("<root>" + _repeat(lambda n: f"<rec a='{n}'>{' t ' if n % 2 else ''}</rec>") + "</root>",
                                ("root", "rec")),
    "any element": ("<root>" + _repeat(lambda n: f"<r{n % 3}><a>{n}</a></r{n % 3}>") + "</root>", ("root", "*")),
    "any depth": ("<root>" + _repeat(lambda n: f"<w><rec><a>{n}</a></rec></w>" if n % 2 else f"<rec><a>{n}</a></rec>")
                  + "</root>", ("root", "**", "rec")),
    "same name nested": ("<root><g>" + _repeat(lambda n: f"<rec><a><a>{n}</a></a><a/></rec>") + "</g></root>",
                         ("root", "g", "rec")),
    "named references with a DOCTYPE": ("<!DOCTYPE root SYSTEM 'x.dtd'><root><g>" + _repeat(
        lambda n: f"<rec><a>{n} &uuml; &foo; &amp;</a><b k='&eacute;&bar;'/></rec>") + "</g></root>", ("root", "g", "rec")),
    "names like provenance columns": ("<root><g>" + _repeat(
        lambda n: f"<rec id='{n}'><id>{n}</id><_file>z</_file><_record>q</_record></rec>") + "</g></root>",
        ("root", "g", "rec")),
    "two prefixes of one namespace": ("<root xmlns:p='urn:p' xmlns:q='urn:p'><g>" + _repeat(
        lambda n: f"<rec p:a='{n}' {'q' if n % 2 else 'p'}:b='x'/>") + "</g></root>", ("root", "g", "rec")),
    "prefix rebound per group": ("<root>" + "".join(
        f"<g xmlns:p='urn:{k}'>" + _repeat(lambda n: f"<rec><p:a>{n}</p:a></rec>", 100) + "</g>" for k in (1, 2, 1))
        + "</root>", ("root", "g", "rec")),
    "text beside the records": ("<root><g>context" + _repeat(
        lambda n: f"<rec><a>{n}</a></rec>" + ("more" if n == 100 else "") + (f"tail{n}" if n % 50 == 0 else ""))
        + "trailer</g></root>", ("root", "g", "rec")),
    "blanks outside XML's": ("<root><g>" + _repeat(
        lambda n: f"<rec><a>{n}&#x85;</a><b>&#x2028;{n}&#xA0;</b></rec>") + "</g></root>", ("root", "g", "rec")),
    "blanks inside tags": ("<root><g>" + _repeat(
        lambda n: f"<rec  a = '1'\n b='{n}' ><x   /><y\n></y ></rec >") + "</g></root>", ("root", "g", "rec")),
    "many attributes": ("<root><g>" + _repeat(
        lambda n: "<rec " + " ".join(f"a{k}='{n}{k}'" for k in range(300)) + "><x>1</x></rec>", 40) + "</g></root>",
        ("root", "g", "rec")),
    "more shapes alike than are kept": ("<root><g>" + _repeat(
        lambda n: f"<rec><t{n % 12}>{n}</t{n % 12}></rec>", 600) + "</g></root>", ("root", "g", "rec")),
    "a quote in text": ("<root><g>" + _repeat(lambda n: f"<rec><a>5\" long {n}</a><b k='v{n}'/></rec>") + "</g></root>",
                        ("root", "g", "rec")),
    "namespaces declared on leaves": ("<root><g>" + _repeat(
        lambda n: f"<rec><a xmlns='urn:{n % 2}'>{n}</a><b xmlns:z='urn:z' z:k='{n}'/></rec>") + "</g></root>",
        ("root", "g", "rec")),
}


@pytest.mark.parametrize("case", EDGE_CASES)
def test_edge_cases_give_the_rows_of_the_general_walk(tmp_path, case):
    text, record = EDGE_CASES[case]
    record = tuple({"*": ANY_ELEMENT, "**": ANY_DEPTH}.get(tag, tag) for tag in record)
    path = tmp_path / "edge.xml"
    path.write_text(text, encoding="utf-8")
    _assert_same(path, tmp_path, record=record)
    _assert_same(path, tmp_path, child_tables={("a",): "t.a"}, record=record)
