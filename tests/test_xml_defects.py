"""Defects an independent attacker found in XML flattening (after issues 10 and 11): text lost on
undeclared references, provenance columns overwritten, relational conversion quadratic in the child
tables, a record path with two wildcards crashing the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from test_fidelity import _Trickle
from test_xmlflat import convert, write

from ret_desktop.core.convert import ConvertOptions, convert_documents
from ret_desktop.core.importing import take_in
from ret_desktop.core.profiles import ConversionChoice, ConversionProfile
from ret_desktop.core.xmlflat.detect import record_path_problem
from ret_desktop.core.workbook import Workbook
from ret_desktop.core.xmlflat.entities import EntityFilter

DOCTYPE = '<!DOCTYPE r SYSTEM "r.dtd">'
LONG_NAME = "o" * 300  # longer than any chunk hold-back of old


def _rows_and_warnings(tmp_path, document: bytes):
    result, tables = convert([write(tmp_path, "r.xml", document)], tmp_path)
    [outcome] = result.files
    assert outcome.status == "ok", outcome.error
    return next(iter(tables.values())), outcome.warnings


def _items(attribute: str, prolog: str = DOCTYPE, before: str = "") -> str:
    return f'{prolog}<r>{before}<i a="{attribute}"><t>1</t></i><i a="x"><t>2</t></i></r>'


@pytest.mark.parametrize("encoding, declaration", [
    ("utf-16", '<?xml version="1.0" encoding="UTF-16"?>'),
    ("utf-16-be", '<?xml version="1.0" encoding="UTF-16BE"?>'),  # no byte-order mark
])
def test_references_in_attributes_are_rewritten_in_any_encoding(tmp_path, encoding, declaration):
    document = _items("K&ouml;ln &nosuch;", declaration + DOCTYPE).encode(encoding)
    rows, warnings = _rows_and_warnings(tmp_path, document)
    assert rows[0]["@a"] == "Köln &nosuch;"
    assert warnings == ["unknown named references kept as written: &nosuch;"]


@pytest.mark.parametrize("before", ["<!-- example: <![CDATA[ -->", "<?pi <![CDATA[ ?>", "<!-- &ouml; <?x -->"])
def test_markers_inside_comments_and_processing_instructions_do_not_stop_the_rewriting(tmp_path, before):
    rows, warnings = _rows_and_warnings(tmp_path, _items("K&ouml;ln", before=before).encode())
    assert rows[0]["@a"] == "Köln" and warnings == []


@pytest.mark.parametrize("name", [LONG_NAME, "öl", "x:y", "_a.b-c9", "é" * 200])
def test_any_xml_name_outside_the_standard_sets_is_kept_as_written_with_a_warning(tmp_path, name):
    document = f'{DOCTYPE}<r><i a="K&{name};ln"><t>J&{name};rgen</t></i><i a="x"><t>2</t></i></r>'
    rows, warnings = _rows_and_warnings(tmp_path, document.encode())
    assert (rows[0]["@a"], rows[0]["t"]) == (f"K&{name};ln", f"J&{name};rgen")
    assert warnings == [f"unknown named references kept as written: &{name};"]


def test_unknown_names_are_reported_in_the_documents_own_encoding(tmp_path):
    rows, warnings = _rows_and_warnings(tmp_path, ('<?xml version="1.0" encoding="ISO-8859-1"?>'
                                                   + _items("K&öl;n &uuml;")).encode("latin-1"))
    assert rows[0]["@a"] == "K&öl;n ü"
    assert warnings == ["unknown named references kept as written: &öl;"]


@pytest.mark.parametrize("sizes", [[1], [2, 3, 5, 7], [9, 1, 64, 13], [4096]])
def test_long_and_non_ascii_names_and_markers_split_across_reads_are_rewritten_alike(sizes):
    piece = (f"<a k='&{LONG_NAME};&eacute;'>&öl;<!-- <![CDATA[ &uuml; -->&uuml;<?p ]]> ?>&x:y;"
             "<![CDATA[&uuml;]]></a>\n").encode()
    data = piece * 20
    whole = EntityFilter(_Trickle(data, [len(data) + 1]))
    expected = b"".join(iter(lambda: whole.read(65536), b""))
    trickled = EntityFilter(_Trickle(data, sizes))
    assert b"".join(iter(lambda: trickled.read(65536), b"")) == expected
    assert expected.count(f"<a k='&amp;{LONG_NAME};&#xE9;'>&amp;öl;<!-- <![CDATA[ &uuml; -->&#xFC;"
                          "<?p ]]> ?>&amp;x:y;<![CDATA[&uuml;]]></a>".encode()) == 20
    assert trickled.unknown == [LONG_NAME, "öl", "x:y"]


def test_an_undeclared_reference_without_a_doctype_fails_with_its_line_and_column(tmp_path):
    result, _tables = convert([write(tmp_path, "r.xml", "<r>\n<i><a>J&uuml;rgen</a></i><i><a>2</a></i></r>")], tmp_path)
    [outcome] = result.files
    assert outcome.status == "failed"
    assert outcome.error.startswith("line 2, column 14: Entity 'uuml' not defined")
    assert "without a DOCTYPE" in outcome.error


def test_an_undeclared_reference_far_from_the_end_is_reported_not_an_empty_document(tmp_path):
    """Fed on after the reference, the parser ended with "Start tag expected" at line 1, column 1:
    that was the error shown for a document with a bad reference and 64 KiB or more after it."""
    records = "\n".join(f"<i><a>{n}</a></i>" for n in range(10_000))
    document = f"<r>\n<i><a>J&uuml;rgen</a></i>\n{records}<i><a>&nbsp;</a></i></r>"
    result, _tables = convert([write(tmp_path, "r.xml", document)], tmp_path)
    [outcome] = result.files
    assert outcome.status == "failed"
    assert outcome.error.startswith("line 2, column 14: Entity 'uuml' not defined"), outcome.error


def test_a_documents_error_is_its_own_after_another_documents_error(tmp_path):
    """libxml2 keeps earlier parses' errors in its log: the second document's cause must be its own
    reference, not the first document's."""
    records = "\n".join(f"<i><a>{n}</a></i>" for n in range(10_000))
    first = write(tmp_path, "a.xml", f"<r>\n<i><a>&uuml;</a></i>\n{records}</r>")
    second = write(tmp_path, "b.xml", f"<r>\n\n<i><a>x &eacute;</a></i>\n{records}</r>")
    result, _tables = convert([first, second], tmp_path)
    errors = {outcome.path: outcome.error for outcome in result.files}
    assert errors["a.xml"].startswith("line 2, column 13: Entity 'uuml' not defined"), errors
    assert errors["b.xml"].startswith("line 3, column 17: Entity 'eacute' not defined"), errors


