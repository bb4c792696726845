"""Build ret-desktop_<version>_amd64.deb from the PyInstaller folder (dist/ret-desktop) with dpkg-deb.

    QT_QPA_PLATFORM=offscreen .venv/bin/python installer/linux/build_deb.py [--bundle DIR] [--out DIR]

The app goes to /opt/ret-desktop, /usr/bin/ret-desktop links to it, a .desktop entry and the icon
(hicolor sizes and scalable) put it in the applications menu. ``Depends:`` is derived from the
bundle: every ELF file in it is run through ``ldd`` with the library path the PyInstaller
bootloader sets, each library found outside the bundle is looked up with ``dpkg -S``, and the
lowest versions its symbols need come from ``dpkg-shlibdeps``.
No maintainer scripts: dpkg's file triggers refresh the menu and icon caches.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "ret-desktop"
INSTALL_DIR = Path("/opt/ret-desktop")
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
MAINTAINER = "RET Desktop maintainers <ret-desktop@users.noreply.github.com>"
DESKTOP_ENTRY = """\
[Desktop Entry]
Type=Application
Name=RET Desktop
GenericName=XML to table converter
Comment=Turn ZIP archives and XML documents into tables you can review, correct and export
Exec=ret-desktop
Icon=ret-desktop
Terminal=false
Categories=Office;Database;
Keywords=XML;CSV;XLSX;table;convert;
StartupWMClass=ret-desktop
"""


class PackagingError(Exception):
    pass


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def bundle_library_path(bundle: Path) -> str:
    """The LD_LIBRARY_PATH the PyInstaller bootloader gives the app: the _internal folder."""
    internal = bundle / "_internal"
    return str(internal if internal.is_dir() else bundle)


def system_libraries(bundle: Path) -> dict[Path, set[str]]:
    """Library outside the bundle -> the bundle's files that load it. Raises if one is missing."""
    bundle = bundle.resolve()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LD_LIBRARY_PATH": bundle_library_path(bundle)}
    used: dict[Path, set[str]] = {}
    missing: dict[str, set[str]] = {}
    for path in sorted(p for p in bundle.rglob("*") if is_elf(p)):
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        user = str(path.relative_to(bundle))
        for name in re.findall(r"^\s*(\S+) => not found", out, flags=re.MULTILINE):
            missing.setdefault(name, set()).add(user)
        for found in re.findall(r"=> (/\S+) \(0x", out) + re.findall(r"^\s*(/\S+) \(0x", out, flags=re.MULTILINE):
            library = Path(found)
            if bundle not in library.resolve().parents:
                used.setdefault(library, set()).add(user)
    if missing:
        details = "; ".join(f"{name} (needed by {', '.join(sorted(users)[:3])})" for name, users in sorted(missing.items()))
        raise PackagingError(f"libraries neither in the bundle nor on this machine: {details}")
    return used


def owning_package(library: Path) -> str:
    """The Debian package that holds ``library`` (merged /usr: dpkg may know either spelling)."""
    resolved = library.resolve()
    candidates = dict.fromkeys([resolved, library, *(Path("/usr" + str(p)) for p in (library, resolved))])
    for candidate in candidates:
        found = subprocess.run(["dpkg-query", "-S", str(candidate)], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0].split(",")[0].strip()
    raise PackagingError(f"{library}: no installed package holds it (dpkg -S)")


def bundle_depends(bundle: Path) -> list[str]:
    """The packages of every system library the bundle loads, sorted (the ``Depends:`` line), each
    with the lowest version the bundle's symbols need where dpkg-shlibdeps knows it."""
    packages = sorted({owning_package(library) for library in system_libraries(bundle)})
    versions = shlibdeps_versions(bundle)
    return [versions.get(package, package) for package in packages]


def shlibdeps_versions(bundle: Path) -> dict[str, str]:
    """package -> "package (>= version)" from dpkg-shlibdeps over every ELF file of the bundle (it
    also names packages for libraries the bundle carries: only the versions are taken from it)."""
    if shutil.which("dpkg-shlibdeps") is None:
        raise PackagingError("dpkg-shlibdeps is missing (apt-get install dpkg-dev)")
    bundle = bundle.resolve()
    internal = Path(bundle_library_path(bundle))
    search = [f"-l{folder}" for folder in sorted({p.parent for p in internal.rglob("*.so*")})]
    files = [str(p) for p in sorted(bundle.rglob("*")) if is_elf(p)]
    with tempfile.TemporaryDirectory(prefix="ret-shlibdeps-") as scratch:
        (Path(scratch) / "debian").mkdir()
        (Path(scratch) / "debian" / "control").write_text("Source: ret-desktop\n\nPackage: ret-desktop\nArchitecture: any\n")
        result = subprocess.run(["dpkg-shlibdeps", "-O", "--ignore-missing-info", *search, *files],
                                cwd=scratch, capture_output=True, text=True)
    if result.returncode != 0:
        raise PackagingError(f"dpkg-shlibdeps: {result.stderr.strip().splitlines()[-1]}")
    line = next(l for l in result.stdout.splitlines() if l.startswith("shlibs:Depends="))
    entries = [e.strip() for e in line.split("=", 1)[1].split(",")]
    return {e.split()[0]: e for e in entries if "(" in e}


def write_icons(usr_share: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "tools"))
    from make_app_icons import render  # noqa: E402 (the one renderer of app.svg)
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication([])
    for size in ICON_SIZES:
        folder = usr_share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True)
        if not render(size).save(str(folder / f"{PACKAGE}.png"), "PNG"):
            raise PackagingError(f"could not write the {size} px icon")
    scalable = usr_share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copyfile(ROOT / "resources" / "icons" / "app.svg", scalable / f"{PACKAGE}.svg")


