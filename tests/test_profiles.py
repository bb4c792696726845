"""Remembered conversion choices per kind of document, in the core and in ``convert --profile``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from test_record_shapes import PAIN_001, UBL
from test_xmlflat import convert, write

from ret_desktop.core.convert import describe_groups
from ret_desktop.core.importing import take_in
from ret_desktop.core.profiles import ConversionProfile, ProfileError, kind_key

INVOICE = UBL.format(root="Invoice", line="InvoiceLine", quantity="InvoicedQuantity")
INVOICE_KIND = kind_key("Invoice", "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2")


def test_a_remembered_choice_is_applied_to_the_next_documents_of_that_kind(tmp_path):
    first = write(tmp_path, "INVOICES_01.xml", INVOICE)
    [group] = describe_groups(take_in([first], tmp_path / "x1")).values()
    assert group.kind == INVOICE_KIND and group.detected == "/Invoice/cac:InvoiceLine"

    profile = ConversionProfile()
    profile.remember(group.kind, "/Invoice", "relational")  # the person wants one row per invoice
    profile.save(tmp_path / "profile.json")

    (tmp_path / "next").mkdir()
    later = write(tmp_path / "next", "INVOICES_02.xml", INVOICE.replace("DOC-1", "DOC-2"))
    payment = write(tmp_path / "next", "PAY_01.xml", PAIN_001)  # another kind: detected as usual
    result, tables = convert([later, payment], tmp_path / "run", profile=ConversionProfile.load(tmp_path / "profile.json"))
    records = {t.name: t.record_path for t in result.tables}
    assert records["INVOICES"] == "/Invoice"
    assert records["INVOICES.cac:InvoiceLine"] == "/Invoice/cac:InvoiceLine"  # relational, from the profile
    assert [row["cbc:ID"] for row in tables["INVOICES"]] == ["DOC-2"]
    assert records["PAY"] == "/Document/CstmrCdtTrfInitn/PmtInf/CdtTrfTxInf"
    assert "PAY.PmtId" not in tables  # the run's own mode (wide) for the kind the profile does not name


def test_the_profile_file_format(tmp_path):
    profile = ConversionProfile()
    profile.remember(INVOICE_KIND, "/Invoice/cac:InvoiceLine")
    profile.remember("library", "/library/book", "wide")
    profile.save(tmp_path / "p.json")
    assert json.loads((tmp_path / "p.json").read_text()) == {
        "format": "ret-desktop conversion profile", "version": 1,
        "kinds": [
            {"root": "library", "namespace": "", "record_path": "/library/book", "mode": "wide"},
            {"root": "Invoice", "namespace": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
             "record_path": "/Invoice/cac:InvoiceLine"},
        ]}
    assert ConversionProfile.load(tmp_path / "p.json") == profile


@pytest.mark.parametrize("text, message", [
    ("{", "is not JSON"),
    ('{"kinds": []}', "is not a conversion profile"),
    ('{"format": "ret-desktop conversion profile", "version": 9, "kinds": []}', "has version 9"),
    ('{"format": "ret-desktop conversion profile", "version": 1, "kinds": [{"root": "a", "mode": "tall"}]}',
     "has mode 'tall'"),
    ('{"format": "ret-desktop conversion profile", "version": 1, "kinds": [{"namespace": "x"}]}', 'has no "root"'),
])
def test_a_bad_profile_is_refused_with_one_line(tmp_path, text, message):
    (tmp_path / "p.json").write_text(text)
    with pytest.raises(ProfileError, match=message):
        ConversionProfile.load(tmp_path / "p.json")


def run(*args):
    return subprocess.run([sys.executable, "-m", "ret_desktop", "convert", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_convert_profile_option(tmp_path):
    document = write(tmp_path, "INVOICES_01.xml", INVOICE)
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"format": "ret-desktop conversion profile", "version": 1, "kinds": [
        {"root": "Invoice", "namespace": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
         "record_path": "/Invoice", "mode": "relational"}]}))
    result = run(document, "--out", tmp_path / "out", "--profile", profile)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [(t["name"], t["record_path"], t["rows"]) for t in manifest["tables"]] == [
        ("INVOICES", "/Invoice", 1), ("INVOICES.cac:InvoiceLine", "/Invoice/cac:InvoiceLine", 2)]
    with open(tmp_path / "out" / "INVOICES.cac_InvoiceLine.csv", newline="", encoding="utf-8") as handle:
        assert [row[3] for row in csv.reader(handle)][1:] == ["1", "2"]

    # --mode on the command line beats the profile's mode; --record-path beats its record path
    result = run(document, "--out", tmp_path / "wide", "--profile", profile, "--mode", "wide")
    manifest = json.loads((tmp_path / "wide" / "manifest.json").read_text())
    assert [t["name"] for t in manifest["tables"]] == ["INVOICES"]
    result = run(document, "--out", tmp_path / "lines", "--profile", profile, "--record-path", "/Invoice/cac:InvoiceLine")
    manifest = json.loads((tmp_path / "lines" / "manifest.json").read_text())
    assert [t["rows"] for t in manifest["tables"]][0] == 2

    (tmp_path / "bad.json").write_text("[]")
    result = run(document, "--out", tmp_path / "bad", "--profile", tmp_path / "bad.json")
    assert result.returncode == 2
    assert "is not a conversion profile" in result.stderr and "Traceback" not in result.stderr
