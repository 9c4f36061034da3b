"""What every command shares: every expected failure becomes one line (a traceback only with --debug).

Exit status: 0 done; 1 an internal error (a bug: run again with --debug and report the traceback);
2 nothing (more) was done because of a bad option, input, file or disk, said in one line;
3 partly done: what succeeded is kept and marked, the line says which stage failed (report);
130 interrupted (resumable).
"""

import errno
import os
import sys
from pathlib import Path

import typer

from latentedit.errors import LatentEditError
from latentedit.locking import wait_for_locks
from latentedit.terminal import printable

EXIT_INTERNAL, EXIT_ERROR, EXIT_PARTIAL, EXIT_INTERRUPTED = 1, 2, 3, 130

# errno -> what happened, and what to do about it
_OS_HINTS = {
    errno.EACCES: ("permission denied", "choose a folder you can write to, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose a folder you can write to, or fix its permissions"),
    errno.EROFS: ("read-only file system", "choose an --out on a writable disk"),
    errno.ENOSPC: ("no space left on the device", "free some space or choose an --out on another disk; "
                   "run the command again to resume"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or choose an --out on another disk; "
                   "run the command again to resume"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another --out"),
    errno.EISDIR: ("is a folder, not a file", "pass a file"),
    errno.ELOOP: ("too many levels of symbolic links (a symlink loop)", "fix the link or choose another path"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.EEXIST: ("already exists", "choose another path"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or use a smaller --batch-size"),
    errno.ENOTEMPTY: ("the folder is not empty", "choose an empty or new folder"),
    errno.EIO: ("input/output error (a failing disk?)", "check the disk, then run the command again"),
}


def os_error_line(e: OSError) -> str:
    """One line for an OSError: what happened, to which path, and what to do."""
    what, todo = _OS_HINTS.get(e.errno, (e.strerror or type(e).__name__, "check the path and the disk"))
    if e.errno == errno.EROFS and any((p / "manifest.json").is_file() for p in Path(str(e.filename)).parents):
        todo = "copy the run to a writable disk and run the command on the copy"  # tag and fit write into it
    paths = " -> ".join(str(p) for p in (e.filename, e.filename2) if p is not None)
    return f"{what}: {paths}; {todo}" if paths else f"{what}; {todo}"


def fail(line: str, status: int = EXIT_ERROR) -> None:
    """Print `error: <line>` (made safe for the terminal) and exit with `status`."""
    typer.secho(f"error: {printable(line)}", fg=typer.colors.RED, err=True)
    sys.exit(status)


def _pop_flag(argv: list, flag: str) -> bool:
    """Remove `flag` from argv (before a `--` separator) and say whether it was there."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = flag in argv[1:end]
    if found:
        argv[:] = [a for i, a in enumerate(argv) if not (a == flag and 0 < i < end)]
    return found


def run_app(app: typer.Typer) -> None:
    """Run the Typer app; the ONE place that turns failures into a one-line message and an exit status.

    `--debug` (anywhere on the command line, or LATENTEDIT_DEBUG=1) shows the traceback instead;
    `--wait` makes a command wait for another process writing the same run instead of refusing.
    """
    debug = _pop_flag(sys.argv, "--debug") or os.environ.get("LATENTEDIT_DEBUG") == "1"
    if _pop_flag(sys.argv, "--wait"):
        wait_for_locks(True)
    try:
        app()
    except SystemExit:
        raise
    except LatentEditError as e:
        if debug:
            raise
        fail(str(e))
    except OSError as e:
        if debug:
            raise
        fail(os_error_line(e))
    except KeyboardInterrupt:
        if debug:
            raise
        fail("interrupted; run the same command again to resume (finished shards and files are kept)",
             EXIT_INTERRUPTED)
    except MemoryError:
        if debug:
            raise
        fail("out of memory; use a smaller --batch-size or fewer --samples")
    except Exception as e:  # noqa: BLE001 - a bug: say so in one line, the traceback with --debug
        if debug:
            raise
        pil = sys.modules.get("PIL.Image")  # an image opened without latentedit.images.open_image's size check
        if pil is not None and isinstance(e, pil.DecompressionBombError):
            fail(f"an image is too large to decode safely ({str(e).split(', could')[0]}); downscale it first")
        first = str(e).splitlines()[0][:200] if str(e) else ""
        fail(f"internal error ({type(e).__name__}: {first}); run the command again with --debug and report "
             "the traceback", EXIT_INTERNAL)
