"""Is a process still running? Used to tell what crashed runs left (sessions, jobs, scratch, temporary
files) from what live ones own. A process is named by its id and its start time, because a pid is
reused: alone it can name a later, unrelated process."""

from __future__ import annotations

import os
from pathlib import Path


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc/<pid>/stat`` field
    22), or None where that cannot be read (other systems, a process that is gone). With the pid
    it names one process: a pid reused by a later process has a later start."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return int(stat[stat.rindex(b")") + 2:].split()[19])  # fields after the name start at field 3
    except (OSError, ValueError, IndexError):
        return None


OWNER = r"\d+(?:\.\d+)?"
"""The pattern of ``owner_tag`` in a file name."""

_own: tuple[int, int | None] | None = None


def this_process() -> tuple[int, int | None]:
    """This process's pid and start time (``process_start_time``), read once per process."""
    global _own
    pid = os.getpid()
    if _own is None or _own[0] != pid:  # a forked child is another process
        _own = (pid, process_start_time(pid))
    return _own


def owner_tag() -> str:
    """This process for a file name: ``<pid>.<start time>``, or ``<pid>`` where start times are unknown."""
    pid, started = this_process()
    return str(pid) if started is None else f"{pid}.{started}"


def owner_alive(tag: str) -> bool:
    """Whether the process an ``owner_tag`` (of this or another process) names is still running."""
    pid, _, started = tag.partition(".")
    return process_alive(int(pid), int(started) if started else None)


def process_alive(pid: int, started: int | None) -> bool:
    """Whether the process that was ``pid`` and started at ``started`` (``process_start_time``;
    None when unknown) is still running, not some later process that reuses its pid."""
    if not pid_alive(pid):
        return False
    now_started = process_start_time(pid)
    return started is None or now_started is None or now_started == started


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _pid_alive_windows(pid: int) -> bool:
    import ctypes

    process_query_limited_information = 0x1000
    still_active = 259
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return False
    try:
        exit_code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(exit_code)):
            return False
        return exit_code.value == still_active
    finally:
        kernel32.CloseHandle(handle)