def write_docs(usr_share: Path, version: str) -> None:
    doc = usr_share / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: RET Desktop\n\n"
        "Files: *\nCopyright: 2026 RET Desktop contributors\nLicense: MIT\n\n"
        "Files: opt/ret-desktop/_internal/PySide6/*\nCopyright: The Qt Company Ltd and other contributors\n"
        "License: LGPL-3.0-only\n On Debian systems the full text is in /usr/share/common-licenses/LGPL-3.\n"
        " The licences of every bundled component are in\n"
        " /opt/ret-desktop/_internal/resources/licenses/ and in Help > About.\n\n"
        "License: MIT\n"
        " Permission is hereby granted, free of charge, to any person obtaining a copy of this software\n"
        " and associated documentation files, to deal in the Software without restriction, subject to\n"
        " the MIT licence conditions (https://opensource.org/license/mit).\n",
        encoding="utf-8",
    )
    changelog = (f"{PACKAGE} ({version}) unstable; urgency=medium\n\n  * Release {version}.\n\n"
                 f" -- {MAINTAINER}  Tue, 01 Dec 2026 00:00:00 +0000\n")
    with gzip.GzipFile(doc / "changelog.gz", "wb", compresslevel=9, mtime=0) as f:
        f.write(changelog.encode())


def prepare_binaries(app: Path) -> None:
    """Modes dpkg should install (0755 folders and programs, 0644 the rest, libraries included);
    shared objects stripped of symbols, and of build-machine RUNPATHs (Python's lib-dynload
    carries the interpreter's build prefix); the bootloader is left alone, its archive is appended."""
    for path in app.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_dir() or path == app / PACKAGE:
            path.chmod(0o755)
            continue
        path.chmod(0o644)
        if ".so" in path.name and is_elf(path):
            subprocess.run(["strip", "--strip-unneeded", "--remove-section=.comment", str(path)], check=True)
            dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
            search = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]", dynamic)
            if search and any(p and not p.startswith("$ORIGIN") for p in search[0].split(":")):
                subprocess.run(["patchelf", "--remove-rpath", str(path)], check=True)


def write_man_page(usr_share: Path) -> None:
    man = usr_share / "man" / "man1"
    man.mkdir(parents=True)
    page = (
        '.TH RET-DESKTOP 1 "" "RET Desktop" "User Commands"\n.SH NAME\nret-desktop \\- XML to tables, offline\n'
        ".SH SYNOPSIS\n.B ret-desktop\n[\\fB--version\\fR] [\\fICOMMAND\\fR ...]\n.SH DESCRIPTION\n"
        "Without a command, opens the RET Desktop window. Commands: convert, users, cache, selftest;\n"
        ".B ret-desktop COMMAND --help\nexplains each.\n"
    )
    with gzip.GzipFile(man / f"{PACKAGE}.1.gz", "wb", compresslevel=9, mtime=0) as f:
        f.write(page.encode())


def installed_size_kib(tree: Path) -> int:
    return sum((p.lstat().st_size + 1023) // 1024 for p in tree.rglob("*") if not p.is_dir()) or 1


def control_file(version: str, depends: list[str], size_kib: int) -> str:
    return (
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: amd64\nMaintainer: {MAINTAINER}\n"
        f"Installed-Size: {size_kib}\nDepends: {', '.join(depends)}\nSection: utils\nPriority: optional\n"
        "Homepage: https://github.com/ret-desktop/ret-desktop\n"
        "Description: offline XML-to-table conversion, review and export\n"
        " RET Desktop turns ZIP archives (often nested) and loose XML documents into\n"
        " flat tables, lets one person review and correct them, compare batches, and\n"
        " export CSV or XLSX. Everything runs locally, with no server and no network.\n"
    )


def build_deb(bundle: Path, out_dir: Path, version: str) -> Path:
    if not (bundle / PACKAGE).is_file():
        raise PackagingError(f"{bundle}: no PyInstaller folder here (build it with build.spec first)")
    depends = bundle_depends(bundle)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{PACKAGE}_{version}_amd64.deb"
    with tempfile.TemporaryDirectory(prefix="ret-deb-") as scratch:
        stage = Path(scratch) / "root"
        app = stage / INSTALL_DIR.relative_to("/")
        shutil.copytree(bundle, app, symlinks=True)
        prepare_binaries(app)
        (stage / "usr" / "bin").mkdir(parents=True)
        (stage / "usr" / "bin" / PACKAGE).symlink_to(INSTALL_DIR / PACKAGE)
        usr_share = stage / "usr" / "share"
        (usr_share / "applications").mkdir(parents=True)
        (usr_share / "applications" / f"{PACKAGE}.desktop").write_text(DESKTOP_ENTRY, encoding="utf-8")
        write_icons(usr_share)
        write_docs(usr_share, version)
        write_man_page(usr_share)
        overrides = usr_share / "lintian" / "overrides"
        overrides.mkdir(parents=True)
        shutil.copyfile(Path(__file__).with_name("lintian-overrides"), overrides / PACKAGE)
        for path in (stage / "usr").rglob("*"):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        size = installed_size_kib(stage)
        (stage / "DEBIAN").mkdir()
        (stage / "DEBIAN" / "control").write_text(control_file(version, depends, size), encoding="utf-8")
        os.chmod(stage, 0o755)
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(stage), str(target)],
                       check=True, stdout=subprocess.DEVNULL)
    return target


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from ret_desktop import __version__

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / PACKAGE)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    try:
        print(build_deb(args.bundle, args.out, __version__))
    except PackagingError as error:
        print(f"build_deb: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
