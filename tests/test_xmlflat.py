import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lxml import etree

from ret_desktop.core.convert import ConvertOptions, convert_documents
from ret_desktop.core.importing import take_in
from ret_desktop.core.workbook import Workbook
from ret_desktop.core.xmlflat import XmlDocumentError, scan_structure
from ret_desktop.core.xmlflat.detect import choose_record_path

DATA = Path(__file__).parent / "data"


def convert(paths, tmp_path, **options):
    """Convert for real (intake, workbook, flattener); tables as lists of {column: value}."""
    report = take_in([Path(p) for p in paths], tmp_path / "extracted")
    with Workbook(tmp_path / "workbook.sqlite") as workbook:
        result = convert_documents(report, workbook, ConvertOptions(**options))
        tables = {}
        for table in result.tables:
            tables[table.name] = [dict(zip(table.columns, row))
                                  for batch in workbook.iter_batches(table.name) for row in batch]
    return result, tables


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


JOURNAL = """<?xml version="1.0" encoding="UTF-8"?>
<doi_batch xmlns="http://www.crossref.org/schema/4.4.2" xmlns:jats="http://www.ncbi.nlm.nih.gov/JATS1" version="4.4.2">
  <head><doi_batch_id>batch-7</doi_batch_id><timestamp>02</timestamp></head>
  <body>
    <journal>
      <journal_metadata><full_title>Journal One</full_title><issn media_type="print">1234-5678</issn>
        <issn media_type="electronic">8765-4321</issn></journal_metadata>
      {articles1}
      <journal_note>after the articles</journal_note>
    </journal>{second}
  </body>
</doi_batch>
"""
ARTICLE = """<journal_article publication_type="full_text" xml:lang="en">
        <titles><title>Title {n}</title></titles>
        <contributors>
          <person_name sequence="first"><given_name>A{n}</given_name><surname>S{n}</surname></person_name>
          <person_name sequence="additional"><given_name>B{n}</given_name><surname>T{n}</surname></person_name>
        </contributors>
        <jats:abstract><jats:p>We <jats:italic>really</jats:italic> mean <jats:xref rid="r{n}">it</jats:xref>.</jats:p></jats:abstract>
        <pages><first_page>00{n}</first_page><last_page/></pages>
      </journal_article>"""


SECOND_JOURNAL = """
    <journal>
      <journal_metadata><full_title>Journal Two</full_title></journal_metadata>
      {articles2}
    </journal>"""
ARTICLES = "/doi_batch/body/journal/journal_article"


def journal(articles1=3, articles2=2):
    """A Crossref-like deposit; with ``articles2`` a second journal follows the first."""
    second = SECOND_JOURNAL.format(articles2="".join(ARTICLE.format(n=n) for n in range(10, 10 + articles2)))
    return JOURNAL.format(
        articles1="".join(ARTICLE.format(n=n) for n in range(1, articles1 + 1)),
        second=second if articles2 else "",
    )


def test_library_rows_match_pandas_read_xml(tmp_path):
    pandas = pytest.importorskip("pandas")
    result, tables = convert([DATA / "library_1mb.xml"], tmp_path)
    (table,) = result.tables
    assert table.record_path == "/library/book"
    assert table.columns == ["_file", "_record", "title", "author", "genre", "year", "publisher"]
    rows = tables[table.name]
    frame = pandas.read_xml(DATA / "library_1mb.xml", dtype=str)
    assert len(rows) == len(frame) == 6401
    ours = [[row[c] for c in ("title", "author", "genre", "year", "publisher")] for row in rows]
    theirs = frame[["title", "author", "genre", "year", "publisher"]].fillna("").values.tolist()
    assert ours == theirs
    assert [row["_record"] for row in rows[:3]] == ["1", "2", "3"]


def test_pandas_agrees_on_attributes_and_sparse_fields(tmp_path):
    pandas = pytest.importorskip("pandas")
    doc = write(tmp_path, "items.xml", "<items>" + "".join(
        f'<item id="{i}" kind="k{i % 3}"><name>n{i}</name>{"<extra>e</extra>" if i % 2 else ""}<qty>0{i}</qty></item>'
        for i in range(20)) + "</items>")
    _, tables = convert([doc], tmp_path)
    rows = tables["ITEMS"]
    frame = pandas.read_xml(doc, dtype=str).fillna("")
    assert [[r["@id"], r["@kind"], r["name"], r.get("extra", ""), r["qty"]] for r in rows] == \
        frame[["id", "kind", "name", "extra", "qty"]].values.tolist()


def test_record_detection(tmp_path):
    assert choose_record_path([scan_structure(DATA / "crossref" / "book_4.4.2.xml")]) is None
    one_journal = choose_record_path([scan_structure(write(tmp_path, "j.xml", journal(3, 0)))])
    assert [etree.QName(t).localname for t in one_journal] == ["doi_batch", "body", "journal", "journal_article"]
    two_journals = choose_record_path([scan_structure(write(tmp_path, "k.xml", journal(3, 2)))])
    assert [etree.QName(t).localname for t in two_journals] == ["doi_batch", "body", "journal"]  # the shallowest


