"""No silent loss and no misplaced context (issue 11, defects 1-6), and linear work on an element
with very many attributes (issue 10 §2)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_xmlflat import convert, write

from ret_desktop.core.convert import ConvertOptions, convert_to_folder, describe_groups
from ret_desktop.core.importing import take_in
from ret_desktop.core.xmlflat import flatten_document, scan_structure

EXTERNAL_DTD = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE dblp SYSTEM "http://127.0.0.1:9/dblp.dtd">\n'


def rows_of(tables, name=None):
    return tables[name] if name else next(iter(tables.values()))


# 1. Text after a comment, processing instruction or entity reference

def test_text_after_comments_and_processing_instructions_is_kept_everywhere(tmp_path):
    document = """<lib><head>batch<!-- c -->-7<?pi x?>!</head>
      <book><title>foo<!-- note -->bar</title><note>a<?pi x?>b</note>
        <p>We <i>really</i><!-- c --> mean <b>it</b>.</p><tag>x<!-- c -->y</tag><tag>z</tag></book>
      <book><title>two</title><tag>t</tag></book></lib>"""
    path = write(tmp_path, "lib.xml", document)
    result, tables = convert([path], tmp_path / "wide")
    first = rows_of(tables)[0]
    assert (first["title"], first["note"], first["p"], first["tag"]) == ("foobar", "ab", "We really mean it.", "xy")
    assert first["/lib/head"] == "batch-7!"  # carried context
    result, tables = convert([path], tmp_path / "relational", mode="relational")
    assert [row["text()"] for row in tables["LIB.tag"]] == ["xy", "z", "t"]


# 2. Named references declared only in an external DTD

def test_standard_named_references_become_their_characters_in_text_and_attributes(tmp_path):
    document = EXTERNAL_DTD + """<dblp><article key="M&uuml;ller">
      <author>J&uuml;rgen M&uuml;ller</author><title>Caf&eacute;&nbsp;&amp; more &lt;b&gt; &#233;</title>
      <raw><![CDATA[&uuml; stays as written]]></raw></article>
      <article key="b"><author>Ana</author><title>x</title><raw/></article></dblp>"""
    result, tables = convert([write(tmp_path, "dblp.xml", document)], tmp_path)
    assert result.all_ok and result.files[0].warnings == []
    row = rows_of(tables)[0]
    assert row["@key"] == "Müller"
    assert row["author"] == "Jürgen Müller"
    assert row["title"] == "Caf\u00e9\u00a0& more <b> \u00e9"
    assert row["raw"] == "&uuml; stays as written"


def test_unknown_named_reference_is_kept_literally_with_a_warning_in_the_manifest(tmp_path):
    document = EXTERNAL_DTD + "<dblp><a><t>x &notaname; y &uuml;</t></a><a><t>z</t></a></dblp>"
    path = write(tmp_path, "dblp.xml", document)
    result = convert_to_folder([path], tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    [outcome] = manifest["files"]
    assert outcome["status"] == "ok"
    assert outcome["warnings"] == ["unknown named references kept as written: &notaname;"]
    csv_text = (tmp_path / "out" / f"{result.tables[0].name}.csv").read_text(encoding="utf-8")
    assert "x &notaname; y ü" in csv_text


def test_references_split_across_read_chunks_are_all_resolved(tmp_path):
    articles = "".join(f"<a><t>{'x' * (n % 97)}M&uuml;ller&eacute;{n}</t></a>" for n in range(6000))
    literal = "&uuml; " * 30_000  # a CDATA section across several chunks stays as written
    path = write(tmp_path, "big.xml", EXTERNAL_DTD + f"<dblp>{articles}<a><t><![CDATA[{literal}]]></t></a></dblp>")
    assert path.stat().st_size > 6 * 64 * 1024
    result, tables = convert([path], tmp_path)
    values = [row["t"] for row in rows_of(tables)]
    assert len(values) == 6001
    assert all(value.endswith(f"Mülleré{n}") for n, value in enumerate(values[:-1]))
    assert values[-1] == literal.strip()


def test_entities_declared_in_the_document_stay_refused(tmp_path):
    document = '<!DOCTYPE r [<!ENTITY uuml "u">]><r><a>J&uuml;rgen</a><a>x</a></r>'
    result, _tables = convert([write(tmp_path, "r.xml", document)], tmp_path)
    assert result.files[0].status == "failed"
    assert "declares entities" in result.files[0].error


def test_undeclared_reference_without_a_doctype_is_still_malformed(tmp_path):
    result, _tables = convert([write(tmp_path, "r.xml", "<r><a>J&uuml;rgen</a><a>x</a></r>")], tmp_path)
    assert result.files[0].status == "failed"


# 3. Carried context only from the record's own branches

def test_a_later_branch_without_records_does_not_overwrite_carried_context(tmp_path):
    document = """<batch><body>
      <journal><title>Journal One</title><article><t>1</t></article><article><t>2</t></article></journal>
      <journal><title>Journal Two (no articles)</title></journal>
      <journal><title>Journal Three (no articles)</title><issn>9</issn></journal>
    </body><trailer>end</trailer></batch>"""
    result, tables = convert([write(tmp_path, "b.xml", document)], tmp_path,
                             record_path="/batch/body/journal/article")
    rows = rows_of(tables)
    assert [row["/batch/body/journal/title"] for row in rows] == ["Journal One", "Journal One"]
    assert [row["/batch/trailer"] for row in rows] == ["end", "end"]
    assert not any(column.startswith("/batch/body/journal/issn") for column in rows[0])


# 4. Relational mode with a whole-document record

def test_relational_whole_document_record_still_makes_child_tables(tmp_path):
    document = """<order><id>O-1</id><customer>ACME Corporation, Long Street 1, Springfield, Nowhere</customer>
      <line><sku>a</sku><qty>1</qty></line><line><sku>b</sku><qty>2</qty></line>
      <party role="buyer"><name>B</name></party><party role="seller"><name>S</name></party></order>"""
    path = write(tmp_path, "order.xml", document)
    result, tables = convert([path], tmp_path, mode="relational")
    assert result.tables[0].record_path == "/order"
    assert sorted(tables) == ["ORDER", "ORDER.line", "ORDER.party"]
    assert [row["sku"] for row in tables["ORDER.line"]] == ["a", "b"]
    assert [row["@role"] for row in tables["ORDER.party"]] == ["buyer", "seller"]
    assert "line/sku" not in tables["ORDER"][0]


# 5. Stray text beside structure

def test_stray_text_beside_structured_children_keeps_their_columns(tmp_path):
    document = """<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"
      xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
      <ListRecords><record><header><identifier>1</identifier></header><metadata>
      <oai_dc:dc>(?s)<dc:title>Sample Title</dc:title><dc:identifier>http://example.org/1</dc:identifier>
      <dc:creator>John Doe</dc:creator></oai_dc:dc></metadata></record>
      <record><header><identifier>2</identifier></header><metadata><oai_dc:dc><dc:title>T</dc:title></oai_dc:dc>
      </metadata></record></ListRecords></OAI-PMH>"""
    result, tables = convert([write(tmp_path, "oai.xml", document)], tmp_path)
    row = rows_of(tables)[0]
    assert row["metadata/oai_dc:dc"] == "(?s)"
    assert row["metadata/oai_dc:dc/dc:title"] == "Sample Title"
    assert row["metadata/oai_dc:dc/dc:creator"] == "John Doe"


def test_inline_markup_still_joins_with_the_documents_spaces(tmp_path):
    document = """<r><a><p>We <i>really</i> mean <b>it</b>.</p><t>The <i>E. coli</i> genome</t></a>
      <a><p>x</p><t>y</t></a></r>"""
    result, tables = convert([write(tmp_path, "r.xml", document)], tmp_path)
    row = rows_of(tables)[0]
    assert (row["p"], row["t"]) == ("We really mean it.", "The E. coli genome")


# 6. Names that collide

def test_the_same_prefix_in_two_namespaces_makes_two_columns(tmp_path):
    document = """<r><rec><a:x xmlns:a="urn:one">1</a:x><a:x xmlns:a="urn:two">2</a:x><x>3</x><x xmlns="urn:q">4</x>
      <e xmlns:a="urn:one" a:k="5"/><f xmlns:a="urn:two" a:k="6"/></rec><rec><x>7</x></rec></r>"""
    result, tables = convert([write(tmp_path, "r.xml", document)], tmp_path)
    row = rows_of(tables)[0]
    values = {column: row[column] for column in ("a:x", "a:x~2", "x", "x~2")}
    assert values == {"a:x": "1", "a:x~2": "2", "x": "3", "x~2": "4"}
    assert (row["e/@a:k"], row["f/@a:k~2"]) == ("5", "6")


def test_child_tables_of_a_path_and_of_a_dotted_name_stay_apart(tmp_path):
    document = """<r><rec><a><b>1</b><b>2</b></a><a.b>3</a.b><a.b>4</a.b></rec>
      <rec><a><b>5</b></a></rec></r>"""
    result, tables = convert([write(tmp_path, "r.xml", document)], tmp_path, mode="relational")
    children = {t.name: t.record_path for t in result.tables if t.parent}
    assert len(children) == 2
    assert sorted(children.values()) == ["/r/rec/a.b", "/r/rec/a/b"]
    values = {name: [row["text()"] for row in tables[name]] for name in children}
    assert sorted(values.values()) == [["1", "2", "5"], ["3", "4"]]


# Wide rows that would be very wide

def test_describe_groups_says_when_the_detected_record_makes_very_wide_rows(tmp_path):
    from test_record_shapes import crossref

    path = write(tmp_path, "deposit.xml", crossref(1, 150))
    report = take_in([path], tmp_path / "extracted")
    [group] = describe_groups(report).values()
    assert group.detected == "/doi_batch/body/journal/journal_article"
    assert group.wide_columns_estimate > 300
    assert "relational mode" in group.warning
    (tmp_path / "narrow").mkdir()
    narrow = write(tmp_path / "narrow", "deposit.xml", crossref(3, 2))
    [group] = describe_groups(take_in([narrow], tmp_path / "extracted2")).values()
    assert group.warning is None and group.wide_columns_estimate < 20


# Quadratic work (issue 10 §2)

class _Rows:
    def __init__(self) -> None:
        self.columns: list[str] = []
        self.rows: list = []

    def add_columns(self, table, names):
        self.columns += names

    def add_row(self, table, values):
        self.rows.append(list(zip(self.columns, values)))
        return len(self.rows) - 1

    def backfill(self, table, first, last, pairs):
        pass


def _seconds_for_attributes(tmp_path: Path, count: int) -> float:
    path = tmp_path / f"attributes{count}.xml"
    path.write_text("<r><e " + " ".join(f'a{i}="v{i}"' for i in range(count)) + "/></r>")
    started = time.perf_counter()
    structure = scan_structure(path)
    rows = _Rows()
    flatten_document(path, None, rows, file_label="f", table="t")
    elapsed = time.perf_counter() - started
    assert structure.paths[structure.root].content > 0
    assert len(rows.rows[0]) == count + 3 and rows.rows[0][-2] == (f"e/@a{count - 1}", f"v{count - 1}")
    return elapsed


def test_one_element_with_very_many_attributes_takes_linear_time(tmp_path):
    # The best of three runs each, so that a busy machine does not decide.
    small = min(_seconds_for_attributes(tmp_path, 5_000) for _ in range(3))
    large = min(_seconds_for_attributes(tmp_path, 100_000) for _ in range(3))
    # 20 times the attributes: linear is about 20 times the time, quadratic (before) about 400 times.
    assert large < 100 * small, (small, large)


@pytest.mark.parametrize("count", [300])
def test_attributes_beyond_the_fast_path_keep_their_order_and_namespaces(tmp_path, count):
    attributes = " ".join(f'q:a{i}="{i}"' if i % 2 else f'a{i}="{i}"' for i in range(count))
    path = write(tmp_path, "r.xml", f'<r xmlns:q="urn:q"><e {attributes}/><e a0="x"/></r>')
    result, tables = convert([path], tmp_path)
    row = rows_of(tables)[0]
    assert [column for column in row if column.startswith("@")][:3] == ["@a0", "@q:a1", "@a2"]
    assert row[f"@q:a{count - 1}"] == str(count - 1)


def test_in_utf16_references_left_in_the_tree_become_their_characters(tmp_path):
    document = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE r SYSTEM "r.dtd">\n' \
               "<r><a><n>J&uuml;rgen<!-- c --> M&uuml;ller</n></a><a><n>x</n></a></r>"
    result, tables = convert([write(tmp_path, "r.xml", document, "utf-16")], tmp_path)
    assert result.all_ok
    assert rows_of(tables)[0]["n"] == "Jürgen Müller"


class _Trickle:
    """A binary reader that returns the bytes in small pieces of varying size, as a pipe might."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._sizes = sizes
        self._position = 0
        self._turn = 0

    def read(self, size: int = -1) -> bytes:
        step = self._sizes[self._turn % len(self._sizes)]
        self._turn += 1
        piece = self._data[self._position:self._position + step]
        self._position += len(piece)
        return piece