# Provenance columns are the app's alone

ORDERS = ("<orders><order><_file>C:/fake/path.xml</_file><_record>999</_record><id>A1</id>"
          "<line><_item>77</_item><_record>5</_record><sku>s1</sku></line><line><sku>s2</sku></line></order>"
          "<order><id>A2</id><line><sku>s3</sku></line></order></orders>")


def test_elements_named_like_provenance_columns_get_their_own_columns_in_wide_mode(tmp_path):
    result, tables = convert([write(tmp_path, "orders.xml", ORDERS)], tmp_path)
    rows = tables["ORDERS"]
    assert [(row["_file"], row["_record"]) for row in rows] == [("orders.xml", "1"), ("orders.xml", "2")]
    assert (rows[0]["_file~2"], rows[0]["_record~2"]) == ("C:/fake/path.xml", "999")
    assert (rows[0]["line/_item~2"], rows[0]["line/sku"]) == ("77", "s1")


def test_elements_named_like_provenance_columns_keep_the_relational_links(tmp_path):
    result, tables = convert([write(tmp_path, "orders.xml", ORDERS)], tmp_path, mode="relational")
    assert [row["_record"] for row in tables["ORDERS"]] == ["1", "2"]
    lines = tables["ORDERS.line"]
    assert [(row["_file"], row["_record"], row["_item"], row["sku"]) for row in lines] == [
        ("orders.xml", "1", "1", "s1"), ("orders.xml", "1", "2", "s2"), ("orders.xml", "2", "1", "s3")]
    assert (lines[0]["_item~2"], lines[0]["_record~2"]) == ("77", "5")


# Record paths the flattener cannot follow are refused, each document on its own

@pytest.mark.parametrize("text", ["/r/*/*", "/r/*/x", "/r/i*", "/r//*", "/r//a//b", "/r//a/b", "/r//i/*", "/"])
def test_record_paths_outside_the_grammar_are_refused_with_the_reason(text):
    assert "last step may be * (/dblp/*) or follow // (/kml//Placemark)" in record_path_problem(text)


@pytest.mark.parametrize("text", ["/r/i", "r/i/", "/r/*", "/kml//Placemark", "/a:r/b:i"])
def test_record_paths_of_the_grammar_pass(text):
    assert record_path_problem(text) is None


