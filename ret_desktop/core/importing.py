"""Safe intake of ZIP archives (nested), loose XML files and folders.

Nothing is ever written outside the target folder, whatever entry names say; links and devices are
never extracted; every archive unpacks into a folder of its own. Limits are enforced on the bytes
actually read, not on what headers claim, and every entry that is not taken is listed with the
reason, so a limit hit is never a silent partial result. What a file is (XML, ZIP, neither) is
decided by its first bytes, not its name. No error of one entry stops the others; only a full disk
or the file limit stops an intake, and the rest is then listed as not read.
"""

from __future__ import annotations

import bisect
import bz2
import codecs
import copy
import errno
import hashlib
import io
import lzma
import os
import re
import shutil
import stat
import struct
import zipfile
import zlib
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from ret_desktop.core.scratch import is_scratch_name

XML_SUFFIX = ".xml"
ZIP_SUFFIX = ".zip"
UNSUPPORTED_ARCHIVES = {".rar": "RAR", ".7z": "7-Zip", ".tar": "TAR", ".gz": "gzip", ".tgz": "TAR",
                        ".bz2": "bzip2", ".xz": "xz"}
# ZIP files that are documents of another kind, not archives someone brought to unpack
ZIP_BASED_DOCUMENTS = {".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".odt", ".ods", ".odp", ".odg", ".epub",
                       ".jar", ".war", ".ear", ".apk", ".whl", ".xpi", ".vsix", ".nupkg", ".3mf"}
GROUP_BY_CHOICES = ("archive", "type", "folder")
SNIFF_BYTES = 8192  # how much of a file decides what it is
_CHUNK = 1 << 20
_FEED = 1 << 14  # compressed bytes handed to a decompressor at a time
_CONTAINER_NAME = re.compile(r"_\d{8}_\d{4}(\d{2})?$")
_LEADING_DIGITS = re.compile(r"^\d+_")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ARCHIVE_MAGIC = {b"Rar!\x1a\x07": "RAR", b"7z\xbc\xaf\x27\x1c": "7-Zip"}
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_BARE_WIDE_STARTS = ((b"\0\0\0<", "utf-32-be"), (b"<\0\0\0", "utf-32-le"), (b"\0<", "utf-16-be"), (b"<\0", "utf-16-le"))
_SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_METHOD_NAMES = {9: "Deflate64", 10: "PKWARE DCL Implode", 93: "Zstandard", 95: "XZ", 96: "JPEG", 97: "WavPack",
                 98: "PPMd", 99: "AES encryption"}
_MAX_NAME_BYTES = 143  # a name longer than this is shortened; fits every common file system (eCryptfs: 143)
_MAX_PATH_BYTES = 3000  # a path longer than this is flattened; PATH_MAX is 4096 on Linux
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_CENTRAL_RECORD_SIZE = 46  # the fixed part of a central directory record: no entry takes less
_SCRATCH_REASON = "scratch of a RET Desktop run; never taken in"


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


def sniff_kind(prefix: bytes) -> str | None:
    """What the first bytes of a file say it is: ``"xml"``, ``"zip"``, or None for anything else.

    XML starts with a byte order mark, ``<?xml``, or (after white space, comments, processing
    instructions and a doctype) a root element, in UTF-8, UTF-16 or UTF-32.
    """
    if prefix.startswith(_ZIP_MAGIC):
        return "zip"
    for bom, encoding in _BOMS:
        if prefix.startswith(bom):
            return "xml" if _starts_like_xml(prefix[len(bom):].decode(encoding, "ignore")) else None
    for start, encoding in _BARE_WIDE_STARTS:
        if prefix.startswith(start):
            return "xml" if _starts_like_xml(prefix.decode(encoding, "ignore")) else None
    return "xml" if _starts_like_xml(prefix.decode("latin-1")) else None


def _starts_like_xml(text: str) -> bool:
    """Whether ``text`` opens like an XML document; a prefix that ends inside its prolog counts."""
    position, end = 0, len(text)
    while True:
        while position < end and text[position] in " \t\r\n":
            position += 1
        if position >= end or text[position] != "<":
            return False
        if text.startswith("<?", position):
            if text.startswith("<?xml", position):
                return True
            close = text.find("?>", position + 2)
            position = close + 2
        elif text.startswith("<!--", position):
            close = text.find("-->", position + 4)
            position = close + 3
        elif text.startswith("<!DOCTYPE", position):
            close = _doctype_end(text, position + 9)
            position = close + 1
        else:
            following = text[position + 1:position + 2]
            return bool(following) and (following.isalpha() or following in "_:" or ord(following) > 0x7F)
        if close < 0:
            return True  # the prefix ends inside the prolog of what is so far an XML document


