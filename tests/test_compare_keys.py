"""A key per table: a batch of several tables (articles keyed by DOI, their citations by DOI + key)
compared with each table's own key, through the core and the command line."""

import json

import pytest

from ret_desktop.core.compare import CompareError, CompareOptions, Side, compare, propose_keys
from test_compare import run, write_csv

ARTICLES_OLD = [["doi", "title", "year"], ["10.1/a", "Alpha", "2020"], ["10.1/b", "Beta", "2021"],
                ["10.1/c", "Gamma", "2021"]]
# Rows reordered, Beta retitled, Gamma gone, Delta new.
ARTICLES_NEW = [["doi", "title", "year"], ["10.1/d", "Delta", "2023"], ["10.1/b", "Beta II", "2021"],
                ["10.1/a", "Alpha", "2020"]]
# A citation is one by its article's DOI and its key together; neither is unique alone.
CITATIONS_OLD = [["doi", "key", "cited"], ["10.1/a", "r1", "10.9/x"], ["10.1/a", "r2", "10.9/y"],
                 ["10.1/b", "r1", "10.9/x"]]
CITATIONS_NEW = [["doi", "key", "cited"], ["10.1/b", "r1", "10.9/z"], ["10.1/a", "r2", "10.9/y"],
                 ["10.1/a", "r1", "10.9/x"], ["10.1/b", "r2", "10.9/w"]]


def crossref_pair(tmp_path):
    """Two exports of two tables each, as CSV folders."""
    old, new = tmp_path / "old", tmp_path / "new"
    write_csv(old, "articles.csv", ARTICLES_OLD)
    write_csv(old, "citations.csv", CITATIONS_OLD)
    write_csv(new, "articles.csv", ARTICLES_NEW)
    write_csv(new, "citations.csv", CITATIONS_NEW)
    return old, new


def by_name(summary):
    return {t["name"]: t for t in summary.as_json()["tables"]} if hasattr(summary, "as_json") else \
        {t["name"]: t for t in summary["tables"]}


def counts(table):
    return table["key"], table["rows_added"], table["rows_removed"], table["rows_changed"], table["cells_changed"], \
        table["duplicate_keys"]


def test_each_table_pairs_rows_by_its_own_key(tmp_path):
    old, new = crossref_pair(tmp_path)
    summary = compare(Side.export(old), Side.export(new), tmp_path / "r.sqlite",
                      CompareOptions(table_keys={"articles": ("doi",), "citations": ("doi", "key")}))
    tables = by_name(summary)
    assert counts(tables["articles"]) == (["doi"], 1, 1, 1, 1, 0)
    assert counts(tables["citations"]) == (["doi", "key"], 1, 0, 1, 1, 0)

    # One key for every table, as before: DOI repeats among the citations, so none of them pair.
    one_key = by_name(compare(Side.export(old), Side.export(new), tmp_path / "r2.sqlite", CompareOptions(key=("doi",))))
    assert counts(one_key["citations"]) == (["doi"], 0, 0, 0, 0, 7)
    assert counts(one_key["articles"]) == (["doi"], 1, 1, 1, 1, 0)


def test_a_tables_own_key_beats_the_default_and_an_empty_one_means_no_key(tmp_path):
    old, new = crossref_pair(tmp_path)
    summary = compare(Side.export(old), Side.export(new), tmp_path / "r.sqlite",
                      CompareOptions(key=("doi",), table_keys={"citations": ("doi", "key"), "articles": ()}))
    tables = by_name(summary)
    assert counts(tables["citations"]) == (["doi", "key"], 1, 0, 1, 1, 0)
    # Without a key the articles pair by row order: the shuffle makes rows added and removed.
    assert tables["articles"]["key"] == []
    assert tables["articles"]["duplicate_keys"] == 0


def test_the_proposal_is_per_table_and_two_columns_where_none_alone_is_a_key(tmp_path):
    old, new = crossref_pair(tmp_path)
    # year repeats on the old side; among the citations doi and key repeat, but not together.
    assert propose_keys(Side.export(old), Side.export(new), tmp_path) == {"articles": [("doi",), ("title",)],
                                                                          "citations": [("doi", "key")]}
    write_csv(new, "citations.csv", CITATIONS_NEW + [["10.1/a", "r2", "10.9/v"]])  # now doi + key repeats too
    assert propose_keys(Side.export(old), Side.export(new), tmp_path)["citations"] == [("doi", "cited")]  # the next pair in column order
    write_csv(new, "citations.csv", CITATIONS_NEW + [["10.1/a", "r2", "10.9/y"]])  # a row twice: no key at all
    assert propose_keys(Side.export(old), Side.export(new), tmp_path)["citations"] == []