@pytest.mark.parametrize("sizes", [[1], [2, 3, 5, 7], [9, 1, 64, 13], [100]])
def test_reference_rewriting_is_the_same_whatever_the_read_sizes(sizes):
    from ret_desktop.core.xmlflat.entities import EntityFilter

    piece = (b"<a k='&eacute;'>M&uuml;ller &amp; &lt;&#233;&#x41; &nosuch; "
             b"<![CDATA[&uuml; ]] ]]> &nbsp;<!-- &uuml; -->&fjlig;</a>\n")
    data = piece * 40
    whole = EntityFilter(_Trickle(data, [len(data) + 1]))
    expected = b"".join(iter(lambda: whole.read(65536), b""))
    trickled = EntityFilter(_Trickle(data, sizes))
    got = b"".join(iter(lambda: trickled.read(65536), b""))
    assert got == expected
    assert expected.count(b"<![CDATA[&uuml; ]] ]]>") == 40  # untouched inside CDATA
    assert expected.count(b"M&#xFC;ller &amp; &lt;&#233;&#x41; &amp;nosuch;") == 40
    assert expected.count(b"&#x66;&#x6A;") == 40  # &fjlig; is two characters
    assert trickled.unknown == ["nosuch"]


def test_convert_says_when_a_wide_table_is_very_wide(tmp_path):
    import os
    import subprocess
    import sys

    from test_record_shapes import crossref

    path = write(tmp_path, "deposit.xml", crossref(1, 150))

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "ret_desktop", "convert", str(path), *extra], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})

    wide = run("--out", str(tmp_path / "wide"))
    assert wide.returncode == 0, wide.stderr
    assert "note: DEPOSIT has 60" in wide.stderr and "--mode relational" in wide.stderr
    relational = run("--out", str(tmp_path / "relational"), "--mode", "relational")
    assert relational.returncode == 0 and "note:" not in relational.stderr