def _doctype_end(text: str, position: int) -> int:
    """Where the doctype's closing ``>`` is (its internal subset and quoted parts skipped), or -1."""
    depth, quote = 0, ""
    for index in range(position, len(text)):
        char = text[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == ">" and depth <= 0:
            return index
    return -1


def sniff_file(path: Path) -> str | None:
    """What intake takes the file at ``path`` for: ``"xml"``, ``"zip"``, or None (not taken)."""
    with open(path, "rb") as source:
        return _kind_of(Path(path).name, source.read(SNIFF_BYTES))[0]


def _kind_of(name: str, prefix: bytes) -> tuple[str | None, str]:
    """``("xml" | "zip", "")`` for what is taken in, else ``(None, why not)``."""
    suffix = PurePosixPath(name.lower()).suffix
    kind = sniff_kind(prefix)
    if kind == "zip" and suffix in ZIP_BASED_DOCUMENTS:
        kind = None
    elif kind is None and suffix == ZIP_SUFFIX:
        kind = "zip"  # tried as one, and reported as not readable if it is not
    if kind is not None:
        return kind, ""
    for magic, label in _ARCHIVE_MAGIC.items():
        if prefix.startswith(magic):
            return None, f"{label} archives are not supported (only ZIP)"
    if suffix in UNSUPPORTED_ARCHIVES:
        return None, f"{UNSUPPORTED_ARCHIVES[suffix]} archives are not supported (only ZIP)"
    if suffix == XML_SUFFIX:
        return None, "not XML (the content is not XML despite the .xml name)" if prefix else "not XML (empty)"
    return None, f"not XML ({suffix or 'no extension'})"


def short_name(name: str) -> str:
    """``name``, or a shorter one that every common file system takes: the start of its stem, a short
    hash of the whole name (so two long names stay apart, run after run) and its suffix."""
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= _MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(encoded).hexdigest()[:12]
    suffix = PurePosixPath(name).suffix
    if len(suffix.encode("utf-8", "surrogateescape")) > 16:
        suffix = ""
    room = _MAX_NAME_BYTES - len(digest) - 1 - len(suffix.encode("utf-8", "surrogateescape"))
    stem = name[: len(name) - len(suffix)].encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return f"{stem}~{digest}{suffix}"


class _WriteError(Exception):
    """Writing an extracted entry failed (``__cause__`` is the OSError); reading it went well."""


class _TooManyEntries(Exception):
    """An archive lists more entries (``args[0]``) than the file limit leaves, and cannot be read
    only in part."""


class _Intake:
    def __init__(self, target: Path, limits: IntakeLimits, group_by: str,
                 should_cancel: Callable[[], bool], on_progress: Callable[[str], None],
                 not_inputs: Iterable[Path] = ()) -> None:
        self.target = target
        # folders never taken in when met inside an input folder (the run's own output), by identity
        self.not_inputs = {_identity(path) for path in (target, *not_inputs)} - {None}
        self.limits = limits
        self.group_by = group_by
        self.should_cancel = should_cancel
        self.on_progress = on_progress
        self.report = IntakeReport()
        self.total_bytes = 0
        self.files = 0  # every file looked at counts, taken or not
        self.stopped: str | None = None  # why nothing more is read (file limit, full disk)
        existing = [int(m.group(1)) for p in target.iterdir() if (m := re.match(r"a(\d{5,})-", p.name))]
        self.archive_count = max(existing, default=0)
        self.created: list[Path] = []  # archive folders made by this intake, removed if it is cancelled

    # -- limits
    def _limit(self, chain: tuple[str, ...], kind: str) -> None:
        """Skip ``chain`` because limit ``kind`` (bytes, depth, ratio) was hit, and say so."""
        limits = self.limits
        which, reason = {
            "bytes": (f"total size ({_size(limits.max_total_bytes)})",
                      f"over the total unpacked size limit of {_size(limits.max_total_bytes)}"),
            "depth": (f"nesting depth ({limits.max_depth})", f"nested more than {limits.max_depth} archives deep"),
            "ratio": (f"compression ratio ({limits.max_ratio:g})",
                      f"compression ratio over {limits.max_ratio:g} (a ZIP bomb?)"),
        }[kind]
        self._limit_hit(which)
        self.report.skipped.append(Skipped(chain, reason))

    def _limit_hit(self, which: str) -> None:
        if which not in self.report.limits_hit:
            self.report.limits_hit.append(which)

    def _may_go_on(self) -> bool:
        """False once nothing more may be read: the file limit is reached, or the disk was full."""
        if self.stopped is None and self.files >= self.limits.max_files:
            self._stop_at_file_limit()
        return self.stopped is None

    def _stop_at_file_limit(self) -> None:
        if self.stopped is None:
            self.stopped = f"over the limit of {self.limits.max_files:,} files"
            self._limit_hit(f"file count ({self.limits.max_files:,})")

    def _not_read(self, chain: tuple[str, ...], count: int | None, noun: str) -> None:
        """List what an intake that stopped did not read: one line for the rest of an archive or folder."""
        if count is None:
            self.report.skipped.append(Skipped(chain, f"not read: {self.stopped}"))
        elif count:
            plural = {"entry": "entries", "file": "files"}[noun] if count != 1 else noun
            self.report.skipped.append(Skipped(chain, f"{count:,} more {plural} not read: {self.stopped}"))

    def _guarded(self, chain: tuple[str, ...], work: Callable[[], None], damaged: str = "cannot read") -> None:
        """Run the work for one input or entry: a full disk stops the intake, any other error skips
        only ``chain``, with the reason (``damaged`` says what a read error means)."""
        try:
            work()
        except IntakeCancelled:
            raise
        except _WriteError as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError) and cause.errno in _DISK_FULL:
                self.stopped = "disk full"
                self._limit_hit("disk full")
                self.report.skipped.append(Skipped(chain, f"disk full: not written ({cause.strerror}); "
                                                          "nothing more is taken in"))
            else:
                self.report.skipped.append(Skipped(chain, f"cannot be written here ({_describe(cause)})"))
        except NotImplementedError as exc:
            self.report.skipped.append(Skipped(chain, f"unsupported ({_describe(exc)})"))
        except Exception as exc:  # noqa: BLE001 - a damaged entry may fail in any way; it must not stop the rest
            self.report.skipped.append(Skipped(chain, f"{damaged} ({_describe(exc)})"))

    # -- inputs
    def add_input(self, path: Path) -> None:
        chain = (path.name or str(path),)
        if not self._may_go_on():
            self._not_read(chain, None, "file")
            return
        self._guarded(chain, lambda: self._add_path(path, chain))

    def _add_path(self, path: Path, chain: tuple[str, ...]) -> None:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            self.report.skipped.append(Skipped((str(path),), "no such file or folder"))
            return
        if stat.S_ISLNK(mode):
            self.report.skipped.append(Skipped(chain, "a link; links are not followed"))
        elif stat.S_ISDIR(mode):
            self._add_folder(path)
        elif not stat.S_ISREG(mode):
            self.report.skipped.append(Skipped(chain, "not a regular file"))
        else:
            self._add_file(path, chain)

    def _add_folder(self, folder: Path) -> None:
        """Every file below ``folder``; chains start at the folder's own name."""
        def unreadable(error: OSError) -> None:
            where = Path(error.filename or folder)
            parts = where.relative_to(folder).parts if where.is_relative_to(folder) else ()
            self.report.skipped.append(Skipped((folder.name, *parts), f"cannot read this folder ({error.strerror})"))

        not_read = 0
        for root, dirs, files in os.walk(folder, onerror=unreadable, followlinks=False):
            dirs.sort()
            root_path = Path(root)
            base = (folder.name, *root_path.relative_to(folder).parts)
            for name in list(dirs):
                why_not = self._why_not_a_folder(root_path / name, name)
                if why_not:
                    dirs.remove(name)
                    self.report.skipped.append(Skipped((*base, name), why_not))
            for name in sorted(files):
                self._check_cancel()
                if is_scratch_name(name):
                    self.report.skipped.append(Skipped((*base, name), _SCRATCH_REASON))
                    continue
                if not self._may_go_on():
                    not_read += 1
                    continue
                path, chain = root_path / name, (*base, name)
                self._guarded(chain, lambda: self._add_path(path, chain))
        if not_read:
            self._not_read((folder.name,), not_read, "file")

    def _why_not_a_folder(self, path: Path, name: str) -> str:
        """Why the folder ``path`` met inside an input folder is not walked, or ``""``."""
        if is_scratch_name(name):
            return _SCRATCH_REASON
        try:
            status = path.lstat()
        except OSError:
            return ""  # os.walk reports it
        if stat.S_ISLNK(status.st_mode):
            return "a link; links are not followed"
        if (status.st_dev, status.st_ino) in self.not_inputs:
            return "the output folder of this run; never taken in"
        return ""

    def _add_file(self, path: Path, chain: tuple[str, ...]) -> None:
        """A regular file on disk (given, or in a given folder): an archive to unpack, XML read in place."""
        with open(path, "rb") as source:
            kind, reason = _kind_of(path.name, source.read(SNIFF_BYTES))
        if kind == "zip":
            self._add_archive(path, chain, depth=1, inherited_group=None)
            return
        self.files += 1
        if kind is None:
            self.report.skipped.append(Skipped(chain, reason))
            return
        group = ("/".join(chain[:-1]) or ".") if self.group_by == "folder" else loose_file_group(path.name)
        self.report.documents.append(Document(chain, path, group, path.stat().st_size))
        self.on_progress("/".join(chain))

    # -- archives
    def _archive_folder(self, name: str) -> Path:
        self.archive_count += 1
        stem = safe_member_path(PurePosixPath(name.replace("\\", "/")).name) or PurePosixPath("archive")
        folder = self.target / short_name(f"a{self.archive_count:05d}-{stem.name}")
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise _WriteError() from exc
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
        with ExitStack() as closing:
            try:
                archive, refused, unread = _open_zip(path, closing, max(0, self.limits.max_files - self.files))
            except _TooManyEntries as refusal:
                self._limit_hit(f"file count ({self.limits.max_files:,})")
                self.report.skipped.append(Skipped(chain, f"not read: it lists {refusal.args[0]:,} entries, "
                                                          f"over the limit of {self.limits.max_files:,} files"))
                return
            except Exception as exc:  # noqa: BLE001 - whatever a damaged archive raises, it is one skipped archive
                self.report.skipped.append(Skipped(chain, f"not a readable ZIP archive ({_describe(exc)})"))
                return
            closing.enter_context(archive)
            entries = list(enumerate(archive.infolist()))
            folder = self._archive_folder(name)
            taken: set[str] = set()
            for position, (index, info) in enumerate(entries):
                self._check_cancel()
                if not self._may_go_on():
                    self._not_read(chain, len(entries) - position + unread, "entry")
                    break
                member_chain = (*chain, info.filename)
                self.files += 1  # a folder entry counts too: each one costs memory
                if info.filename.endswith("/"):
                    continue  # folders are made as their files need them
                if index in refused:
                    self.report.skipped.append(Skipped(member_chain, refused[index]))
                    continue
                self._guarded(member_chain, lambda: self._add_member(archive, info, folder, member_chain, depth,
                                                                     group, taken), "damaged or unreadable entry")
            else:
                if unread:  # the entries past the file limit, which the view of the archive left out
                    self._stop_at_file_limit()
                    self._not_read(chain, unread, "entry")

    def _add_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path,
                    member_chain: tuple[str, ...], depth: int, group: str | None,
                    taken: set[str]) -> None:
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
        if info.flag_bits & 0x1:
            self.report.skipped.append(Skipped(member_chain, "encrypted; password-protected entries are not supported"))
            return
        if info.compress_type not in _SUPPORTED_METHODS:
            method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            self.report.skipped.append(Skipped(member_chain, f"unsupported compression ({method})"))
            return
        if relative.name.lower().endswith(ZIP_SUFFIX) and depth + 1 > self.limits.max_depth:
            self._limit(member_chain, "depth")  # refused before it is even read
            return
        if self.total_bytes >= self.limits.max_total_bytes:
            self._limit(member_chain, "bytes")
            return
        if info.filename in taken:  # names that only clean to the same name are both taken (see _free_path)
            self.report.skipped.append(Skipped(member_chain, "a second entry with the same name; the first is kept"))
            return
        taken.add(info.filename)
        extracted = self._extract(archive, info, folder, relative, member_chain, depth)
        if extracted is None:
            return
        destination, kind_found, written = extracted
        self.total_bytes += written
        if kind_found == "zip":
            try:
                inner_group = group if group is not None else archive_group(relative.name)
                self._add_archive(destination, member_chain, depth + 1, inherited_group=inner_group)
            finally:
                with suppress(OSError):  # its contents are extracted; the archive file itself is no document
                    destination.unlink()
                self.total_bytes -= written
        else:
            document_group = self._member_group(group, member_chain[:-1], relative)
            self.report.documents.append(Document(member_chain, destination, document_group, written))
            self.on_progress("/".join(member_chain))

    def _member_group(self, group: str | None, chain: tuple[str, ...], relative: PurePosixPath) -> str:
        if self.group_by == "folder":
            return "/".join((*chain, *relative.parent.parts))
        if group is None:  # an XML file lying directly in a container archive
            return loose_file_group(relative.name)
        return group

    def _extract(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, relative: PurePosixPath,
                 chain: tuple[str, ...], depth: int) -> tuple[Path, str, int] | None:
        """Copy one entry that its first bytes show to be XML or ZIP, counting the bytes really
        produced: ``(where, kind, bytes)``, or None (and nothing left on disk) when it is not taken."""
        budget = self.limits.max_total_bytes - self.total_bytes
        with _EntryReader(archive, info) as source:
            prefix = source.read(SNIFF_BYTES)
            kind, reason = _kind_of(relative.name, prefix)
            if kind is None:
                self.report.skipped.append(Skipped(chain, reason))
                return None
            if kind == "zip" and depth + 1 > self.limits.max_depth:
                self._limit(chain, "depth")
                return None
            try:
                destination = _free_path(folder, relative)
                destination.parent.mkdir(parents=True, exist_ok=True)
                sink = open(destination, "xb", buffering=0)  # unbuffered: a full disk shows at the write
            except OSError as exc:
                raise _WriteError() from exc
            try:
                with sink:
                    limit_hit, written = self._copy(prefix, source, sink, budget, source.compressed_taken)
            except BaseException:
                with suppress(OSError):
                    destination.unlink()
                raise
        if limit_hit is not None:
            with suppress(OSError):
                destination.unlink()
            self._limit(chain, limit_hit)
            return None
        return destination, kind, written

    def _copy(self, chunk: bytes, source, sink, budget: int,
              compressed: Callable[[], int]) -> tuple[str | None, int]:
        """Copy ``chunk`` and the rest of ``source`` into ``sink`` until a limit says stop:
        ``(limit hit or None, bytes read)``; ``compressed()`` says how many bytes of the archive
        that took so far."""
        written = 0
        while chunk:
            written += len(chunk)
            if written > budget:
                return "bytes", written
            if written > self.limits.ratio_applies_above and written > self.limits.max_ratio * max(compressed(), 1):
                return "ratio", written
            view = memoryview(chunk)
            try:
                while view:
                    view = view[sink.write(view):]
            except OSError as exc:
                raise _WriteError() from exc
            self._check_cancel()
            chunk = source.read(_CHUNK)
        return None, written

    def _check_cancel(self) -> None:
        if self.should_cancel():
            raise IntakeCancelled()


