"""Is the process that started a run still alive? A pid alone can be reused, so a run also records the boot and
the process's start time (Linux /proc); a recorded process is dead when the machine rebooted, the pid is gone or
a zombie, or the pid now belongs to a process that started at another time.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_MACHINE_ID = Path("/etc/machine-id")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip() or None
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; None where /proc is missing or the process is gone."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    # the command name (field 2) is in parentheses and may itself contain spaces or parentheses
    return None if stat is None else stat.rpartition(")")[2].split()


def process_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: the start time in clock ticks since boot."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """What the ledger stores to recognise this process later."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "start_ticks": process_start_ticks(pid), "boot_id": _read(_BOOT_ID),
            "machine_id": _read(_MACHINE_ID)}


def same_machine(identity: dict[str, Any]) -> bool:
    """False when the identity was recorded on another machine that happens to share this host name."""
    recorded = identity.get("machine_id")
    return recorded is None or recorded == _read(_MACHINE_ID)


def is_alive(identity: dict[str, Any]) -> bool:
    """Whether the process described by `identity` (from `process_identity`, on this machine) still runs."""
    pid = identity.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    boot_id = identity.get("boot_id")
    if boot_id is not None and boot_id != _read(_BOOT_ID):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    fields = _stat_fields(pid)
    if fields is None:  # no /proc: the signal check is all we have
        return True
    if fields and fields[0] in ("Z", "X"):  # killed but not yet reaped by its parent
        return False
    recorded_start = identity.get("start_ticks")
    return recorded_start is None or process_start_ticks(pid) == recorded_start
