"""Before the QApplication: can Qt and its platform plugin load? If not, name the missing system
libraries and the commands that install them.

Without this, a missing library makes Qt abort with a hint that is often wrong (it blames
libxcb-cursor0 when libxcb-icccm4 is what is missing), or Python stop with a traceback when
PySide6 itself cannot load. The plugin is dlopen()ed exactly as Qt will (lazy, local); only when
that fails is ``ldd`` asked for every library the loader cannot find.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

log = logging.getLogger(__name__)

# Fedora names where the library's soname does not tell the package (the xcb plugin's tree).
FEDORA_PACKAGES = {
    "libxcb-cursor.so.0": "xcb-util-cursor",
    "libxcb-icccm.so.4": "xcb-util-wm",
    "libxcb-ewmh.so.2": "xcb-util-wm",
    "libxcb-util.so.1": "xcb-util",
    "libxcb-image.so.0": "xcb-util-image",
    "libxcb-keysyms.so.1": "xcb-util-keysyms",
    "libxcb-render-util.so.0": "xcb-util-renderutil",
    "libX11-xcb.so.1": "libX11-xcb",
    "libX11.so.6": "libX11",
    "libXau.so.6": "libXau",
    "libXdmcp.so.6": "libXdmcp",
    "libxkbcommon.so.0": "libxkbcommon",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11",
    "libGL.so.1": "libglvnd-glx",
    "libGLX.so.0": "libglvnd-glx",
    "libEGL.so.1": "libglvnd-egl",
    "libOpenGL.so.0": "libglvnd-opengl",
    "libGLdispatch.so.0": "libglvnd",
    "libfontconfig.so.1": "fontconfig",
    "libfreetype.so.6": "freetype",
    "libglib-2.0.so.0": "glib2",
    "libgthread-2.0.so.0": "glib2",
    "libdbus-1.so.3": "dbus-libs",
    "libexpat.so.1": "expat",
    "libpng16.so.16": "libpng",
    "libz.so.1": "zlib-ng-compat",
    "libzstd.so.1": "libzstd",
    "libbrotlidec.so.1": "libbrotli",
    "libbrotlicommon.so.1": "libbrotli",
    "libpcre2-8.so.0": "pcre2",
    "libwayland-client.so.0": "libwayland-client",
    "libwayland-cursor.so.0": "libwayland-cursor",
    "libwayland-egl.so.1": "libwayland-egl",
    "libstdc++.so.6": "libstdc++",
    "libgcc_s.so.1": "libgcc",
    **{glibc: "glibc" for glibc in ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1")},
}
FEDORA_XCB_EXTENSIONS = re.compile(r"libxcb(-(randr|render|shape|shm|sync|xfixes|xkb|xinput|glx|dri[23]|present))?\.so\.\d+$")
# Debian names that do not follow the policy rule (libfoo.so.N -> libfooN, libfoo1.so.N -> libfoo1-N).
DEBIAN_PACKAGES = {
    "libGLdispatch.so.0": "libglvnd0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libz.so.1": "zlib1g",
    "libbrotlidec.so.1": "libbrotli1",
    "libbrotlicommon.so.1": "libbrotli1",
    "libgcc_s.so.1": "libgcc-s1",
    **{glibc: "libc6" for glibc in ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1")},
}


@dataclass(frozen=True)
class PlatformProblem:
    what: str  # "The Qt platform plugin 'xcb'", "Qt (PySide6.QtWidgets)"
    path: Path
    missing: tuple[str, ...]  # sonames the loader cannot find; empty if the reason is something else
    loader_error: str

    def message(self) -> str:
        lines = [f"{self.what} ({self.path}) cannot be loaded."]
        if not self.missing:
            return "\n".join(lines + [f"The system's loader says: {self.loader_error}"])
        lines.append("These system libraries are missing: " + ", ".join(self.missing) + ".")
        lines.append("Install them, then start RET Desktop again:")
        lines.append("  Debian/Ubuntu:  sudo apt-get install " + " ".join(debian_packages(self.missing)))
        lines.append("  Fedora:         sudo dnf install " + " ".join(fedora_packages(self.missing)))
        return "\n".join(lines)


def debian_package(soname: str) -> str:
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    name, _, version = soname.partition(".so.")
    name = name.lower().replace("_", "-")
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def fedora_package(soname: str) -> str:
    if soname in FEDORA_PACKAGES:
        return FEDORA_PACKAGES[soname]
    if FEDORA_XCB_EXTENSIONS.match(soname):
        return "libxcb"
    return f"'{soname}()(64bit)'"  # dnf finds the package that provides a soname


def debian_packages(sonames) -> list[str]:
    return list(dict.fromkeys(debian_package(s) for s in sonames))


def fedora_packages(sonames) -> list[str]:
    return list(dict.fromkeys(fedora_package(s) for s in sonames))


def platforms_to_try(env: Mapping[str, str]) -> list[str]:
    """The platform plugins Qt tries, in order (QT_QPA_PLATFORM, else Qt's own default on Linux)."""
    requested = env.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return [part.split(":", 1)[0].strip() for part in requested.split(";") if part.strip()]
    if env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def plugin_dirs(env: Mapping[str, str]) -> list[Path]:
    """Where Qt looks for platform plugins, in Qt's order."""
    from PySide6.QtCore import QLibraryInfo

    dirs = [Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"])] if env.get("QT_QPA_PLATFORM_PLUGIN_PATH") else []
    dirs += [Path(p) / "platforms" for p in env.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    dirs.append(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms")
    return dirs


def find_plugin(platform: str, env: Mapping[str, str]) -> Path | None:
    for folder in plugin_dirs(env):
        candidate = folder / f"libq{platform}.so"
        if candidate.is_file():
            return candidate
    return None


def missing_libraries(plugin: Path, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Sonames in the plugin's dependency tree that the dynamic loader cannot find (``ldd``)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return ()
    result = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, env=dict(env or os.environ))
    missing = re.findall(r"^\s*(\S+) => not found", result.stdout, flags=re.MULTILINE)
    return tuple(dict.fromkeys(missing))


def check_platform(env: Mapping[str, str] | None = None) -> PlatformProblem | None:
    """None if one of the platforms Qt will try loads (or this is not Linux, or none of them is
    there and Qt will say so itself); otherwise what stops the last one Qt tries."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return None
    problems = []
    for platform in platforms_to_try(env):
        plugin = find_plugin(platform, env)
        if plugin is None:  # Qt goes on to the next one (a bundle may carry xcb only)
            continue
        try:
            ctypes.CDLL(str(plugin), mode=os.RTLD_LAZY | os.RTLD_LOCAL)
            return None
        except OSError as error:
            problems.append(PlatformProblem(f"The Qt platform plugin {platform!r}", plugin,
                                            missing_libraries(plugin, env), str(error)))
    # Qt falls back along the list; the last one (xcb on a desktop) is what a person can fix.
    return problems[-1] if problems else None


def platform_usable() -> bool:
    """Call before creating the QApplication. False after saying why, on stderr and in the log."""
    problem = check_platform()
    if problem is not None:
        log.error("%s", problem.message())
    return problem is None


def report_import_failure(error: ImportError) -> int:
    """PySide6 could not be imported: if a shared library is the reason, say which and exit 2."""
    if not sys.platform.startswith("linux") or not error.path or not Path(error.path).is_file():
        raise error
    problem = PlatformProblem(f"Qt ({error.name})", Path(error.path), missing_libraries(Path(error.path)), str(error))
    log.error("%s", problem.message())
    return 2
