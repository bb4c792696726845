"""The window remembers the record path and mode picked for a kind of document and proposes them
again in a later session; the remembered choices are saved as a profile `convert --profile` reads;
conversion warnings show beside their document in Sources; the dialog says when the detected record
would make very wide rows."""

import json
import subprocess
import sys

from PySide6.QtWidgets import QLabel, QRadioButton, QTreeWidget

from test_gui import (
    SIGN_OUT_ANYWAY,
    answer_question,
    convert_all,
    create_admin_and_sign_in,
    import_samples,
    open_convert_dialog,
    sign_in,
)

LIBRARY = """<?xml version="1.0"?>
<catalogue xmlns="urn:example:catalogue">
  <shelf><name>north</name>
    <book><title>First</title><year>2001</year></book>
    <book><title>Second</title><year>2002</year></book>
  </shelf>
  <shelf><name>south</name>
    <book><title>Third</title><year>2003</year></book>
  </shelf>
</catalogue>
"""
BOOK_PATH = "/catalogue/shelf/book"  # detection picks the shelves


def _group_tree(window):
    groups = window.findChild(QTreeWidget, "groupsView")
    return {groups.topLevelItem(i).text(0): groups.topLevelItem(i) for i in range(groups.topLevelItemCount())}


def test_a_picked_record_path_and_mode_are_proposed_again_in_the_next_session(app, qtbot, monkeypatch, tmp_path):
    first = tmp_path / "first" / "shelves.xml"
    first.parent.mkdir()
    first.write_text(LIBRARY, encoding="utf-8")
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, first)
    dialog = open_convert_dialog(app, qtbot)
    [group] = dialog.structures
    assert dialog.structures[group].detected != BOOK_PATH  # detection picks the shelves
    dialog.choose_record_path(group, BOOK_PATH)
    dialog.findChild(QRadioButton, "modeRelational").setChecked(True)
    _, state, error = convert_all(app, qtbot, dialog)
    assert (state, error) == ("succeeded", "")
    [table] = [t for t in window.controller.session.tables if t.parent is None]
    assert table.record_path == BOOK_PATH and table.rows == 3

    answer_question(SIGN_OUT_ANYWAY)
    window.action_sign_out.trigger()
    qtbot.waitUntil(lambda: app.login_window.isVisible())
    sign_in(app, qtbot, "alice")
    qtbot.waitUntil(lambda: window.controller.session is not None)

    second = tmp_path / "second" / "OTHER_NAME.xml"  # another batch of the same kind of document
    second.parent.mkdir()
    second.write_text(LIBRARY.replace("north", "east"), encoding="utf-8")
    import_samples(app, qtbot, monkeypatch, second)
    dialog = open_convert_dialog(app, qtbot)
    [group] = dialog.structures
    assert dialog.record_paths == {group: BOOK_PATH}
    assert dialog.findChild(QRadioButton, "modeRelational").isChecked()
    assert "picked for this kind of document before" in dialog.findChild(QLabel, "recordPathLabel").text()
    _, state, _ = convert_all(app, qtbot, dialog)
    assert state == "succeeded"
    [table] = [t for t in window.controller.session.tables if t.parent is None]
    assert table.record_path == BOOK_PATH and table.rows == 3

    profile = tmp_path / "profile.json"
    assert window.save_conversion_profile(profile)
    saved = json.loads(profile.read_text(encoding="utf-8"))
    assert saved["kinds"] == [{"root": "catalogue", "namespace": "urn:example:catalogue",
                               "record_path": BOOK_PATH, "mode": "relational"}]
    result = subprocess.run([sys.executable, "-m", "ret_desktop", "convert", str(first), "--out",
                             str(tmp_path / "out"), "--profile", str(profile)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    [main] = [t for t in manifest["tables"] if not t.get("parent")]
    assert main["record_path"] == BOOK_PATH and main["rows"] == 3


def test_use_detected_forgets_the_remembered_path(app, qtbot, monkeypatch, tmp_path):
    path = tmp_path / "shelves.xml"
    path.write_text(LIBRARY, encoding="utf-8")
    create_admin_and_sign_in(app, qtbot)
    import_samples(app, qtbot, monkeypatch, path)
    dialog = open_convert_dialog(app, qtbot)
    [group] = dialog.structures
    dialog.choose_record_path(group, BOOK_PATH)
    convert_all(app, qtbot, dialog)
    dialog = open_convert_dialog(app, qtbot)
    assert dialog.record_paths == {group: BOOK_PATH}
    dialog._use_detected()
    convert_all(app, qtbot, dialog)
    choice = app.main_window.controller.conversion_profile.choice_for("{urn:example:catalogue}catalogue")
    assert choice.record_path is None  # detection again, from now on
    dialog = open_convert_dialog(app, qtbot)
    assert dialog.record_paths == {}


def test_saving_a_profile_with_nothing_picked_says_what_to_do(app, qtbot, tmp_path):
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    assert not window.save_conversion_profile(tmp_path / "profile.json")
    assert not (tmp_path / "profile.json").exists()
    assert "pick a record path" in window.statusBar().currentMessage()


def test_a_conversion_warning_is_shown_beside_its_document(app, qtbot, monkeypatch, tmp_path):
    path = tmp_path / "dblp.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE dblp SYSTEM "dblp.dtd">\n'
                    "<dblp><a><t>x &notaname; y</t></a><a><t>z</t></a></dblp>", encoding="utf-8")
    create_admin_and_sign_in(app, qtbot)
    window = app.main_window
    import_samples(app, qtbot, monkeypatch, path)
    _, state, _ = convert_all(app, qtbot)
    assert state == "succeeded"
    document = _group_tree(window)["DBLP"].child(0)
    assert document.text(1) == "converted, with a warning"
    assert document.child(0).text(0) == "unknown named references kept as written: &notaname;"
    assert document.isExpanded() and not document.icon(0).isNull()


def test_the_dialog_says_when_the_detected_record_makes_very_wide_rows(app, qtbot, monkeypatch, tmp_path):
    from test_record_shapes import crossref

    path = tmp_path / "deposit.xml"
    path.write_text(crossref(1, 150), encoding="utf-8")
    create_admin_and_sign_in(app, qtbot)
    import_samples(app, qtbot, monkeypatch, path)
    dialog = open_convert_dialog(app, qtbot)
    assert "relational mode" in dialog.findChild(QLabel, "recordPathLabel").text()