class _EntryReader:
    """One entry's bytes, decompressed at most ``size`` bytes per ``read`` whatever the method, and
    how many bytes of the archive that took (for the ratio limit). zipfile's own reader hands bzip2
    and LZMA a whole compressed read at once: the 108 bytes of a 64 MiB bzip2 bomb come out in its
    first 8 KiB read, and 1 MiB of LZMA is gigabytes. Here the compressed bytes go in ``_FEED`` at a
    time and the output is capped; the CRC and size are checked at the end, as zipfile does."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        raw = copy.copy(info)  # the entry's compressed bytes as they are, through zipfile's header checks
        raw.compress_type, raw.file_size = zipfile.ZIP_STORED, info.compress_size
        del raw.CRC  # checked here, on the decompressed bytes
        self._info = info
        self._raw = archive.open(raw)
        method = info.compress_type
        self._decompressor = (_Inflate() if method == zipfile.ZIP_DEFLATED else
                              bz2.BZ2Decompressor() if method == zipfile.ZIP_BZIP2 else
                              _ZipLzma(info.file_size) if method == zipfile.ZIP_LZMA else _Stored())
        self._fed = self._size = self._crc = 0
        self._ended = False

    def __enter__(self) -> _EntryReader:
        return self

    def __exit__(self, *exc) -> None:
        self._raw.close()

    def read(self, size: int) -> bytes:
        parts = []
        while size > 0 and not self._ended:
            decompressor = self._decompressor
            if decompressor.eof:
                self._end()
                break
            piece = b""
            if decompressor.needs_input:
                piece = self._raw.read(_FEED)
                self._fed += len(piece)
            out = decompressor.decompress(piece, size)
            if not piece and not out and decompressor.needs_input:  # the entry's data is all read
                self._end()
                break
            parts.append(out)
            size -= len(out)
            self._size += len(out)
            self._crc = zlib.crc32(out, self._crc)
        return b"".join(parts)

    def compressed_taken(self) -> int:
        """How many bytes of the archive the entry has used so far: those read, less those its
        decompressor did not take (past the stream's end: a header may claim more than the data is)."""
        return self._fed - len(self._decompressor.unused_data)

    def _end(self) -> None:
        self._ended = True
        if self._crc != self._info.CRC or self._size != self._info.file_size:
            raise zipfile.BadZipFile(f"bad CRC-32 or size of {self._info.filename!r}")


class _Stored:
    """The decompressor interface of ``bz2.BZ2Decompressor`` for bytes stored as they are."""

    eof = False

    def __init__(self) -> None:
        self._pending = b""

    @property
    def unused_data(self) -> bytes:
        return self._pending

    @property
    def needs_input(self) -> bool:
        return not self._pending

    def decompress(self, data: bytes, max_length: int) -> bytes:
        data = self._pending + data
        self._pending = data[max_length:]
        return data[:max_length]


class _Inflate:
    """A ZIP's raw deflate stream through the decompressor interface of ``bz2.BZ2Decompressor``."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    @property
    def needs_input(self) -> bool:
        return not self._zlib.unconsumed_tail

    @property
    def unused_data(self) -> bytes:  # not decompressed yet, or past the stream's end
        return self._zlib.unconsumed_tail + self._zlib.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._zlib.decompress(self._zlib.unconsumed_tail + data, max_length)


_LZMA_MAX_DICTIONARY = 64 * 1024**2  # the largest any xz or 7-Zip preset uses


class _ZipLzma:
    """LZMA as a ZIP stores it (a version, the size of the properties, the properties, then a raw
    LZMA1 stream) through the decompressor interface of ``bz2.BZ2Decompressor``. Its dictionary,
    memory held while the entry decompresses, is never larger than the entry claims to be (no honest
    stream refers further back; a longer one fails the size check anyway), and an entry needing
    more than ``_LZMA_MAX_DICTIONARY`` is refused, so a header cannot make it take gigabytes."""

    def __init__(self, size: int) -> None:
        self._largest_dictionary = max(size, 4096)  # liblzma's smallest
        self._header = b""
        self._lzma: lzma.LZMADecompressor | None = None

    @property
    def eof(self) -> bool:
        return self._lzma is not None and self._lzma.eof

    @property
    def needs_input(self) -> bool:
        return self._lzma is None or self._lzma.needs_input

    @property
    def unused_data(self) -> bytes:
        return self._header if self._lzma is None else self._lzma.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._lzma is None:
            self._header += data
            end = 4 + struct.unpack_from("<H", self._header, 2)[0] if len(self._header) >= 4 else None
            if end is None or len(self._header) < end:
                return b""
            properties, data, self._header = self._header[4:end], self._header[end:], b""
            if len(properties) != 5 or properties[0] >= 9 * 5 * 5:
                raise lzma.LZMAError("invalid LZMA properties")
            literal_context, position = properties[0] % 9, properties[0] // 9
            named = int.from_bytes(properties[1:5], "little")
            dictionary = min(named, self._largest_dictionary)
            if dictionary > _LZMA_MAX_DICTIONARY:
                raise NotImplementedError(f"an LZMA dictionary of {_size(named)}; "
                                          f"at most {_size(_LZMA_MAX_DICTIONARY)} is read")
            self._lzma = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{
                "id": lzma.FILTER_LZMA1, "lc": literal_context, "lp": position % 5, "pb": position // 5,
                "dict_size": dictionary}])
        return self._lzma.decompress(data, max_length)


def _free_path(folder: Path, relative: PurePosixPath) -> Path:
    """Where ``relative`` can be written below ``folder``: every name short enough for the file
    system, a path no longer than the system takes, and never a file where a folder is or the
    reverse (``f.xml`` and ``f.xml/inner.xml``), nor over a file taken already (``a?b.xml`` cleaned
    to ``a_b.xml``): such a clash goes into ``~1/``, ``~2/``, ..."""
    parts = [short_name(part) for part in relative.parts]
    if len(os.fsencode(folder.joinpath(*parts))) > _MAX_PATH_BYTES:
        digest = hashlib.sha1(str(relative).encode("utf-8", "surrogateescape")).hexdigest()[:12]
        parts = ["~long", short_name(f"{digest}-{parts[-1]}")]
    for attempt in range(1000):
        base = folder / f"~{attempt}" if attempt else folder
        candidate = base.joinpath(*parts)
        if _is_free(folder, candidate):
            return candidate
    raise OSError(errno.EEXIST, "no free name for it in its folder")


def _is_free(folder: Path, candidate: Path) -> bool:
    """Whether ``candidate`` does not exist and every folder on the way is a folder or missing."""
    for step in (*reversed(candidate.parents[: len(candidate.parts) - len(folder.parts) - 1]), candidate):
        try:
            mode = step.lstat().st_mode
        except FileNotFoundError:
            return True
        if step == candidate or not stat.S_ISDIR(mode):
            return False
    return True


def _open_zip(path: Path, closing: ExitStack, keep_entries: int) -> tuple[zipfile.ZipFile, dict[int, str], int]:
    """The archive at ``path``; the entries (by index) it holds but cannot give, with the reason;
    and how many entries (files and folders) past the first ``keep_entries`` it holds, which are
    not even listed.

    Two things make ``zipfile`` read an archive through a view of it. It refuses a whole archive for
    the fault of one entry (a name flagged UTF-8 whose bytes are not, a "version needed" it does not
    know, a damaged extra field): the view mends those header bytes, so every other entry is still
    taken. And it holds the whole central directory in memory: when the archive may list more
    entries than may still be taken (by the count its end record declares, or by the size of its
    directory, which is what zipfile reads), the view ends after the last of them; when no such view
    can be made, ``_TooManyEntries`` refuses the archive before zipfile reads any of it.
    """
    source = closing.enter_context(open(path, "rb"))
    end = zipfile._EndRecData(source)  # zipfile's own reading of the end records (ZIP64 included)
    first_error: Exception | None = None
    if not end or (end[zipfile._ECD_ENTRIES_TOTAL] <= keep_entries
                   and end[zipfile._ECD_SIZE] <= _CENTRAL_RECORD_SIZE * keep_entries):
        try:
            return closing.enter_context(zipfile.ZipFile(source)), {}, 0
        except (UnicodeDecodeError, NotImplementedError, zipfile.BadZipFile) as exc:
            first_error = exc
    try:
        view, refused, unread = _mended_view(source, end, keep_entries)
        return closing.enter_context(zipfile.ZipFile(closing.enter_context(view))), refused, unread
    except _TooManyEntries:
        raise
    except Exception:  # noqa: BLE001 - no view helps: report what zipfile itself says of the archive
        if first_error is not None:
            raise first_error from None
    return closing.enter_context(zipfile.ZipFile(source)), {}, 0


def _mended_view(source, end, keep_entries: int) -> tuple[_MendedFile, dict[int, str], int]:
    """The view of ``source`` that ``_open_zip`` describes, the entries it refuses, and the number
    of entries it leaves out."""
    if not end:
        raise zipfile.BadZipFile("no end of central directory")
    size, offset = end[zipfile._ECD_SIZE], end[zipfile._ECD_OFFSET]
    concat = end[zipfile._ECD_LOCATION] - size - offset  # bytes before the archive (a self-extractor)
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    start = offset + concat
    patches: dict[int, int] = {}
    refused: dict[int, str] = {}
    kept = 0
    cut = None
    for position, header, name, extra in _central_records(source, start, size):
        if kept == keep_entries:
            cut = position
            break
        _mend_record(source, start + position, concat, header, name, extra, patches, refused, kept)
        kept += 1
    if cut is None:
        if not patches:
            raise zipfile.BadZipFile("nothing to mend")
        return _MendedFile(source, patches), refused, 0
    unread = max(end[zipfile._ECD_ENTRIES_TOTAL] - kept, 1)  # as declared (walking the rest would take long)
    if kept > 0xFFFF or offset > 0xFFFF_FFFF or cut > 0xFFFF_FFFF:
        raise _TooManyEntries(kept + unread)  # ending early would need ZIP64 end records of its own
    new_end = struct.pack(zipfile.structEndArchive, zipfile.stringEndArchive, 0, 0, kept, kept, cut, offset, 0)
    return _MendedFile(source, patches, start + cut, new_end), refused, unread


def _central_records(source, start: int, size: int):
    """``(position in the directory, fixed header fields, name, extra)`` of each central directory
    record, read as they come (a damaged one ends the list)."""
    source.seek(start)
    position = 0
    while position + _CENTRAL_RECORD_SIZE <= size:
        fixed = source.read(_CENTRAL_RECORD_SIZE)
        if len(fixed) < _CENTRAL_RECORD_SIZE or fixed[:4] != zipfile.stringCentralDir:
            return
        header = struct.unpack(zipfile.structCentralDir, fixed)
        name_length, extra_length, comment_length = header[12:15]
        name = source.read(name_length)
        extra = source.read(extra_length)
        source.seek(comment_length, io.SEEK_CUR)
        yield position, header, name, extra
        position += _CENTRAL_RECORD_SIZE + name_length + extra_length + comment_length
        source.seek(start + position)  # the caller may have read elsewhere


def _mend_record(source, at: int, concat: int, header: tuple, name: bytes, extra: bytes,
                 patches: dict[int, int], refused: dict[int, str], index: int) -> None:
    """Add the patches that let ``zipfile`` read the central directory record at ``at``, and note
    the entry as refused where its data still cannot be read."""
    needed, flags, sizes, local = header[3], header[5], header[10:12], header[18]
    if flags & 0x800 and not _is_utf8(name):
        _patch16(patches, at + 8, flags & ~0x800)  # read the name as code page 437
        source.seek(local + concat + 6)
        local_flags = source.read(2)
        if len(local_flags) == 2:
            _patch16(patches, local + concat + 6, struct.unpack("<H", local_flags)[0] & ~0x800)
    if needed > zipfile.MAX_EXTRACT_VERSION:
        patches[at + 6] = 20
        refused[index] = f"unsupported (needs ZIP version {needed / 10:.1f})"
    if not _extra_is_sound(extra, (*sizes, local)):
        extra_at = at + _CENTRAL_RECORD_SIZE + len(name)
        for offset in range(len(extra)):  # one unknown field in its place, or nothing
            patches[extra_at + offset] = 0
        if len(extra) >= 4:
            _patch16(patches, extra_at, 0xFFFF)
            _patch16(patches, extra_at + 2, len(extra) - 4)
        refused.setdefault(index, "damaged or unreadable entry (corrupt extra field)")


def _extra_is_sound(extra: bytes, sizes: tuple[int, int, int]) -> bool:
    """Whether ``zipfile`` can decode this extra field (the rules of ``ZipInfo._decodeExtra``)."""
    while len(extra) >= 4:
        kind, length = struct.unpack_from("<HH", extra)
        if length + 4 > len(extra):
            return False
        if kind == 0x0001 and length < 8 * sum(size == 0xFFFF_FFFF for size in sizes):
            return False
        extra = extra[length + 4:]
    return True


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _patch16(patches: dict[int, int], at: int, value: int) -> None:
    patches[at], patches[at + 1] = value & 0xFF, (value >> 8) & 0xFF


class _MendedFile(io.RawIOBase):
    """A read-only view of an open file with some bytes replaced in place and, if ``length`` is
    given, ending after ``length`` bytes of it followed by ``tail``."""

    def __init__(self, source, patches: dict[int, int], length: int | None = None, tail: bytes = b"") -> None:
        super().__init__()
        self._source = source
        self._offsets = sorted(patches)
        self._patches = patches
        self._length = length
        self._tail = tail
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _size(self) -> int:
        if self._length is None:
            return self._source.seek(0, io.SEEK_END)
        return self._length + len(self._tail)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: None}[whence]
        position = (self._size() if base is None else base) + offset
        if position < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer) -> int:
        start, wanted = self._position, len(buffer)
        limit = wanted if self._length is None else max(0, min(wanted, self._length - start))
        self._source.seek(start)
        count = self._source.readinto(memoryview(buffer)[:limit]) if limit else 0
        for at in self._offsets[bisect.bisect_left(self._offsets, start):
                                bisect.bisect_left(self._offsets, start + count)]:
            buffer[at - start] = self._patches[at]
        if self._length is not None and count == limit and count < wanted:
            piece = self._tail[max(0, start + count - self._length):][: wanted - count]
            buffer[count:count + len(piece)] = piece
            count += len(piece)
        self._position = start + count
        return count


def take_in(
    inputs: Iterable[Path],
    target: Path,
    limits: IntakeLimits = IntakeLimits(),
    group_by: str = "archive",
    should_cancel: Callable[[], bool] = lambda: False,
    on_progress: Callable[[str], None] = lambda name: None,
    not_inputs: Iterable[Path] = (),
) -> IntakeReport:
    """Extract and list the XML documents of ``inputs``; each archive unpacks into a new folder of
    ``target``, and loose XML files are read where they are.

    With ``group_by="type"`` the groups are assigned later, from each document's root element
    (see ``xmlflat``); here they follow the archive rule. On cancel (``IntakeCancelled``) everything
    extracted so far is removed. Inside input folders, ``target``, the folders ``not_inputs`` (the
    run's output folder, say) and scratch of any run are never taken in (listed as skipped).
    """
    if group_by not in GROUP_BY_CHOICES:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY_CHOICES)}")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    intake = _Intake(target, limits, group_by, should_cancel, on_progress, not_inputs)
    try:
        for path in inputs:
            intake.add_input(Path(path))
    except IntakeCancelled:
        for folder in intake.created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return intake.report


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = Path(path).stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, EOFError) and not str(exc):
        return "its data ends too early"
    return str(exc) or type(exc).__name__


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"
