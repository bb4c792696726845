"""installer/linux/build_deb.py on small bundles made of real system libraries: Depends: names exactly
the packages of the libraries the bundle takes from the system (not those it carries), a library
found nowhere stops the build, and the package has the layout a user's machine needs."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None or not sys.platform.startswith("linux"),
                                reason="builds Debian packages")


def load_builder():
    spec = importlib.util.spec_from_file_location("build_deb", ROOT / "installer" / "linux" / "build_deb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_deb = load_builder()


def system_library(soname):
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.strip().startswith(soname + " ") and "x86-64" in line:
            return Path(line.rsplit("=> ", 1)[1])
    pytest.skip(f"{soname} is not installed here")


def package_of(soname):
    return build_deb.owning_package(system_library(soname))


def make_bundle(tmp_path, *sonames, name="bundle"):
    """A PyInstaller-shaped folder: the program (a copy of a real ELF) and libraries in _internal."""
    bundle = tmp_path / name
    (bundle / "_internal").mkdir(parents=True)
    shutil.copy(system_library("libxcb-icccm.so.4"), bundle / "_internal" / "libxcb-icccm.so.4")
    for soname in sonames:
        shutil.copy(system_library(soname), bundle / "_internal" / soname)
    shutil.copy("/bin/true", bundle / "ret-desktop")
    return bundle


def names(depends):
    return [entry.split()[0] for entry in depends]


def test_depends_are_the_packages_of_the_libraries_taken_from_the_system(tmp_path):
    alone = build_deb.bundle_depends(make_bundle(tmp_path, name="alone"))
    assert package_of("libxcb.so.1") in names(alone) and package_of("libc.so.6") in names(alone)
    assert package_of("libxcb-icccm.so.4") not in names(alone)  # the bundle carries it
    carried = build_deb.bundle_depends(make_bundle(tmp_path, "libxcb.so.1", name="carried"))
    assert package_of("libxcb.so.1") not in names(carried)
    assert package_of("libXau.so.6") in names(carried)  # libxcb's own needs come from the system now
    expected = {build_deb.owning_package(lib) for lib in build_deb.system_libraries(make_bundle(tmp_path, name="again"))}
    assert names(alone) == sorted(expected)


@pytest.mark.skipif(shutil.which("dpkg-shlibdeps") is None, reason="needs dpkg-dev")
def test_depends_carry_the_versions_the_symbols_need(tmp_path):
    depends = build_deb.bundle_depends(make_bundle(tmp_path))
    libc = next(entry for entry in depends if entry.startswith("libc6"))
    assert libc.startswith("libc6 (>= 2.")


def test_a_library_found_nowhere_stops_the_build(tmp_path):
    bundle = make_bundle(tmp_path)
    import PySide6

    shutil.copy(Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so", bundle / "_internal")
    with pytest.raises(build_deb.PackagingError, match=r"libQt6XcbQpa\.so\.6 \(needed by _internal/libqxcb\.so\)"):
        build_deb.bundle_depends(bundle)


def test_package_layout(tmp_path):
    deb = build_deb.build_deb(make_bundle(tmp_path), tmp_path / "out", "1.2.3")
    assert deb.name == "ret-desktop_1.2.3_amd64.deb"
    fields = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Package: ret-desktop\n" in fields and "Architecture: amd64\n" in fields
    depends = next(line for line in fields.splitlines() if line.startswith("Depends: "))
    assert depends == "Depends: " + ", ".join(build_deb.bundle_depends(make_bundle(tmp_path, name="b2")))
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    entries = {line.split()[5]: line for line in listing.splitlines()}
    assert entries["./opt/ret-desktop/ret-desktop"].startswith("-rwxr-xr-x root/root")
    assert entries["./opt/ret-desktop/_internal/libxcb-icccm.so.4"].startswith("-rw-r--r-- root/root")
    assert "./usr/bin/ret-desktop -> /opt/ret-desktop/ret-desktop" in listing
    for size in build_deb.ICON_SIZES:
        assert f"./usr/share/icons/hicolor/{size}x{size}/apps/ret-desktop.png" in entries
    assert "./usr/share/icons/hicolor/scalable/apps/ret-desktop.svg" in entries
    assert not any("/DEBIAN/" in e for e in entries)
    control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True).stdout
    assert b"postinst" not in control and b"postrm" not in control  # no maintainer scripts
    extracted = tmp_path / "x"
    subprocess.run(["dpkg-deb", "--extract", str(deb), str(extracted)], check=True)
    desktop = (extracted / "usr/share/applications/ret-desktop.desktop").read_text()
    assert "Exec=ret-desktop\n" in desktop and "Icon=ret-desktop\n" in desktop and "Type=Application\n" in desktop
    assert os.access(extracted / "opt/ret-desktop/ret-desktop", os.X_OK)
