"""Safe intake of ZIP archives (nested), loose XML files and folders.

Nothing is ever written outside the target folder, whatever entry names say; links and devices are
never extracted; every archive unpacks into a folder of its own. Limits are enforced on the bytes
actually read, not on what headers claim, and every entry that is not taken is listed with the
reason, so a limit hit is never a silent partial result.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

XML_SUFFIX = ".xml"
ZIP_SUFFIX = ".zip"
UNSUPPORTED_ARCHIVES = {".rar": "RAR", ".7z": "7-Zip", ".tar": "TAR", ".gz": "gzip", ".tgz": "TAR",
                        ".bz2": "bzip2", ".xz": "xz"}
GROUP_BY_CHOICES = ("archive", "type", "folder")
_CHUNK = 1 << 20
_CONTAINER_NAME = re.compile(r"_\d{8}_\d{4}(\d{2})?$")
_LEADING_DIGITS = re.compile(r"^\d+_")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)


class IntakeCancelled(Exception):
    pass


@dataclass(frozen=True)
class IntakeLimits:
    max_total_bytes: int = 2 * 1024**3
    max_files: int = 20_000
    max_ratio: float = 200.0
    ratio_applies_above: int = 1024**2
    max_depth: int = 10

    @classmethod
    def from_settings(cls, settings) -> IntakeLimits:
        """The limits of a ``config.Settings``."""
        return cls(max_total_bytes=settings.intake_max_bytes, max_files=settings.intake_max_files,
                   max_ratio=settings.intake_max_ratio, max_depth=settings.intake_max_depth)


@dataclass(frozen=True)
class Document:
    chain: tuple[str, ...]  # ("outer.zip", "inner.zip", "dir/a.xml"), or the path of a loose file
    path: Path  # where the bytes are on disk
    group: str
    size: int

    @property
    def display(self) -> str:
        return "/".join(self.chain)


@dataclass(frozen=True)
class Skipped:
    chain: tuple[str, ...]
    reason: str

    @property
    def display(self) -> str:
        return "/".join(self.chain)


@dataclass
class IntakeReport:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    limits_hit: list[str] = field(default_factory=list)  # which limits stopped intake, in words

    def to_json(self, base: Path) -> dict:
        """A JSON form; document paths under ``base`` are stored relative to it."""
        def where(path: Path) -> str:
            return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)

        return {
            "documents": [{"chain": list(d.chain), "path": where(d.path), "group": d.group, "size": d.size}
                          for d in self.documents],
            "skipped": [{"chain": list(s.chain), "reason": s.reason} for s in self.skipped],
            "limits_hit": list(self.limits_hit),
        }

    @classmethod
    def from_json(cls, data: dict, base: Path) -> IntakeReport:
        return cls(
            [Document(tuple(d["chain"]), base / d["path"], d["group"], d["size"]) for d in data["documents"]],
            [Skipped(tuple(s["chain"]), s["reason"]) for s in data["skipped"]],
            list(data["limits_hit"]),
        )

    def extend(self, other: IntakeReport) -> None:
        self.documents += other.documents
        self.skipped += other.skipped
        self.limits_hit += [hit for hit in other.limits_hit if hit not in self.limits_hit]

    def rename_group(self, old: str, new: str) -> int:
        """Move the documents of group ``old`` into group ``new`` (a merge when ``new`` exists);
        returns how many moved."""
        new = new.strip()
        if not new:
            raise ValueError("a group needs a name")
        moved = 0
        for i, document in enumerate(self.documents):
            if document.group == old:
                self.documents[i] = replace(document, group=new)
                moved += 1
        return moved

    @property
    def groups(self) -> dict[str, list[Document]]:
        result: dict[str, list[Document]] = {}
        for document in self.documents:
            result.setdefault(document.group, []).append(document)
        return dict(sorted(result.items()))


def archive_group(archive_name: str) -> str:
    """The group a business archive names: ``4_AR_payment_term.zip`` -> ``AR_PAYMENT_TERM``."""
    stem = PurePosixPath(archive_name).name
    stem = stem[: -len(ZIP_SUFFIX)] if stem.lower().endswith(ZIP_SUFFIX) else stem
    return _LEADING_DIGITS.sub("", stem).upper() or "ARCHIVE"


def is_container_archive(archive_name: str) -> bool:
    """A container archive (``export_20240131_1200.zip``) hands each inner archive its own group."""
    stem = PurePosixPath(archive_name).name
    stem = stem[: -len(ZIP_SUFFIX)] if stem.lower().endswith(ZIP_SUFFIX) else stem
    return bool(_CONTAINER_NAME.search(stem))


def loose_file_group(file_name: str) -> str:
    """Loose XML files group by the alphabetic prefix of their name: ``AR_TERM_01.xml`` -> ``AR_TERM``."""
    match = re.match(r"[A-Za-z_-]+", PurePosixPath(file_name).name)
    prefix = match.group(0).strip("_-") if match else ""
    return prefix.upper() or "MISC"


def safe_member_path(name: str) -> PurePosixPath | None:
    """The relative path an archive entry may be written to, or None when its name is unsafe.

    Backslashes count as separators, drive letters and leading slashes are dropped, and a name with
    a ``..`` part, or nothing left, is unsafe. Names reserved by Windows get a leading underscore.
    """
    cleaned = name.replace("\\", "/")
    cleaned = re.sub(r"^[A-Za-z]:", "", cleaned)
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    safe_parts = []
    for part in parts:
        part = "".join(ch if ch.isprintable() and ch not in '<>:"|?*' else "_" for ch in part)
        part = part.rstrip(" .") or "_"
        if _WINDOWS_RESERVED.match(part):
            part = "_" + part
        safe_parts.append(part)
    return PurePosixPath(*safe_parts)


class _Intake:
    def __init__(self, target: Path, limits: IntakeLimits, group_by: str,
                 should_cancel: Callable[[], bool], on_progress: Callable[[str], None]) -> None:
        self.target = target
        self.limits = limits
        self.group_by = group_by
        self.should_cancel = should_cancel
        self.on_progress = on_progress
        self.report = IntakeReport()
        self.total_bytes = 0
        self.files = 0
        existing = [int(m.group(1)) for p in target.iterdir() if (m := re.match(r"a(\d{5,})-", p.name))]
        self.archive_count = max(existing, default=0)
        self.created: list[Path] = []  # archive folders made by this intake, removed if it is cancelled

    # -- limits
    def _limit(self, chain: tuple[str, ...], kind: str) -> None:
        """Skip ``chain`` because limit ``kind`` (files, bytes, depth, ratio) was hit, and say so."""
        limits = self.limits
        total = _size(limits.max_total_bytes)
        which, reason = {
            "files": (f"file count ({limits.max_files:,})", f"over the limit of {limits.max_files:,} files"),
            "bytes": (f"total size ({total})", f"over the total unpacked size limit of {total}"),
            "depth": (f"nesting depth ({limits.max_depth})", f"nested more than {limits.max_depth} archives deep"),
            "ratio": (f"compression ratio ({limits.max_ratio:g})",
                      f"compression ratio over {limits.max_ratio:g} (a ZIP bomb?)"),
        }[kind]
        if which not in self.report.limits_hit:
            self.report.limits_hit.append(which)
        self.report.skipped.append(Skipped(chain, reason))

    def _over_count_or_bytes(self, chain: tuple[str, ...]) -> bool:
        if self.files >= self.limits.max_files:
            self._limit(chain, "files")
            return True
        if self.total_bytes >= self.limits.max_total_bytes:
            self._limit(chain, "bytes")
            return True
        return False

    # -- inputs
    def add_input(self, path: Path) -> None:
        chain = (path.name or str(path),)
        if path.is_symlink():
            self.report.skipped.append(Skipped(chain, "a link; links are not followed"))
        elif path.is_dir():
            self._add_folder(path)
        elif not path.exists():
            self.report.skipped.append(Skipped((str(path),), "no such file or folder"))
        elif path.suffix.lower() == ZIP_SUFFIX:
            self._add_archive(path, chain, depth=1, inherited_group=None)
        elif path.suffix.lower() == XML_SUFFIX:
            self._add_loose_xml(path, chain)
        else:
            self.report.skipped.append(Skipped(chain, _not_taken_reason(path.name)))

    def _add_folder(self, folder: Path) -> None:
        """Every file below ``folder``; chains start at the folder's own name."""
        for root, dirs, files in os.walk(folder, followlinks=False):
            dirs.sort()
            root_path = Path(root)
            base = (folder.name, *root_path.relative_to(folder).parts)
            for name in dirs:
                if (root_path / name).is_symlink():
                    self.report.skipped.append(Skipped((*base, name), "a link; links are not followed"))
            for name in sorted(files):
                self._check_cancel()
                path = root_path / name
                chain = (*base, name)
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode):
                    self.report.skipped.append(Skipped(chain, "a link; links are not followed"))
                elif not stat.S_ISREG(mode):
                    self.report.skipped.append(Skipped(chain, "not a regular file"))
                elif name.lower().endswith(ZIP_SUFFIX):
                    self._add_archive(path, chain, depth=1, inherited_group=None)
                elif name.lower().endswith(XML_SUFFIX):
                    self._add_loose_xml(path, chain)
                else:
                    self.report.skipped.append(Skipped(chain, _not_taken_reason(name)))

    def _add_loose_xml(self, path: Path, chain: tuple[str, ...]) -> None:
        if self._over_count_or_bytes(chain):
            return
        size = path.stat().st_size  # read in place: counts as a file, not as unpacked bytes
        self.files += 1
        group = ("/".join(chain[:-1]) or ".") if self.group_by == "folder" else loose_file_group(path.name)
        self.report.documents.append(Document(chain, path, group, size))
        self.on_progress("/".join(chain))

    # -- archives
    def _archive_folder(self, name: str) -> Path:
        self.archive_count += 1
        stem = safe_member_path(PurePosixPath(name.replace("\\", "/")).name) or PurePosixPath("archive")
        folder = self.target / f"a{self.archive_count:05d}-{stem.name}"
        folder.mkdir(parents=True)
        self.created.append(folder)
        return folder

    def _add_archive(self, path: Path, chain: tuple[str, ...], depth: int, inherited_group: str | None) -> None:
        if depth > self.limits.max_depth:
            self._limit(chain, "depth")
            return
        name = chain[-1]
        if inherited_group is not None:
            group = inherited_group
        elif is_container_archive(name):
            group = None  # each inner archive names its own group
        else:
            group = archive_group(name)
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            self.report.skipped.append(Skipped(chain, f"not a readable ZIP archive ({exc})"))
            return
        with archive:
            folder = self._archive_folder(name)
            for info in archive.infolist():
                self._check_cancel()
                self._add_member(archive, info, folder, chain, depth, group)

    def _add_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path,
                    chain: tuple[str, ...], depth: int, group: str | None) -> None:
        member_chain = (*chain, info.filename)
        if info.is_dir():
            return
        kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
        if kind == stat.S_IFLNK:
            self.report.skipped.append(Skipped(member_chain, "a symbolic link; links are never extracted"))
            return
        if kind and kind != stat.S_IFREG:
            self.report.skipped.append(Skipped(member_chain, "a device or special file; never extracted"))
            return
        relative = safe_member_path(info.filename)
        if relative is None:
            self.report.skipped.append(Skipped(member_chain, "unsafe name (would write outside its folder)"))
            return
        lower = relative.name.lower()
        is_zip, is_xml = lower.endswith(ZIP_SUFFIX), lower.endswith(XML_SUFFIX)
        if not (is_zip or is_xml):
            self.report.skipped.append(Skipped(member_chain, _not_taken_reason(relative.name)))
            return
        if info.flag_bits & 0x1:
            self.report.skipped.append(Skipped(member_chain, "encrypted; password-protected entries are not supported"))
            return
        if is_zip and depth + 1 > self.limits.max_depth:  # refused before it is even extracted
            self._limit(member_chain, "depth")
            return
        if self._over_count_or_bytes(member_chain):
            return
        destination = folder / relative
        if not destination.resolve().is_relative_to(folder.resolve()):
            self.report.skipped.append(Skipped(member_chain, "unsafe name (would write outside its folder)"))
            return
        if destination.exists():
            self.report.skipped.append(Skipped(member_chain, "a second entry with the same name; the first is kept"))
            return
        written = self._extract(archive, info, destination, member_chain)
        if written is None:
            return
        self.files += 1
        if is_zip:
            self.total_bytes += written
            inner_group = group if group is not None else archive_group(relative.name)
            self._add_archive(destination, member_chain, depth + 1, inherited_group=inner_group)
            destination.unlink()  # its contents are extracted; the archive file itself is no document
            self.total_bytes -= written
        else:
            self.total_bytes += written
            document_group = self._member_group(group, chain, relative)
            self.report.documents.append(Document(member_chain, destination, document_group, written))
            self.on_progress("/".join(member_chain))

    def _member_group(self, group: str | None, chain: tuple[str, ...], relative: PurePosixPath) -> str:
        if self.group_by == "folder":
            return "/".join((*chain, *relative.parent.parts))
        if group is None:  # an XML file lying directly in a container archive
            return loose_file_group(relative.name)
        return group

    def _extract(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path,
                 chain: tuple[str, ...]) -> int | None:
        """Copy one entry, counting the bytes really produced; None (and nothing left) if refused."""
        budget = self.limits.max_total_bytes - self.total_bytes
        written = 0
        limit_hit = None
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(destination, "xb") as sink:
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    if written > budget:
                        limit_hit = "bytes"
                        break
                    if (written > self.limits.ratio_applies_above
                            and written > self.limits.max_ratio * max(info.compress_size, 1)):
                        limit_hit = "ratio"
                        break
                    sink.write(chunk)
                    self._check_cancel()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            destination.unlink(missing_ok=True)
            self.report.skipped.append(Skipped(chain, f"damaged or unreadable entry ({exc})"))
            return None
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        if limit_hit is not None:
            destination.unlink(missing_ok=True)
            self._limit(chain, limit_hit)
            return None
        return written

    def _check_cancel(self) -> None:
        if self.should_cancel():
            raise IntakeCancelled()


def take_in(
    inputs: Iterable[Path],
    target: Path,
    limits: IntakeLimits = IntakeLimits(),
    group_by: str = "archive",
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[str], None] = lambda name: None,
) -> IntakeReport:
    """Extract and list the XML documents of ``inputs``; each archive unpacks into a new folder of
    ``target``, and loose XML files are read where they are.

    With ``group_by="type"`` the groups are assigned later, from each document's root element
    (see ``xmlflat``); here they follow the archive rule. On cancel (``IntakeCancelled``) everything
    extracted so far is removed.
    """
    if group_by not in GROUP_BY_CHOICES:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY_CHOICES)}")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    intake = _Intake(target, limits, group_by, should_cancel, on_progress)
    try:
        for path in inputs:
            intake.add_input(Path(path))
    except IntakeCancelled:
        for folder in intake.created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return intake.report


def _not_taken_reason(name: str) -> str:
    suffix = PurePosixPath(name.lower()).suffix
    if suffix in UNSUPPORTED_ARCHIVES:
        return f"{UNSUPPORTED_ARCHIVES[suffix]} archives are not supported (only ZIP)"
    return f"not XML ({suffix or 'no extension'})"


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"
