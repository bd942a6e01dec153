"""Resident memory of process trees, read from /proc (Linux only; elsewhere the figures are absent)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Memory:
    """Totals over a set of processes, in MiB. PSS splits shared pages (Postgres' shared buffers,
    the interpreter's shared libraries) between the processes that map them; RSS counts them in each."""

    processes: int
    rss_mib: float
    pss_mib: float | None


def available() -> bool:
    return PROC.joinpath("self", "status").exists()


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = entry.joinpath("stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may itself contain spaces or parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(roots: Iterable[int]) -> set[int]:
    """The roots and every process below them (children, grandchildren, ...) that still exist."""
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in parents]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def _kib(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_of(pids: Iterable[int]) -> Memory | None:
    """RSS and PSS summed over `pids` (and nothing else); None without /proc."""
    if not available():
        return None
    rss = 0
    pss: int | None = 0
    count = 0
    for pid in set(pids):
        base = PROC / str(pid)
        value = _kib(base / "status", "VmRSS:")
        if value is None:
            continue  # exited, or a kernel thread
        count += 1
        rss += value
        share = _kib(base / "smaps_rollup", "Pss:")
        pss = None if share is None or pss is None else pss + share
    return Memory(count, rss / 1024, None if pss is None else pss / 1024)


def kind_of(pid: int) -> str:
    """A short name for what a process is: the uvicorn app factory's module, `python -m` module, or command."""
    try:
        argv = PROC.joinpath(str(pid), "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    args = [a.decode(errors="replace") for a in argv if a]
    if args and args[0].startswith("postgres"):
        return "postgres"  # the server and its backends, which retitle themselves
    if "--factory" in args:
        return args[args.index("--factory") + 1].split(":")[0].split(".")[0]
    if "-m" in args:
        return args[args.index("-m") + 1]
    return Path(args[0]).name if args else "?"


def memory_by_kind(pids: Iterable[int]) -> dict[str, Memory]:
    """Memory summed per kind of process (see `kind_of`), largest RSS first."""
    groups: dict[str, list[int]] = {}
    for pid in pids:
        groups.setdefault(kind_of(pid), []).append(pid)
    out = {kind: memory_of(members) for kind, members in groups.items()}
    found = {kind: m for kind, m in out.items() if m is not None and m.processes}
    return dict(sorted(found.items(), key=lambda item: -item[1].rss_mib))


def tree_memory(roots: Iterable[int]) -> Memory | None:
    return memory_of(descendants(roots)) if available() else None


def cpu_seconds(roots: Iterable[int]) -> float | None:
    """User + system CPU time consumed so far by the roots and their descendants; None without /proc."""
    if not available():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in descendants(roots):
        try:
            fields = PROC.joinpath(str(pid), "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def reaped_children_cpu_seconds(pid: int) -> float:
    """CPU time of the children `pid` has already waited for (initdb and the like): cutime + cstime."""
    try:
        fields = PROC.joinpath(str(pid), "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it holds no memory and is not running.
    try:
        state = PROC.joinpath(str(pid), "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
