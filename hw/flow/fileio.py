"""Files in and out of the flows: nothing half-written, and every bad input named.

Output is atomic: :func:`atomic_write_text` replaces one file (temporary file + rename), and
:func:`replace_folder` replaces a whole folder of generated files at once (the files are written
into a hidden staging folder beside it, which is then exchanged with the old one in a single
``renameat2(RENAME_EXCHANGE)``), so a failed or killed run leaves the previous folder as it was.

Input is strict: :func:`read_json_file` reads a JSON file the user or a tool gave us and turns
every way it can be wrong (missing, a folder, unreadable, not UTF-8, not JSON, duplicate keys,
NaN or Infinity, nested too deeply) into an :class:`InputFileError` naming the file.
"""

import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_text", "atomic_write_bytes", "InputFileError", "OutputFolderError",
    "read_json_file", "replace_folder", "check_output_folder", "check_writable_file",
    "link_or_write", "STAGING_MARK", "MAX_JSON_DEPTH",
]

#: Infix of the hidden staging folders :func:`replace_folder` creates beside its target.
STAGING_MARK = ".staging-"
#: JSON files nested deeper than this are refused (ours nest at most 8 levels).
MAX_JSON_DEPTH = 64


class InputFileError(ValueError):
    """A file given to a flow cannot be used; the message names the file and the problem."""


class OutputFolderError(ValueError):
    """An output folder cannot be written; the message names the folder and the problem."""


def atomic_write_bytes(path: str | os.PathLike, content: bytes) -> None:
    """Write ``content`` to a temporary file beside ``path``, fsync it, then rename over ``path``.

    The rename is atomic on POSIX file systems, so ``path`` holds either the old or the new bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# --- strict JSON input ---------------------------------------------------------------------

def _no_duplicates(what: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise InputFileError(f"{what}: key {key!r} appears more than once in an object")
            out[key] = value
        return out
    return hook


def _no_constant(what: str) -> Callable[[str], Any]:
    def hook(name: str) -> Any:
        raise InputFileError(f"{what}: {name} is not a JSON number (only finite numbers are)")
    return hook


def read_json_file(path: str | os.PathLike, what: str | None = None) -> Any:
    """The JSON value in ``path``, or :class:`InputFileError` naming the file and the problem.

    ``what`` names the file in messages (e.g. ``"--config 'pe.json'"``; default: its path).
    Refused besides invalid JSON: a missing file, a folder, an unreadable file, bytes that are
    not UTF-8 (binary files, UTF-16), duplicate keys in an object, ``NaN``/``Infinity`` and
    nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    path = Path(path)
    what = what or f"{str(path)!r}"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{what}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{what} is a folder, not a file") from None
    except PermissionError:
        raise InputFileError(f"{what}: permission denied (cannot read it)") from None
    except OSError as e:
        raise InputFileError(f"{what}: cannot read it ({e.strerror or e})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        raise InputFileError(f"{what} starts with a byte-order mark; save it as UTF-8 "
                             "without one")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{what} is not UTF-8 text (byte {e.start} is "
                             f"0x{data[e.start]:02x}); is it a binary file?") from None
    if "\x00" in text:
        raise InputFileError(f"{what} is not text: it holds NUL bytes")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates(what),
                           parse_constant=_no_constant(what))
    except json.JSONDecodeError as e:
        raise InputFileError(f"{what} is not valid JSON: {e.msg} at line {e.lineno} "
                             f"column {e.colno}") from None
    except RecursionError:
        raise InputFileError(f"{what} nests objects and lists too deeply to read (at most "
                             f"{MAX_JSON_DEPTH} levels are allowed)") from None
    depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        raise InputFileError(f"{what} nests objects and lists {depth} deep; at most "
                             f"{MAX_JSON_DEPTH} are allowed")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in node
                         if isinstance(child, (dict, list)))
    return deepest


# --- output folders ------------------------------------------------------------------------