def test_context_is_carried_onto_every_row_including_trailers(tmp_path):
    result, tables = convert([write(tmp_path, "JOURNAL_a.xml", journal())], tmp_path, record_path=ARTICLES)
    (table,) = result.tables
    assert table.record_path == ARTICLES
    rows = tables["JOURNAL_A"]
    assert len(rows) == 5
    assert table.columns[:2] == ["_file", "_record"]
    assert all(r["/doi_batch/@version"] == "4.4.2" and r["/doi_batch/head/doi_batch_id"] == "batch-7" for r in rows)
    assert all(r["/doi_batch/head/timestamp"] == "02" for r in rows)
    titles = [r["/doi_batch/body/journal/journal_metadata/full_title"] for r in rows]
    assert titles == ["Journal One"] * 3 + ["Journal Two"] * 2
    assert [r["/doi_batch/body/journal/journal_note"] for r in rows] == ["after the articles"] * 3 + [""] * 2
    assert rows[0]["/doi_batch/body/journal/journal_metadata/issn[2]"] == "8765-4321"
    assert rows[0]["/doi_batch/body/journal/journal_metadata/issn[2]/@media_type"] == "electronic"
    assert [r["_record"] for r in rows] == ["1", "2", "3", "4", "5"]


def test_columns_repeats_mixed_content_prefixes_and_text(tmp_path):
    _, tables = convert([write(tmp_path, "JOURNAL_a.xml", journal(1, 0))], tmp_path, record_path=ARTICLES)
    (row,) = tables["JOURNAL_A"]
    assert row["@publication_type"] == "full_text" and row["@xml:lang"] == "en"
    assert row["titles/title"] == "Title 1"
    assert row["contributors/person_name/surname"] == "S1"
    assert row["contributors/person_name[2]/surname"] == "T1"
    assert row["contributors/person_name[2]/@sequence"] == "additional"
    assert row["jats:abstract/jats:p"] == "We really mean it."
    assert row["jats:abstract/jats:p/jats:xref/@rid"] == "r1"
    assert row["pages/first_page"] == "001"  # text stays text
    assert row["pages/last_page"] == ""  # empty elements still make their column


def test_first_occurrence_sits_in_the_same_column_in_every_row(tmp_path):
    doc = write(tmp_path, "LIB.xml", "<lib>" + "".join(
        "<b>" + "".join(f"<a>x{i}{j}</a>" for j in range(i)) + "</b>" for i in range(1, 4)) + "</lib>")
    result, tables = convert([doc], tmp_path)
    assert result.tables[0].columns == ["_file", "_record", "a", "a[2]", "a[3]"]
    assert [r["a"] for r in tables["LIB"]] == ["x10", "x20", "x30"]