def test_a_key_the_table_lacks_or_a_table_no_side_has_is_a_clear_error(tmp_path):
    old, new = crossref_pair(tmp_path)
    write_csv(new, "citations.csv", [["doi", "ref", "cited"], ["10.1/a", "r1", "10.9/x"]])
    with pytest.raises(CompareError, match="^table citations has no column key on the new side$"):
        compare(Side.export(old), Side.export(new), tmp_path / "r.sqlite",
                CompareOptions(table_keys={"citations": ("doi", "key")}))
    with pytest.raises(CompareError, match="^table articles has no column isbn on the old side$"):
        compare(Side.export(old), Side.export(new), tmp_path / "r.sqlite", CompareOptions(table_keys={"articles": ("isbn",)}))
    with pytest.raises(CompareError, match=r"^no table article to key \(the tables: articles, citations\)$"):
        compare(Side.export(old), Side.export(new), tmp_path / "r.sqlite", CompareOptions(table_keys={"article": ("doi",)}))
    # The default key still must fit a table it serves.
    with pytest.raises(CompareError, match="no table in common has the key column isbn"):
        compare(Side.export(old), Side.export(new), tmp_path / "r.sqlite",
                CompareOptions(key=("isbn",), table_keys={"articles": ("doi",)}))
    assert not (tmp_path / "r.sqlite").exists()


def test_a_key_may_name_the_old_sides_table_of_a_pair(tmp_path):
    """Two single CSV files of other names pair; either name keys them (the summary uses the new one)."""
    old = write_csv(tmp_path / "o", "jan.csv", ARTICLES_OLD) / "jan.csv"
    new = write_csv(tmp_path / "n", "feb.csv", ARTICLES_NEW) / "feb.csv"
    for name in ("jan", "feb"):
        [table] = compare(Side.export(old), Side.export(new), tmp_path / f"{name}.sqlite",
                          CompareOptions(table_keys={name: ("doi",)})).as_json()["tables"]
        assert (table["name"], table["key"], table["rows_changed"]) == ("feb", ["doi"], 1)


def test_command_line_keys_per_table(tmp_path):
    old, new = crossref_pair(tmp_path)
    result = run(old, new, "--out", tmp_path / "d", "--format", "csv", "--key", "articles=doi", "--key", "articles=doi",
                 "--key", "citations=doi", "--key", "citations=key")  # a column given twice counts once
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "articles (key doi): changed: 1 rows added, 1 removed, 1 changed (1 cells)",
        "citations (key doi, key): changed: 1 rows added, 0 removed, 1 changed (1 cells)"]
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    tables = by_name(summary)
    assert counts(tables["articles"]) == (["doi"], 1, 1, 1, 1, 0)
    assert counts(tables["citations"]) == (["doi", "key"], 1, 0, 1, 1, 0)

    # A default key and one table without a key.
    result = run(old, new, "--out", tmp_path / "e", "--format", "csv", "--key", "doi", "--key", "citations=")
    assert result.returncode == 1, result.stderr
    tables = by_name(json.loads((tmp_path / "e" / "summary.json").read_text()))
    assert (tables["articles"]["key"], tables["citations"]["key"], tables["citations"]["duplicate_keys"]) == (
        ["doi"], [], 0)
    assert "TABLE=COLUMN" in run("--help").stdout


def test_a_table_name_holding_the_separator_splits_at_the_last_one(tmp_path):
    old = write_csv(tmp_path / "old", "a=b.csv", ARTICLES_OLD)
    new = write_csv(tmp_path / "new", "a=b.csv", ARTICLES_NEW)
    result = run(old, new, "--out", tmp_path / "d", "--format", "csv", "--key", "a=b=doi")
    assert result.returncode == 1, result.stderr
    [table] = json.loads((tmp_path / "d" / "summary.json").read_text())["tables"]
    assert (table["name"], table["key"], table["rows_changed"]) == ("a=b", ["doi"], 1)


@pytest.mark.parametrize("key, message", [
    ("citations=isbn", "table citations has no column isbn on the old side"),
    ("nowhere=doi", "no table nowhere to key (the tables: articles, citations)"),
    ("=doi", "--key =doi: name the table before =, or give just the column"),
])
def test_command_line_bad_table_keys_exit_2_with_one_line(tmp_path, key, message):
    old, new = crossref_pair(tmp_path)
    result = run(old, new, "--out", tmp_path / "out", "--key", key)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------- the dialog

def xml_table(root, record, rows):
    header, *body = rows
    return f"<?xml version='1.0'?><{root}>" + "".join(
        f"<{record}>" + "".join(f"<{k}>{v}</{k}>" for k, v in zip(header, row)) + f"</{record}>" for row in body
    ) + f"</{root}>"


def xml_pair(tmp_path):
    """The Crossref-like pair as loose XML documents: articles.xml and citations.xml on each side."""
    for side, articles, citations in (("old", ARTICLES_OLD, CITATIONS_OLD), ("new", ARTICLES_NEW, CITATIONS_NEW)):
        folder = tmp_path / side
        folder.mkdir()
        (folder / "articles.xml").write_text(xml_table("articles", "article", articles))
        (folder / "citations.xml").write_text(xml_table("citations", "citation", citations))
    return tmp_path / "old", tmp_path / "new"


