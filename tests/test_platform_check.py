"""The start-up check of Qt's platform plugin: a child process in which two libraries the xcb plugin
needs are really gone (a private mount namespace where the system library folder is a farm of
symlinks without them) must get the names and the install commands, on stderr and in the log,
with exit status 2, where Qt alone aborts with a hint about libxcb-cursor."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ret_desktop.gui.platform_check import check_platform, debian_package, fedora_package, find_plugin

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux-only")

HIDDEN = ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")  # the two from issue 14

# Runs inside the namespace: hides the libraries, then execs the real command (argv[3:]).
HIDE_AND_EXEC = textwrap.dedent(r"""
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18

    def mount(source, target, fstype, flags):
        if libc.mount(source, target, fstype, flags, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount {target}")

    lib_dir, scratch, hidden = sys.argv[1].encode(), sys.argv[2], sys.argv[3].split(",")
    mount(None, b"/", None, MS_REC | MS_PRIVATE)
    original = os.path.join(scratch, "original").encode()
    os.mkdir(original)
    mount(lib_dir, original, None, MS_BIND)
    mount(b"tmpfs", lib_dir, b"tmpfs", 0)
    for name in os.listdir(original):
        if not any(name.startswith(h.encode()) for h in hidden):
            os.symlink(os.path.join(original, name), os.path.join(lib_dir, name))
    os.execv(sys.argv[4], sys.argv[4:])
""")


def system_libraries(plugin: Path) -> dict[str, Path]:
    """soname -> resolved path of every library the plugin's tree takes from outside Qt."""
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True).stdout
    qt_root = plugin.parents[2]
    found = {}
    for soname, path in re.findall(r"^\s*(\S+) => (/\S+)", out, flags=re.MULTILINE):
        if qt_root not in Path(path).resolve().parents:
            found[soname] = Path(path)
    return found


def xcb_plugin() -> Path:
    plugin = find_plugin("xcb", {})
    assert plugin is not None, "PySide6 ships libqxcb.so"
    return plugin


def run_hidden(tmp_path, command, env, hidden=HIDDEN):
    libraries = system_libraries(xcb_plugin())
    lib_dirs = {libraries[name].parent.resolve() for name in hidden}
    assert len(lib_dirs) == 1
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare(1) to hide libraries in a private mount namespace")
    probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"mount namespaces are not allowed here: {probe.stderr.decode().strip()}")
    scratch = tmp_path / "ns"
    scratch.mkdir()
    helper = tmp_path / "hide_and_exec.py"
    helper.write_text(HIDE_AND_EXEC)
    return subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", sys.executable, str(helper),
         str(lib_dirs.pop()), str(scratch), ",".join(hidden), *command],
        capture_output=True, text=True, env=env, timeout=60,
    )


def child_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND", "XDG_SESSION"))}
    env.update(QT_QPA_PLATFORM="xcb", DISPLAY=":99", RET_DATA_DIR=str(tmp_path / "data"))
    return env


def test_missing_libraries_are_named_with_the_commands_that_install_them(tmp_path):
    result = run_hidden(tmp_path, [sys.executable, "-m", "ret_desktop"], child_env(tmp_path))
    assert result.returncode == 2, result.stderr
    expected = [
        "These system libraries are missing: libxcb-icccm.so.4, libxcb-keysyms.so.1.",
        "sudo apt-get install libxcb-icccm4 libxcb-keysyms1",
        "sudo dnf install xcb-util-wm xcb-util-keysyms",
    ]
    log = (tmp_path / "data" / "logs" / "ret-desktop.log").read_text(encoding="utf-8")
    for line in expected:
        assert line in result.stderr
        assert line in log
    assert "Traceback" not in result.stderr
    assert "xcb-cursor" not in result.stderr


def test_without_the_check_qt_aborts_in_the_same_setup(tmp_path):
    """The hiding is real: Qt itself cannot load the plugin there, and says something unhelpful."""
    probe = "from PySide6.QtWidgets import QApplication; QApplication([])"
    result = run_hidden(tmp_path, [sys.executable, "-c", probe], child_env(tmp_path))
    assert result.returncode != 0
    assert 'Could not load the Qt platform plugin "xcb"' in result.stderr


def test_the_plugin_loads_when_nothing_is_missing():
    assert check_platform({"QT_QPA_PLATFORM": "xcb"}) is None
    assert check_platform({"QT_QPA_PLATFORM": "offscreen"}) is None


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="checks the Debian names against dpkg")
def test_debian_names_are_the_packages_that_hold_the_libraries():
    for soname, path in system_libraries(xcb_plugin()).items():
        owner = subprocess.run(["dpkg", "-S", str(path.resolve())], capture_output=True, text=True)
        if owner.returncode != 0:  # merged /usr: dpkg knows the /lib spelling
            owner = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True, check=True)
        package = owner.stdout.split(":")[0]
        assert debian_package(soname) == package.removesuffix("t64"), soname


def test_fedora_names():
    assert fedora_package("libxcb-icccm.so.4") == "xcb-util-wm"
    assert fedora_package("libxcb-randr.so.0") == "libxcb"
    assert fedora_package("libfoo.so.3") == "'libfoo.so.3()(64bit)'"


def test_a_library_qt_itself_needs_is_named_instead_of_a_traceback(tmp_path):
    """libxcb.so.1 is needed by libX11, which QtGui loads at import: PySide6 cannot even be imported."""
    result = run_hidden(tmp_path, [sys.executable, "-m", "ret_desktop"], child_env(tmp_path), hidden=("libxcb.so.1",))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "These system libraries are missing: libxcb.so.1." in result.stderr
    assert "sudo apt-get install libxcb1" in result.stderr and "sudo dnf install libxcb" in result.stderr


@pytest.mark.skipif(not os.environ.get("RET_BUNDLE"), reason="set RET_BUNDLE to the built bundle's program")
def test_the_bundle_names_a_missing_system_library(tmp_path):
    """The PyInstaller bundle carries the xcb libraries but takes libxcb.so.1 from the system."""
    result = run_hidden(tmp_path, [str(Path(os.environ["RET_BUNDLE"]).resolve())], child_env(tmp_path),
                        hidden=("libxcb.so.1",))
    assert result.returncode == 2, result.stderr
    assert "libxcb.so.1" in result.stderr and "sudo apt-get install libxcb1" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_platforms_qt_will_try():
    from ret_desktop.gui.platform_check import platforms_to_try

    assert platforms_to_try({}) == ["xcb"]
    assert platforms_to_try({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}) == ["wayland", "xcb"]
    assert platforms_to_try({"QT_QPA_PLATFORM": "wayland;xcb:nograb"}) == ["wayland", "xcb"]


def test_an_import_error_that_is_not_about_a_library_is_raised_again():
    from ret_desktop.gui.platform_check import report_import_failure

    with pytest.raises(ImportError, match="no module"):
        report_import_failure(ImportError("no module named x", name="x"))
