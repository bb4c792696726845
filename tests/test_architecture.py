"""House rules that code review alone would not keep."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "ret_desktop" / "core"


def test_core_never_imports_qt_in_its_source():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "shiboken6"}]
    assert offenders == []


def test_importing_all_of_core_loads_no_qt():
    modules = sorted(f"ret_desktop.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__")
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + (
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(CORE.parents[1])})
    assert result.stdout.strip() == "[]"


def test_only_the_composition_root_knows_the_main_window():
    """Panels, ops and tool windows talk through the session controller, not the window's fields."""
    offenders = []
    for path in (CORE.parent / "gui").glob("*.py"):
        if path.stem == "main_window":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "ret_desktop.gui.main_window":
                offenders.append(path.name)
            if isinstance(node, ast.Attribute) and node.attr == "main_window":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