def test_a_refused_record_path_fails_each_document_without_stopping_the_run(tmp_path):
    documents = [write(tmp_path, "Q_1.xml", "<r><i><a>1</a><b><c>2</c></b></i><i><a>2</a></i></r>"),
                 write(tmp_path, "G_1.xml", "<g><x>1</x><x>2</x></g>")]
    result, tables = convert(documents, tmp_path, record_path="/r/*/*")
    assert [(f.status, f.error.split(":")[0]) for f in result.files] == [("failed", "record path /r/*/*")] * 2
    profile = ConversionProfile({"r": ConversionChoice("/r/*/*")})  # as a window might hold it
    result, tables = convert(documents, tmp_path / "profiled", profile=profile)
    outcomes = {f.path: (f.status, f.error) for f in result.files}
    assert outcomes["Q_1.xml"][0] == "failed" and outcomes["Q_1.xml"][1].endswith("(from the profile)")
    assert outcomes["G_1.xml"] == ("ok", None) and [row["text()"] for row in tables["G"]] == ["1", "2"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ret_desktop", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_the_command_line_refuses_such_a_record_path_up_front(tmp_path):
    document = write(tmp_path, "Q_1.xml", "<r><i><a>1</a></i><i><a>2</a></i></r>")
    run = _cli("convert", document, "--out", tmp_path / "out", "--record-path", "/r/*/*")
    assert run.returncode == 2 and not (tmp_path / "out").exists()
    assert run.stderr.splitlines() == ["ret-desktop: error: record path /r/*/*: a record path is a path of element "
                                       "names whose last step may be * (/dblp/*) or follow // (/kml//Placemark)"]
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"format": "ret-desktop conversion profile", "version": 1,
                                   "kinds": [{"root": "r", "record_path": "/r/*/*"}]}))
    run = _cli("convert", document, "--out", tmp_path / "out", "--profile", profile)
    assert run.returncode == 2 and "kind 1: record path /r/*/*" in run.stderr and "Traceback" not in run.stderr


# Relational conversion is linear in the number of child tables

def _seconds_for_child_tables(tmp_path, count: int) -> float:
    items = "".join("<i>" + "".join(f"<k{j}>a</k{j}><k{j}>b</k{j}>" for j in range(count)) + "</i>" for _ in range(3))
    report = take_in([write(tmp_path, f"mc{count}.xml", f"<r>{items}</r>")], tmp_path / f"x{count}")
    best = float("inf")
    for attempt in range(5):
        with Workbook(tmp_path / f"w{count}-{attempt}.sqlite") as workbook:
            start = time.process_time()  # this process's own work: other load on the machine does not count
            result = convert_documents(report, workbook, ConvertOptions(mode="relational"))
            best = min(best, time.process_time() - start)
            assert len(result.tables) == count + 1
            assert workbook.info(f"MC.k{count - 1}").rows == 6
    return best


def test_relational_conversion_time_grows_linearly_with_the_child_tables(tmp_path):
    small, large = _seconds_for_child_tables(tmp_path, 400), _seconds_for_child_tables(tmp_path, 1600)
    assert large / small < 9, (small, large)  # 4 times the tables: about 4 times the time, not 16


def test_rows_that_bring_new_columns_before_the_table_is_first_written_keep_every_value(tmp_path):
    records = "".join(f"<i><a>{n}</a>{f'<c{n}>v{n}</c{n}>' if n % 7 == 0 else ''}</i>" for n in range(3000))
    result, tables = convert([write(tmp_path, "r.xml", f"<r>{records}</r>")], tmp_path)
    rows = tables["R"]
    assert [row["a"] for row in rows] == [str(n) for n in range(3000)]
    assert all(row.get(f"c{n}", "") == (f"v{n}" if n % 7 == 0 else "") for n, row in enumerate(rows))


# What the very wide tables' messages suggest fits the mode

def test_too_many_columns_suggests_what_helps_in_any_mode(tmp_path):
    fields = "".join(f"<f{n}>{n}</f{n}>" for n in range(2100))
    for mode in ("wide", "relational"):
        result, _tables = convert([write(tmp_path, "w.xml", f"<w><e>{fields}</e></w>")], tmp_path / mode, mode=mode)
        [outcome] = result.files
        assert outcome.status == "failed" and "cannot have more than 1999 columns" in outcome.error
        assert outcome.error.endswith("choose a deeper record path, or relational mode if repeated elements "
                                      "make the columns")


def test_the_wide_table_note_of_a_relational_run_does_not_suggest_relational_mode(tmp_path):
    document = write(tmp_path, "w.xml", "<w><e>" + "".join(f"<f{n}>{n}</f{n}>" for n in range(350)) + "</e></w>")
    run = _cli("convert", document, "--out", tmp_path / "out", "--mode", "relational")
    assert run.returncode == 0, run.stderr
    assert "note: W has 352 columns; a deeper --record-path may read better" in run.stderr
    run = _cli("convert", document, "--out", tmp_path / "wide")
    assert "note: W has 352 columns; --mode relational or a deeper --record-path may read better" in run.stderr