def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a file we may create or replace, or :class:`OutputFolderError`."""
    path = Path(path)
    name = f"{option} {str(path)!r}"
    if path.is_dir():
        raise OutputFolderError(f"{name} is a folder; give a file name")
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise OutputFolderError(f"{name} is under {str(base)!r}, which is a file")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{name}: {str(base)!r} is not writable")
    return path


def check_output_folder(path: str | os.PathLike, option: str, *,
                        allowed: Callable[[Path], bool] | None = None) -> Path:
    """Check that ``path`` can be created or replaced as an output folder before any work.

    Refused with :class:`OutputFolderError` naming ``option`` and the path: a path that is a
    file, a path under a file, a folder (or nearest existing parent) we cannot write, and, when
    ``allowed`` is given, an existing folder holding an entry ``allowed`` rejects (so replacing
    it cannot delete a user's files).
    """
    path = Path(path)
    name = f"{option} {str(path)!r}"
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{name} is a file, not a folder")
    base = _nearest_existing(path.parent if not path.exists() else path)
    if not base.is_dir():
        raise OutputFolderError(f"{name} is under {str(base)!r}, which is a file")
    if path.exists():
        # Replacing the folder needs write access to its parent (the exchange) and to itself.
        for folder in (path, path.resolve().parent):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise OutputFolderError(f"{name}: {str(folder)!r} is not writable")
        if allowed is not None:
            foreign = sorted(e.name for e in path.iterdir() if not allowed(e))
            if foreign:
                raise OutputFolderError(
                    f"{name} holds {', '.join(map(repr, foreign[:3]))}"
                    f"{' ...' if len(foreign) > 3 else ''}, which this tool did not write; "
                    "refusing to replace the folder (give an empty or new folder)")
    elif not os.access(base, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{name}: cannot create it, {str(base)!r} is not writable")
    return path


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux's ``renameat2(RENAME_EXCHANGE)``; False where the
    system or file system does not offer it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _locked(folder: Path) -> int | None:
    """An open descriptor of ``folder`` holding an exclusive lock, or None if another live
    process holds it (its staging folder is in use)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _owner_alive(staging: Path) -> bool:
    """Whether the process that made ``staging`` (its pid is in the name) still runs."""
    match = re.search(re.escape(STAGING_MARK) + r"(\d+)-", staging.name)
    if not match:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True             # alive, another user's
    return True


def _remove_stale_staging(target: Path) -> None:
    """Remove staging folders of ``target`` left by killed runs: their process is gone and
    their lock died with it (a live run's folder is never touched, even while it starts)."""
    if not target.exists():
        # A run killed between the two renames of the fallback left the old folder aside.
        backups = sorted(target.parent.glob(f".{target.name}{STAGING_MARK}*.old"),
                         key=lambda p: p.stat().st_mtime)
        if backups:
            os.rename(backups[-1], target)
    for stale in target.parent.glob(f".{target.name}{STAGING_MARK}*"):
        if not stale.is_dir() or stale.is_symlink() or _owner_alive(stale):
            continue
        fd = _locked(stale)
        if fd is None:
            continue                # still held: a live run's
        try:
            shutil.rmtree(stale, ignore_errors=True)
        finally:
            os.close(fd)


@contextmanager
def replace_folder(target: str | os.PathLike,
                   keep: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Stage a new version of folder ``target``: yields the staging folder; when the block ends
    normally the staging folder replaces ``target`` in one step, otherwise it is removed.

    The staging folder starts empty, or with hard links to the entries of the old ``target``
    that ``keep`` accepts (a run that updates some of a folder's reports keeps the others). A
    writer must replace such a file (write a new one and rename it), never write into it.
    A run killed while staging leaves ``target`` untouched; its hidden staging folder (beside
    ``target``, named ``.<name>.staging-*``) is removed by the next run for the same target.
    """
    target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_MARK}{os.getpid()}-",
                                    dir=target.parent))
    fd = _locked(staging)
    try:
        if keep is not None and target.is_dir():
            for entry in sorted(target.iterdir()):
                if not keep(entry):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, staging / entry.name, symlinks=True,
                                    copy_function=os.link)
                else:
                    os.link(entry, staging / entry.name, follow_symlinks=False)
        yield staging
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o755
        os.chmod(staging, mode)
        if not target.exists():
            os.rename(staging, target)
        elif not _exchange(staging, target):
            # Fallback without an atomic exchange: move the old folder aside, the new one in.
            aside = staging.with_name(staging.name + ".old")
            os.rename(target, aside)
            os.rename(staging, target)
            shutil.rmtree(aside, ignore_errors=True)
        # After the exchange the staging path holds the old folder.
        shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if fd is not None:
            os.close(fd)


def link_or_write(dest: Path, text: str, previous: Path | None) -> None:
    """Write ``text`` to the new file ``dest``; if ``previous`` already holds exactly these
    bytes, hard-link it instead (the file keeps its time stamp: make and simulator caches see
    no change)."""
    data = text.encode("utf-8")
    if previous is not None and previous.is_file():
        try:
            if previous.read_bytes() == data:
                os.link(previous, dest)
                return
        except OSError:
            pass
    with open(dest, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(dest, 0o644)
