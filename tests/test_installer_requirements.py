"""README's system requirements are what PySide6's Qt needs from the system, and CI installs exactly
those packages: the Debian and Fedora lines are derived here from the ELF dependencies of the Qt
libraries and plugins the app loads, mapped by the same names the start-up check prints."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import PySide6
import pytest

from ret_desktop.gui.platform_check import debian_packages, fedora_packages

ROOT = Path(__file__).resolve().parents[1]
QT = Path(PySide6.__file__).parent / "Qt"
# What the app loads: its three modules and SVG, and the plugins build.spec keeps.
QT_PARTS = [f"lib/libQt6{name}.so.6" for name in ("Core", "Gui", "Widgets", "Svg", "DBus", "XcbQpa", "WaylandClient")] + [
    "plugins/platforms/libqxcb.so", "plugins/platforms/libqoffscreen.so", "plugins/platforms/libqwayland.so",
    "plugins/iconengines/libqsvgicon.so", "plugins/imageformats/libqsvg.so", "plugins/platforminputcontexts/*.so",
    "plugins/xcbglintegrations/*.so", "plugins/platformthemes/libqxdgdesktopportal.so",
    "plugins/wayland-shell-integration/libxdg-shell.so", "plugins/wayland-decoration-client/*.so",
]
# apt itself needs these (checked below), so every machine that can run apt-get has them.
WITH_APT = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libzstd1"}
WITH_GLIBC = {"glibc", "libgcc", "libstdc++", "zlib-ng-compat", "libzstd"}
DEBIAN_EXTRA = ["python3-venv", "fonts-dejavu-core"]  # venv is not in Debian's python3; a font to draw with
FEDORA_EXTRA = ["python3", "dejavu-sans-fonts"]


def needed_system_sonames():
    sonames = set()
    for pattern in QT_PARTS:
        files = list(QT.glob(pattern))
        assert files, pattern
        for file in files:
            dynamic = subprocess.run(["readelf", "-d", str(file)], capture_output=True, text=True, check=True).stdout
            sonames |= set(re.findall(r"\(NEEDED\).*\[(.*)\]", dynamic))
    return sorted(s for s in sonames if not s.startswith(("libQt6", "libicu", "ld-linux")))


def readme_line(prefix):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [line.strip() for line in readme.splitlines() if line.strip().startswith(prefix)]
    assert lines, prefix
    return lines


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("readelf") is None,
                                reason="reads the ELF dependencies of PySide6's Linux build")


def test_debian_requirements_are_what_qt_needs():
    run_time = readme_line("sudo apt-get install --no-install-recommends ")[0].split()[4:]
    expected = DEBIAN_EXTRA + sorted(set(debian_packages(needed_system_sonames())) - WITH_APT)
    assert run_time == expected


def test_fedora_requirements_are_what_qt_needs():
    line = readme_line("sudo dnf install ")[0].split()[3:]
    assert line == FEDORA_EXTRA + sorted(set(fedora_packages(needed_system_sonames())) - WITH_GLIBC)


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="Debian only")
def test_the_left_out_packages_come_with_apt():
    depends = subprocess.run(["dpkg-query", "-W", "-f", "${Depends}\n", "apt", "libapt-pkg6.0"],
                             capture_output=True, text=True, check=True).stdout
    assert WITH_APT <= set(re.findall(r"[a-z0-9.+-]+", depends))


def test_ci_installs_exactly_the_readme_packages():
    """The run-time line, then the build line, without sudo, and no other apt-get install."""
    wanted = [line.removeprefix("sudo ").replace("apt-get install", "apt-get install -y", 1)
              for line in readme_line("sudo apt-get install --no-install-recommends ")]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installs = [line.strip() for line in ci.splitlines() if "apt-get install" in line and not line.lstrip().startswith("#")]
    assert installs == wanted
