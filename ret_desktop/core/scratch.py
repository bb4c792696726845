"""Scratch folders and part files, named with the process that owns them.

A run that is killed (SIGKILL, power loss) cannot remove its scratch. Because every scratch name
carries its owner (``procutil.owner_tag``: pid and start time, so that a reused pid does not pass
for the owner), the next run in the same folder, and the app's start-up sweep, remove what belongs
to a process that is gone. Only names of exactly these shapes are ever removed, so a user's file is
never touched:

- folders ``.ret-work-<owner>-<random>`` (an intake, a workbook, an export being put together);
- files ``.<final name>.ret-<owner>-<random>.part`` (a file being written, renamed when complete;
  ``fsutil``'s atomic writes too).

Scratch outside the runtime root (in an output folder the user picked) is also recorded under
``<runtime root>/scratch/`` while it exists (``record_scratch_in``), so that the start-up sweep knows
where to look after a kill. A record holds only the folder; it goes with the scratch.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ret_desktop.core.procutil import OWNER, owner_alive, owner_tag

log = logging.getLogger(__name__)

_FOLDER = re.compile(rf"^\.ret-work-({OWNER})-[a-z0-9_]{{6,}}$")
_PART = re.compile(rf"^\..+\.ret-({OWNER})-[a-z0-9_]{{6,}}\.part$")
_RECORD = re.compile(rf"^({OWNER})-[0-9a-f]{{16}}$")

_records_dir: Path | None = None
_records_lock = threading.Lock()


def is_scratch_name(name: str) -> bool:
    """Whether ``name`` has the shape of a scratch folder or part file (of any process)."""
    return bool(_FOLDER.match(name) or _PART.match(name))


def record_scratch_in(folder: Path | None) -> None:
    """Record from now on, in ``folder`` (``<runtime root>/scratch``), where this process keeps
    scratch, for the start-up sweep; None stops recording. Set once at start-up."""
    global _records_dir
    _records_dir = None if folder is None else Path(folder)


@contextmanager
def scratch_folder(parent: Path) -> Iterator[Path]:
    """A new owner-only folder ``.ret-work-<owner>-…`` in ``parent``, removed with everything in it
    when the block ends, however it ends."""
    parent = Path(parent)
    with _recorded(parent):
        folder = Path(tempfile.mkdtemp(prefix=f".ret-work-{owner_tag()}-", dir=parent))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def part_file(path: Path) -> Iterator[Path]:
    """A new empty owner-only file ``.<name>.ret-<owner>-….part`` beside ``path``, removed when the
    block ends unless it was renamed (to ``path``) by then."""
    path = Path(path)
    with _recorded(path.parent):
        fd, name = tempfile.mkstemp(prefix=f".{path.name[:120]}.ret-{owner_tag()}-", suffix=".part", dir=path.parent)
        os.close(fd)
        part = Path(name)
        try:
            yield part
        finally:
            part.unlink(missing_ok=True)


def sweep_folder(folder: Path) -> int:
    """Remove the scratch directly inside ``folder`` whose owning process is gone; returns how many
    entries were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        match = _FOLDER.match(entry.name) or _PART.match(entry.name)
        if match is None or owner_alive(match.group(1)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if _FOLDER.match(entry.name):
                    shutil.rmtree(entry.path)
                    removed += 1
            elif _PART.match(entry.name):
                os.unlink(entry.path)
                removed += 1
        except OSError as exc:
            log.warning("could not remove leftover scratch: %s", exc.strerror)
    return removed


def sweep_leftovers(runtime_root: Path, sessions_dir: Path) -> int:
    """The start-up sweep: scratch of dead processes in the runtime root and the folders directly in
    it (``jobs/``), in every session folder and its ``output/``, and wherever the records under
    ``<runtime root>/scratch`` point; returns how many entries were removed."""
    runtime_root, sessions_dir = Path(runtime_root), Path(sessions_dir)
    removed = sweep_folder(runtime_root)
    try:
        folders = [Path(e.path) for e in os.scandir(runtime_root) if e.is_dir(follow_symlinks=False)]
    except OSError:
        folders = []
    for folder in folders:
        removed += sweep_folder(folder)
    try:
        sessions = [Path(e.path) for e in os.scandir(sessions_dir) if e.is_dir(follow_symlinks=False)]
    except OSError:
        sessions = []
    for session in sessions:
        removed += sweep_folder(session) + sweep_folder(session / "output")
    return removed + sweep_records(runtime_root / "scratch")


def sweep_records(records_dir: Path) -> int:
    """Sweep the folders that processes now gone recorded in ``records_dir``, and drop their records."""
    removed = 0
    try:
        records = [e for e in os.scandir(records_dir) if _RECORD.match(e.name)]
    except OSError:
        return 0
    for record in records:
        if owner_alive(_RECORD.match(record.name).group(1)):
            continue
        try:
            folder = Path(os.fsdecode(Path(record.path).read_bytes()))
        except OSError:
            folder = None
        if folder is not None:
            removed += sweep_folder(folder)
        Path(record.path).unlink(missing_ok=True)
    return removed


@contextmanager
def _recorded(parent: Path) -> Iterator[None]:
    """While the block runs, a record under the records folder says that this process keeps scratch
    in ``parent`` (nothing when no records folder is set, or ``parent`` is inside the runtime root,
    which the start-up sweep looks through anyway)."""
    records_dir = _records_dir
    if records_dir is None or Path(parent).resolve().is_relative_to(records_dir.parent.resolve()):
        yield
        return
    record = records_dir / f"{owner_tag()}-{secrets.token_hex(8)}"
    try:
        with _records_lock:
            records_dir.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.fsencode(Path(parent).resolve()))
    except OSError as exc:  # the scratch is still swept by the next run in that folder
        log.warning("could not record where scratch is kept: %s", exc.strerror)
    try:
        yield
    finally:
        record.unlink(missing_ok=True)
