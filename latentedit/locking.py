"""One writer per run directory: RUN/.lock, held with flock while a process writes the run.

A second writer is refused with a message naming the holder (pid, host, command, since when),
or waits for it when waiting is switched on (`latentedit <command> --wait`). The lock is an
advisory `fcntl.flock` on RUN/.lock, so the kernel releases it when its process dies: a lock file
left by a killed process is recognised as stale (nobody holds the flock) and simply taken over.
The holder's description is written into the file for the message. Within one process the lock
is re-entrant (sample -> tag -> fit stages nest), and threads of that process share it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import threading
import time
from pathlib import Path

from latentedit.errors import RunError

LOCK_NAME = ".lock"
_held: dict[str, list] = {}  # resolved lock path -> [fd, depth]
_guard = threading.Lock()
_wait = False


def wait_for_locks(wait: bool = True) -> None:
    """Make every later `run_lock` wait for another writer instead of refusing (the CLI's --wait)."""
    global _wait
    _wait = bool(wait)


def _holder_text(info: dict) -> str:
    since = time.strftime("%H:%M:%S", time.localtime(info["since"])) if "since" in info else "?"
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')}, `{info.get('command', '?')}`, "
            f"since {since}")


def read_holder(lock_file) -> dict:
    """What the lock file says about its holder (may be stale; {} when unreadable)."""
    try:
        info = json.loads(Path(lock_file).read_text())
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def pid_alive(pid) -> bool:
    """True when a process with this pid exists on this host."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _describe_self() -> dict:
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    if argv[0] in ("__main__.py", "-m", "-c"):
        argv[0] = "latentedit"
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": shlex.join(argv)[:1000],
            "since": round(time.time(), 3)}


@contextlib.contextmanager
def run_lock(run_dir, wait: bool | None = None):
    """Hold RUN/.lock while the block writes the run; RunError (or wait) when another process holds it."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink():
        os.stat(run_dir)  # a symlink loop or a dangling link: OSError (ELOOP, ENOENT) naming it
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a run folder; choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    key = str(path.resolve())
    wait = _wait if wait is None else wait
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            if e.errno != errno.EROFS:
                raise
            yield path  # a run on a read-only disk: nobody can write it, so reading needs no lock
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(path)
                if not wait:
                    raise RunError(f"{run_dir} is being written by another latentedit process ({_holder_text(holder)}); "
                                   "wait for it to finish, or pass --wait to queue behind it") from None
                print(f"waiting for {run_dir}: written by {_holder_text(holder)}", file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(_describe_self()) + "\n").encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        entry = [fd, 1]
        with _guard:
            _held[key] = entry
    try:
        yield path
    finally:
        with _guard:
            entry[1] -= 1
            last = entry[1] == 0
            if last:
                del _held[key]
        if last:
            os.ftruncate(entry[0], 0)  # released: no stale holder text is left behind
            fcntl.flock(entry[0], fcntl.LOCK_UN)
            os.close(entry[0])


def stale_temp_owner_dead(name: str) -> bool:
    """True for a temporary name ending in -<pid> (e.g. `.x.tmp-123`) whose process is gone."""
    tail = name.rsplit("-", 1)[-1]
    return tail.isdigit() and not pid_alive(tail)
