"""The window's export says how many values an XLSX file had to cut (Excel holds 32,767 characters a
cell). Real ops on the job runner's thread, a real session and workbook; no window."""

import openpyxl
import pytest

from conftest import signed_in_controller
from ret_desktop.core.convert import ConvertOptions
from ret_desktop.core.xlsx import EXCEL_MAX_CELL
from ret_desktop.gui.ops import ConvertOp, ExportOp, ImportOp


@pytest.fixture
def controller(tmp_path, qtbot):
    with signed_in_controller(tmp_path / "data") as controller:
        yield controller


def _run(controller, qtbot, op):
    with qtbot.waitSignal(op.succeeded, timeout=20_000):
        assert op.run()
    qtbot.waitUntil(lambda: not controller.runner.busy)


def test_the_export_status_counts_the_values_cut_in_xlsx(controller, qtbot, tmp_path):
    long = "A" * (EXCEL_MAX_CELL + 1)
    doc = tmp_path / "long.xml"
    doc.write_text(f"<r><i><a>{long}</a><b>{long}</b></i><i><a>short</a></i></r>", encoding="utf-8")
    statuses = []
    controller.status_message.connect(statuses.append)
    _run(controller, qtbot, ImportOp(controller, [doc]))
    _run(controller, qtbot, ConvertOp(controller, ConvertOptions(), None))
    tables = {t.name for t in controller.session.tables}
    _run(controller, qtbot, ExportOp(controller, tmp_path / "xlsx", ("xlsx",), tables))
    assert any(s.startswith("Exported 1 table ") and s.endswith(
        " Values longer than an Excel cell holds cut in XLSX: 2.") for s in statuses), statuses
    (xlsx,) = (tmp_path / "xlsx").iterdir()
    assert openpyxl.load_workbook(xlsx).active["C2"].value == long[:EXCEL_MAX_CELL]
    statuses.clear()
    _run(controller, qtbot, ExportOp(controller, tmp_path / "csv", ("csv",), tables))
    assert any(s.startswith("Exported 1 table ") for s in statuses)
    assert not any("cut" in s for s in statuses), statuses
