"""One writer per run directory: an exclusive lock on RUN_DIR/.lock that names its owner.

Two trainings writing the same run directory replace each other's metrics.jsonl, duplicate lines
of samples.jsonl and fight over the record store. So `python -m seedling.train` takes an
exclusive `flock` on RUN_DIR/.lock before it reads or writes anything else there, and writes the
owner's pid, host and start time into the file. The kernel releases a flock when its process
ends in any way (exit, exception, kill -9), so a lock left by a dead process is taken over by the
next run; a second run while the first lives gets `RunLocked`, naming that pid and host. A clean
exit removes the file; because a process may lock a file just as its owner removes it, a lock
counts only when the locked file is still the one at RUN_DIR/.lock (else it is tried again).

    with RunLock(run_dir):
        ...  # train
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

__all__ = ["LOCK_FILE", "RunLock", "RunLocked"]

LOCK_FILE = ".lock"


class RunLocked(RuntimeError):
    """Another live process holds the run directory's lock; the message names it."""


class RunLock:
    """Context manager: hold RUN_DIR/.lock exclusively (non-blocking; RunLocked if it is taken)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunLocked(self._held_message()) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its owner removed it between our open and our lock: take the new one
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)
        self._fd = fd
        return self

    def _held_message(self) -> str:
        owner = self.owner()
        who = f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}" if owner else "another process"
        since = f" since {owner['started']}" if owner.get("started") else ""
        return f"{self.path.parent} is in use by {who}{since}; wait for it to finish, stop it, or choose another --out"

    def owner(self) -> dict[str, Any]:
        """What the lock file says about its (last) owner; {} when empty or unreadable."""
        try:
            found = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still locked: a process that opened it meanwhile sees it is stale
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
