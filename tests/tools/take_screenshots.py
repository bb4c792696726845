"""Screenshots of each main view of the real app, for README.md, into resources/screenshots/.

    .venv/bin/python tests/tools/take_screenshots.py --platform xcb   # in an X session (DISPLAY set)
    .venv/bin/python tests/tools/take_screenshots.py                  # offscreen, no display needed

Runs in a temporary data folder: creates a user, imports the sample archives, converts, edits a cell,
and grabs the sign-in window, the main window with a table and its column profile, a search hit
opened in its table, the convert dialog, the settings dialog, the compare dialog with a key per
table, the result of a comparison of two generated batches (compare) and the idle lock. Under xcb the windows
are real ones, laid out and styled by the platform as a person sees them. Images are saved as
256-colour PNGs, which keeps them small.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout
if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                         help="the Qt platform: xcb (X11), wayland, offscreen (the default), …")
    _parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    _parser.add_argument("--only", action="append", default=[], metavar="NAME",
                         help="write only this screenshot (e.g. compare); again for more")
    ARGS = _parser.parse_args()
    os.environ["QT_QPA_PLATFORM"] = ARGS.platform

from PySide6.QtCore import QCoreApplication, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QWidget  # noqa: E402

from ret_desktop.app import build_app  # noqa: E402

DATA = ROOT / "tests" / "data"
PASSWORD = "a long password 1"


def settle(condition=lambda: True, timeout_s: float = 60, at_least_s: float = 0.3) -> None:
    """Serve the event loop until ``condition`` holds, and for ``at_least_s`` (layouts settle)."""
    started = time.monotonic()
    while not condition() or time.monotonic() - started < at_least_s:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError
        QCoreApplication.processEvents()
        time.sleep(0.01)


def save(widget: QWidget, name: str) -> None:
    settle()
    if ARGS.only and name not in ARGS.only:
        return
    path = ARGS.out / f"{name}.png"
    image = widget.grab().toImage().convertToFormat(
        QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.ThresholdDither | Qt.ImageConversionFlag.AvoidDither)
    if not image.save(str(path), "PNG", 0):  # 0: the smallest file
        raise SystemExit(f"could not write {path}")
    print(f"{path} ({path.stat().st_size // 1024} KB)")


def run_job(window, start) -> None:
    finished = []
    window.controller.runner.job_finished.connect(lambda *args: finished.append(args))
    start()
    settle(lambda: bool(finished))


def monthly_exports(folder: Path) -> tuple[Path, Path]:
    """Two exports of one kind of library document, the second with known edits: rows added and
    removed, years and titles changed, a document added."""
    def library(books) -> str:
        return "<?xml version='1.0'?><library>" + "".join(
            f"<book><id>{i}</id><title>{t}</title><author>{a}</author><year>{y}</year></book>"
            for i, t, a, y in books) + "</library>"

    authors = ["Austen", "Borges", "Calvino", "Dickens", "Eliot", "Faulkner", "Gogol", "Hugo"]
    books = [(i, f"Collected works, volume {i}", authors[i % len(authors)], 1900 + 3 * i) for i in range(1, 41)]
    edited = [(i, t.replace("volume", "vol.") if i % 7 == 0 else t, a, y + 1 if i % 5 == 0 else y)
              for i, t, a, y in books if i % 11]
    edited[3:3] = [(101, "A new anthology", "Le Guin", 2024), (102, "Letters", "Woolf", 2023)]
    paths = folder / "export_2024_01.zip", folder / "export_2024_02.zip"
    for path, documents in zip(paths, ({"a.xml": library(books[:30]), "b.xml": library(books[30:])},
                                       {"a.xml": library(edited[:30]), "b.xml": library(edited[30:]),
                                        "c.xml": library([(200, "Field notes", "Darwin", 1859)])})):
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in documents.items():
                archive.writestr(name, text)
    return paths


def crossref_exports(folder: Path) -> tuple[Path, Path]:
    """Two folders of loose documents, articles.xml and citations.xml: two tables on each side, the
    articles keyed by DOI, the citations by DOI and key together."""
    def table(root: str, record: str, rows) -> str:
        return f"<?xml version='1.0'?><{root}>" + "".join(
            f"<{record}>" + "".join(f"<{k}>{v}</{k}>" for k, v in row.items()) + f"</{record}>" for row in rows
        ) + f"</{root}>"

    paths = folder / "crossref_2024_01", folder / "crossref_2024_02"
    for number, path in enumerate(paths):
        path.mkdir()
        articles = [{"doi": f"10.5555/{i}", "title": f"On topic {i}", "year": 2020 + i % 3} for i in range(1, 9 + number)]
        citations = [{"doi": f"10.5555/{i}", "key": f"ref{j}", "cited": f"10.1000/{i * j}"}
                     for i in range(1, 9) for j in range(1, 4)]
        (path / "articles.xml").write_text(table("articles", "article", articles))
        (path / "citations.xml").write_text(table("citations", "citation", citations))
    return paths


def main() -> int:
    ARGS.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ret-screens-") as scratch:
        app = build_app(Path(scratch) / "data", keyring_backend=None)
        login, window = app.login_window, app.main_window
        try:
            app.services.accounts.create_user("alice", PASSWORD)
            login.refresh()
            login.show()
            login.username.setText("alice")
            login.password.setText("not my password")
            login.sign_in_button.click()  # the error style of a wrong password
            save(login, "sign-in")
            login.password.setText(PASSWORD)
            login.sign_in_button.click()
            window.resize(1280, 760)
            settle(at_least_s=0.5)
            run_job(window, lambda: window.import_paths([DATA / "test-examples_1.zip", DATA / "library_1mb.xml"]))
            run_job(window, window.action_convert.trigger)
            dialog = window.findChild(QDialog, "convertDialog")
            dialog.groups.setCurrentRow(dialog.groups.count() - 1)
            save(dialog, "convert-dialog")
            run_job(window, dialog.findChild(QDialogButtonBox, "convertButtons")
                    .button(QDialogButtonBox.StandardButton.Ok).click)
            tables = window.tables.tables_view
            names = [tables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tables.count())]
            tables.setCurrentRow(names.index(next(n for n in names if n.endswith(".doi_batch"))))
            settle(lambda: not window.tables.model().busy)
            model = window.tables.model()
            title = next(i for i, c in enumerate(model.columns) if c.endswith("/titles/title"))
            model.setData(model.index(1, title), "Corrected title")  # an edited cell is marked
            view = window.tables.table_view
            view.scrollTo(model.index(0, title), view.ScrollHint.PositionAtTop)
            view.setCurrentIndex(model.index(0, title))
            save(window, "main-window")
            window.search.box.setText("velit rerum")
            window.search.run()
            window.search_dock.raise_()
            results = window.search.results
            results.setCurrentItem(results.topLevelItem(2))
            results.itemActivated.emit(results.topLevelItem(2), 0)  # opens LIBRARY and selects the cell
            settle(lambda: not window.tables.model().busy, at_least_s=0.5)
            save(window, "search")
            window.jobs_dock.raise_()
            window.action_settings.trigger()
            save(window.findChild(QDialog, "settingsDialog"), "settings")
            window.findChild(QDialog, "settingsDialog").reject()
            compare = window.open_compare()
            for side, path in zip((compare.old_side, compare.new_side), crossref_exports(Path(scratch))):
                side.set_kind("convert")
                side.set_paths([path])
            run_job(window, compare.propose_keys)  # a key per table, proposed and preselected
            save(compare, "compare-dialog")
            old, new = monthly_exports(Path(scratch))
            for side, path in ((compare.old_side, old), (compare.new_side, new)):
                side.set_kind("convert")
                side.set_paths([path])
            compare.key_edit.setText("id")
            run_job(window, compare.run_compare)
            result = window.findChild(QDialog, "compareView")
            result.resize(1180, 640)
            result.changed_only.setChecked(True)
            settle(lambda: not result.model.busy, at_least_s=0.5)
            for _ in range(3):
                result.go_to_change(1)  # F8: the added rows, then the first changed cell
            save(result, "compare")
            result.close()
            window.lock()
            save(window, "locked")
        finally:
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