def test_the_dialog_picks_a_key_per_table_for_a_session_of_two_tables(app, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QComboBox, QLineEdit, QPushButton, QRadioButton

    from test_compare_window import open_dialog, propose_keys, result_window, run_compare
    from test_gui import child, convert_all, create_admin_and_sign_in, import_samples

    create_admin_and_sign_in(app, qtbot)
    old, new = xml_pair(tmp_path)
    assert import_samples(app, qtbot, monkeypatch, new / "articles.xml", new / "citations.xml")[1] == "succeeded"
    assert convert_all(app, qtbot)[1] == "succeeded"
    assert sorted(t.name for t in app.main_window.controller.session.tables) == ["ARTICLES", "CITATIONS"]
    dialog = open_dialog(app)
    assert child(dialog, QRadioButton, "newSideSession").isChecked()
    child(dialog, QRadioButton, "oldSideConvert").setChecked(True)
    child(dialog, QLineEdit, "oldSidePath").setText(str(old))
    child(dialog, QLineEdit, "compareKey").setText("title")  # typed first: preselected where it is proposed

    propose_keys(app, qtbot, dialog)
    keys = dialog.table_keys
    assert keys.isVisible() and keys.tables() == ["ARTICLES", "CITATIONS"]
    articles, citations = keys.box("ARTICLES"), keys.box("CITATIONS")
    assert [articles.itemText(i) for i in range(articles.count())] == ["doi", "title", "no key: by document and row order"]
    assert [citations.itemText(i) for i in range(citations.count())] == ["doi, key", "no key: by document and row order"]
    assert (articles.currentText(), citations.currentText()) == ("title", "doi, key")
    assert dialog.message.text() == ("Proposed a key for 2 tables of 2: pick each table's key below "
                                     "(or type columns, separated by commas).")
    # By keyboard: Tab from Propose keys reaches the first table's key; Up picks doi.
    assert child(dialog, QComboBox, "tableKey0") is articles and articles.accessibleName() == "Key of ARTICLES"
    dialog.activateWindow()
    propose = child(dialog, QPushButton, "proposeKeys")
    propose.setFocus()
    qtbot.waitUntil(propose.hasFocus)
    qtbot.keyClick(propose, Qt.Key.Key_Tab)
    assert articles.hasFocus()
    qtbot.keyClick(articles, Qt.Key.Key_Up)
    assert articles.currentText() == "doi"
    assert dialog.options().table_keys == {"ARTICLES": ("doi",), "CITATIONS": ("doi", "key")}
    # A key typed above is picked for each table that proposes it.
    no_key = "no key: by document and row order"
    articles.setCurrentText(no_key)
    citations.setCurrentText(no_key)
    key_field = child(dialog, QLineEdit, "compareKey")
    key_field.clear()
    qtbot.keyClicks(key_field, "doi")
    assert (articles.currentText(), citations.currentText()) == ("doi", no_key)
    qtbot.keyClicks(key_field, ", key")
    assert (articles.currentText(), citations.currentText()) == ("doi", "doi, key")
    assert dialog.options().table_keys == {"ARTICLES": ("doi",), "CITATIONS": ("doi", "key")}

    assert run_compare(app, qtbot, dialog)[1:] == ("succeeded", "")
    window = result_window(app)
    shown = window.summary_table
    assert {shown.item(r, 0).text(): shown.item(r, 0).toolTip() for r in range(shown.rowCount())} == {
        "ARTICLES": "Keyed on doi", "CITATIONS": "Keyed on doi, key"}
    tables = {t.name: t for t in window.summary.tables}
    assert (tables["ARTICLES"].key, tables["ARTICLES"].rows_added, tables["ARTICLES"].rows_removed,
            tables["ARTICLES"].rows_changed) == (["doi"], 1, 1, 1)
    assert (tables["CITATIONS"].key, tables["CITATIONS"].rows_added, tables["CITATIONS"].rows_changed,
            tables["CITATIONS"].duplicate_keys) == (["doi", "key"], 1, 1, 0)


def test_typed_keys_and_no_key_per_table_and_stale_proposals_are_dropped(app, qtbot, tmp_path):
    from PySide6.QtWidgets import QLineEdit

    from test_compare_window import fill, open_dialog, propose_keys, run_compare
    from test_gui import child, create_admin_and_sign_in

    create_admin_and_sign_in(app, qtbot)
    old, new = xml_pair(tmp_path)
    dialog = open_dialog(app)
    fill(dialog, old, new)
    propose_keys(app, qtbot, dialog)
    keys = dialog.table_keys
    keys.box("ARTICLES").setCurrentText("no key: by document and row order")
    keys.box("CITATIONS").setCurrentText(" doi ,cited ")  # columns typed in, not proposed
    assert dialog.options().table_keys == {"ARTICLES": (), "CITATIONS": ("doi", "cited")}
    keys.box("CITATIONS").setCurrentText("doi, cite")
    assert run_compare(app, qtbot, dialog)[1] == "failed"
    assert dialog.message.tone == "error"
    assert dialog.message.text() == "Not compared: table CITATIONS has no column cite on the old side."
    child(dialog, QLineEdit, "oldSidePath").setText(str(new))  # another side: the proposals no longer hold
    assert keys.isHidden() and dialog.options().table_keys == {}
    assert dialog.message.text() == "The sides changed: Propose keys again to pick each table's key."
