"""What RET Desktop ships, under which licences: read from the installed distributions' metadata
(the PyInstaller bundle carries their dist-info folders), plus Python itself and the Qt notice."""

from __future__ import annotations

import importlib.metadata as metadata
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ret_desktop.core.config import bundled_path

DISTRIBUTION = "ret-desktop"
QT_LICENCE_FILES = ("Qt-NOTICE.txt", "LGPL-3.0.txt", "GPL-3.0.txt")
LICENSE_FILE = re.compile(r"(^|/)(licen[cs]e|copying|notice|authors)[^/]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    license: str  # an SPDX expression where the package gives one
    texts: tuple[tuple[str, str], ...]  # (file name, text) of its licence files


def _requirement_name(requirement: str) -> str | None:
    """The distribution a runtime requirement names; None for extras (tests, build, benchmarks)."""
    if "extra ==" in requirement:
        return None
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]


def runtime_distributions(root: str = DISTRIBUTION) -> list[str]:
    """``root`` and everything it needs at run time that is installed, each once, in a stable order."""
    seen: dict[str, None] = {}
    pending = [root]
    while pending:
        name = pending.pop(0)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform (pywin32-ctypes on Linux, ...)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = None
        pending += [n for n in map(_requirement_name, dist.requires or []) if n]
    return list(seen)


def _license_of(meta) -> str:
    expression = meta.get("License-Expression")
    if expression:
        return expression
    short = (meta.get("License") or "").strip()
    if short and "\n" not in short and len(short) < 80:
        return short
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return ", ".join(classifiers) or "see the licence text"


def _component(name: str) -> Component:
    dist = metadata.distribution(name)
    texts = []
    for file in dist.files or []:
        path = str(file)
        if ".dist-info/" in path and LICENSE_FILE.search(path):
            text = dist.read_text(path.split(".dist-info/", 1)[1])
            if text:
                texts.append((Path(path).name, text))
    licence = _license_of(dist.metadata)
    if not texts and "LGPL-3.0" in licence:  # PySide6 and shiboken6 ship no licence file
        texts = [(name, (licence_folder() / name).read_text(encoding="utf-8")) for name in QT_LICENCE_FILES]
    return Component(dist.metadata["Name"], dist.version, licence, tuple(texts))


def shipped_components() -> list[Component]:
    """Python, then every runtime distribution except RET Desktop itself; Qt comes with PySide6."""
    found = [p for p in (python_licence_file(), licence_folder() / "python" / "LICENSE.txt") if p and p.is_file()]
    python_texts = (("LICENSE.txt", found[0].read_text(encoding="utf-8")),) if found else ()
    components = [Component("Python", platform.python_version(), "PSF-2.0", python_texts)]
    components += [_component(name) for name in runtime_distributions() if name != DISTRIBUTION]
    return components


def python_licence_file() -> Path | None:
    """The interpreter's own LICENSE.txt (the bundle carries a copy in the licence folder)."""
    lib = Path(sys.base_prefix) / ("Lib" if sys.platform == "win32" else f"lib/python{sys.version_info.major}.{sys.version_info.minor}")
    for candidate in (lib / "LICENSE.txt", Path(sys.base_prefix) / "LICENSE.txt"):
        if candidate.is_file():
            return candidate
    return None


def licence_folder() -> Path:
    """The licence texts the program carries itself (the LGPL and GPL for Qt, Qt's notice)."""
    return bundled_path("resources") / "licenses"
