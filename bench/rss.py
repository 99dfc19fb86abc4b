"""Resident memory of a server's process tree, read from /proc (Linux), for the benchmarks.

A server here is a process and its descendants: `assay up` with uvicorn's workers, a cluster's
nodes, Verdaccio, Caddy. Its memory is the sum of their ``VmRSS`` (proc(5)); the workers' share
alone (``workers_only``) is what one more worker would cost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

MIB = 1024 * 1024


def _children() -> dict[int, list[int]]:
    """Every process's children, from the parent pid in each /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces and parentheses: split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process exited while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # "VmRSS:  1234 kB"
    except OSError:
        pass  # exited
    return 0


def tree_rss_bytes(pids: Iterable[int], *, workers_only: bool = False) -> int:
    """VmRSS summed over ``pids`` and all their descendants; with ``workers_only``, over each
    pid's descendants alone when it has any (uvicorn's workers, not their supervisor)."""
    children = _children()
    todo: list[int] = []
    for pid in pids:
        todo += children[pid] if workers_only and children.get(pid) else [pid]
    total, seen = 0, set()
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            total += _rss_bytes(pid)
            todo += children.get(pid, [])
    return total


class PeakRss:
    """Samples a process tree's RSS every ``interval`` seconds in a thread while a load runs;
    keeps the peak of the whole tree (``peak``) and of its workers (``peak_workers``), in bytes."""

    def __init__(self, pids: Iterable[int], interval: float = 0.2) -> None:
        self._pids = list(pids)
        self._interval = interval
        self.peak = 0
        self.peak_workers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self._pids))
            self.peak_workers = max(
                self.peak_workers, tree_rss_bytes(self._pids, workers_only=True)
            )
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
