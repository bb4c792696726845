"""README.md starts with the two commands a new user needs; CI runs exactly the second one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```\n(.+?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"))[:2]


def test_readme_opens_with_install_and_test_commands():
    install, test = readme_commands()
    assert "pip install ." in install and install.endswith("ret-desktop")
    assert "pip install '.[test]'" in test and test.endswith("-m pytest")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.index(install) < 400, "the commands come first"


def test_ci_runs_exactly_the_readme_test_command():
    _, test = readme_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci_lines