def all_values(path):
    """Every non-empty text and attribute value of a document, by a plain full parse."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    values = []
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        values += [v.strip() for v in element.attrib.values() if v.strip()]
        for text in (element.text, element.tail if element.getparent() is not None else None):
            if text and text.strip():
                values.append(text.strip())
    return values


@pytest.mark.parametrize("mode", ["wide", "relational"])
def test_nothing_is_lost(tmp_path, mode):
    inputs = sorted((DATA / "crossref").glob("*.xml")) + [write(tmp_path, "JOURNAL_a.xml", journal())]
    result, tables = convert(inputs, tmp_path, mode=mode)
    assert all(f.status == "ok" for f in result.files)
    cells_by_file: dict[str, list[str]] = {}
    for rows in tables.values():
        for row in rows:
            cells_by_file.setdefault(row["_file"], []).extend(v for k, v in row.items() if not k.startswith("_"))
    for path in inputs:
        cells = "\n".join(cells_by_file[path.name])
        missing = [v for v in all_values(path) if v not in cells]
        assert missing == [], path.name


def test_relational_mode_makes_child_tables_with_keys(tmp_path):
    result, tables = convert([write(tmp_path, "JOURNAL_a.xml", journal())], tmp_path, mode="relational",
                             record_path=ARTICLES)
    names = {t.name: t for t in result.tables}
    child = names["JOURNAL_A.contributors.person_name"]
    assert child.parent == "JOURNAL_A" and child.columns[:3] == ["_file", "_record", "_item"]
    people = tables["JOURNAL_A.contributors.person_name"]
    assert len(people) == 10
    assert [(p["_record"], p["_item"], p["surname"]) for p in people[:2]] == [("1", "1", "S1"), ("1", "2", "T1")]
    main = tables["JOURNAL_A"]
    assert not any(c.startswith("contributors/") for c in names["JOURNAL_A"].columns)
    assert main[0]["titles/title"] == "Title 1"


def test_record_path_override_and_not_found(tmp_path):
    doc = write(tmp_path, "JOURNAL_a.xml", journal())
    result, tables = convert([doc], tmp_path, record_path="/doi_batch/body/journal")
    assert result.tables[0].record_path == "/doi_batch/body/journal" and len(tables["JOURNAL_A"]) == 2
    result, _ = convert([doc], tmp_path / "b", record_path="/nope/none")
    assert result.files[0].status == "failed" and "record path /nope/none not found" in result.files[0].error


def test_malformed_documents_fail_with_line_and_column_and_the_others_go_on(tmp_path):
    good = write(tmp_path, "DOC_1.xml", "<r><i><v>1</v></i><i><v>2</v></i></r>")
    truncated = write(tmp_path, "DOC_2.xml", "<r><i><v>1</v></i>\n<i><v>2</v>")
    bad_utf8 = write(tmp_path, "DOC_3.xml", b"<r><i><v>caf\xe9</v></i><i><v>x</v></i></r>")
    late = write(tmp_path, "DOC_4.xml", "<r>" + "<i><v>ok</v></i>" * 50000 + "<i><v>broken</i></r>")
    result, tables = convert([good, truncated, bad_utf8, late], tmp_path)
    outcomes = {f.path: f for f in result.files}
    assert outcomes["DOC_1.xml"].status == "ok" and outcomes["DOC_1.xml"].records == 2
    for name in ("DOC_2.xml", "DOC_3.xml", "DOC_4.xml"):
        assert outcomes[name].status == "failed", name
        assert "line " in outcomes[name].error and "column " in outcomes[name].error
    assert [r["_file"] for r in tables["DOC"]] == ["DOC_1.xml", "DOC_1.xml"]  # no rows from the failed ones


@pytest.mark.parametrize("encoding, declaration", [
    ("iso-8859-1", '<?xml version="1.0" encoding="ISO-8859-1"?>'),
    ("utf-16", '<?xml version="1.0" encoding="UTF-16"?>'),
    ("utf-8-sig", '<?xml version="1.0" encoding="UTF-8"?>'),
])
def test_encodings(tmp_path, encoding, declaration):
    doc = write(tmp_path, "enc.xml", declaration + "<r><i><v>Café Åsa</v></i><i><v>naïve</v></i></r>", encoding)
    assert doc.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff") if encoding == "utf-16" else True
    _, tables = convert([doc], tmp_path)
    assert [r["v"] for r in tables["ENC"]] == ["Café Åsa", "naïve"]


def test_external_entity_is_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = write(tmp_path, "x.xml", f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
                                  "<r><i><v>&x;</v></i><i><v>2</v></i></r>")
    result, tables = convert([doc], tmp_path)
    assert result.files[0].status == "failed" and "declares entities" in result.files[0].error
    assert tables == {}
    with pytest.raises(XmlDocumentError):
        scan_structure(doc)


# The child's own peak memory in MB. Not getrusage's ru_maxrss: subprocess starts children with vfork,
# and Linux carries the parent's high-water mark (a test run's, hundreds of MB) across the exec.
PEAK_MB = ("next(int(line.split()[1]) // 1024 for line in open('/proc/self/status') "
           "if line.startswith('VmHWM:'))")


def test_entity_expansion_bomb_is_refused_quickly_and_small(tmp_path):
    entities = '<!ENTITY a0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 12))
    doc = write(tmp_path, "bomb.xml", f'<?xml version="1.0"?><!DOCTYPE r [{entities}]><r><v>&a11;</v></r>')
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from ret_desktop.core.convert import convert_to_folder
        start = time.monotonic()
        result = convert_to_folder([Path({str(doc)!r})], Path({str(tmp_path / "out")!r}))
        print(result.files[0].status, round(time.monotonic() - start, 2), {PEAK_MB}, result.files[0].error)
    """)
    started = time.monotonic()
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": ":".join(sys.path)}).stdout.split(maxsplit=3)
    assert output[0] == "failed"
    assert "declares entities" in output[3] or "amplification" in output[3]  # ours, or libxml2's own guard
    assert float(output[1]) < 5 and time.monotonic() - started < 30  # generous: a noisy machine, not a benchmark
    assert int(output[2]) < 300  # MB of peak memory for the whole process


def test_memory_is_bounded_by_the_record_not_the_file(tmp_path):
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from ret_desktop.core.convert import convert_to_folder
        path = Path(sys.argv[1])
        with open(path, "w") as f:
            f.write("<library>")
            for i in range(int(sys.argv[2])):
                f.write(f"<book id='{i}'><title>Title {i} " + "x" * 150 + "</title><author>A</author><year>1999</year></book>")
            f.write("</library>")
        result = convert_to_folder([path], path.parent / "out")
        assert result.tables[0].rows == int(sys.argv[2])
        print(PEAK_MB)
    """).replace("PEAK_MB", PEAK_MB)

    def peak(records):
        folder = tmp_path / str(records)
        folder.mkdir()
        out = subprocess.run([sys.executable, "-c", code, str(folder / "LIB.xml"), str(records)], check=True,
                             capture_output=True, text=True, env={"PYTHONPATH": ":".join(sys.path)})
        return int(out.stdout)

    small, large = peak(20_000), peak(160_000)  # ~4 MB and ~35 MB of XML
    assert 20 < small and large - small < 25, (small, large)  # (a real reading: a Python with lxml is 20+ MB)
