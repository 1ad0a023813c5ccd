"""Atomic file writes and safe JSON reading.

Every file latentkit writes goes through `atomic_write` (or `atomic_path`, for writers that want a
file name): the bytes land in a temporary file in the same folder, are flushed to disk, and only then
renamed over the target, so a crash or a full disk never leaves a half-written file behind. With
`exclusive` the temp file is linked into place instead, which fails if the target appeared meanwhile
(another process writing the same name). Temp files a killed process left (`.NAME.XXXXXXXX.tmp`,
over a minute old) are removed the next time latentkit writes into that folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from latentkit.errors import LatentkitError


def _default_permissions() -> int:
    """0o666 less the process umask: what a plain open() would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


STALE_TEMP_SECONDS = 60
# What tempfile.mkstemp(prefix=".NAME.", suffix=".tmp") names a file: 8 characters of [a-z0-9_].
_OUR_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_swept: set[str] = set()  # folders already swept by this process


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", permissions: int | None = None, exclusive: bool = False
) -> Iterator[IO]:
    """Open a temp file beside `path`; on clean exit fsync it and rename it to `path`.

    On any exception the temp file is removed and `path` is left untouched. The file gets
    `permissions` (default: as a plain open() would, 0o666 less the umask); they are set on the
    temp file before anything is written, so e.g. a 0o600 key is never readable by others.
    With `exclusive`, an existing `path` is never replaced, even one created while writing: the
    complete temp file is hard-linked to `path` (atomic, and refused if `path` exists).
    """
    with atomic_path(path, permissions, exclusive) as tmp, os.fdopen(os.open(tmp, os.O_WRONLY), mode) as f:
        yield f


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, permissions: int | None = None, exclusive: bool = False
) -> Iterator[Path]:
    """`atomic_write` for writers that take a file name (e.g. `safetensors.torch.save_file`).

    Yields the path of an empty temp file beside `path` (already carrying its permissions); on clean
    exit the file is fsynced and renamed (or, `exclusive`, linked) to `path`; on any exception it is
    removed and `path` is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temp_files(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise LatentkitError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        mode = _default_permissions() if permissions is None else permissions
        os.fchmod(fd, mode)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, mode)  # a writer may have replaced the file (safetensors' save_file leaves 0600)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if exclusive:
            _link_into_place(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, FileExistsError):
            raise LatentkitError(
                f"{path}: already exists (written meanwhile by another process; pass --overwrite to "
                "replace it)"
            ) from None
        if isinstance(e, OSError):  # e.g. ENOSPC: the disk filled up mid-write
            raise LatentkitError(f"{path}: cannot write ({e.strerror or e}); nothing was written") from None
        raise


def _link_into_place(tmp: str, path: Path) -> None:
    """Give the complete `tmp` the name `path` unless that exists (FileExistsError), atomically."""
    try:
        os.link(tmp, path)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():  # a file system without hard links: check, then rename (a narrow race)
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def sweep_stale_temp_files(folder: str | os.PathLike) -> None:
    """Remove temp files `atomic_write` left in `folder` (a killed process), older than a minute so
    no write in progress loses its file. Each folder is swept once per process."""
    key = os.path.abspath(folder)
    if key in _swept:
        return
    _swept.add(key)
    cutoff = time.time() - STALE_TEMP_SECONDS
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if _OUR_TEMP.fullmatch(entry.name):
            with contextlib.suppress(OSError):
                if (
                    entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff
                ):
                    os.unlink(entry.path)


def check_output(
    path: str | os.PathLike, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """The one output rule: return `path` if it may be written, else raise `LatentkitError`.

    A path that exists (a file, or a folder holding anything) is replaced only with `overwrite`; an
    empty folder holds nothing to lose; a path that is one of `inputs` (the files being read) is
    never replaced, with or without it.
    """
    path = Path(path).expanduser()
    for source in inputs:
        source = Path(source).expanduser()
        if path.resolve() == source.resolve() or (path.exists() and _same_file(path, source)):
            raise LatentkitError(f"{path}: is the input being read; write the output somewhere else")
    if path.exists() and not overwrite and not (path.is_dir() and not any(path.iterdir())):
        raise LatentkitError(f"{path}: already exists (pass --overwrite to replace it)")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_bytes(path: str | os.PathLike, data: bytes, exclusive: bool = False) -> None:
    """Write `data` to `path` atomically (`exclusive`: never replacing a file, see `atomic_write`)."""
    with atomic_write(path, "wb", exclusive=exclusive) as f:
        f.write(data)


def write_safetensors(
    path: str | os.PathLike, tensors: dict[str, Any], metadata: dict[str, str] | None = None
) -> str:
    """Write `tensors` (name -> contiguous CPU torch tensor) as a safetensors file, atomically; returns
    the file's sha256 (hex).

    The tensors stream from their own memory into the file (`safetensors.torch.save_file`): no
    in-memory copy of the whole file is built, which for a checkpoint (G, D, EMA and two Adam moments)
    is the size of the training state again at every save.
    """
    import safetensors.torch

    with atomic_path(path) as tmp:
        try:
            safetensors.torch.save_file(tensors, tmp, metadata=metadata)
        except Exception as e:  # its Rust writer raises SafetensorError, also for a full disk
            code = re.search(r"os error (\d+)", str(e))
            if code is None:
                raise
            raise OSError(int(code[1]), os.strerror(int(code[1]))) from None
        h = hashlib.sha256()
        with open(tmp, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented UTF-8 JSON to `path` atomically."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_bytes(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
    """A file's bytes, turning a missing, unreadable or (with `max_bytes`) too large file into a
    `LatentkitError`. The size is checked before anything is read, and again while reading, so a
    device or pipe without a size (/dev/zero) stops after `max_bytes` instead of reading forever."""
    path = Path(path)
    try:
        if path.is_dir():
            raise LatentkitError(f"{path}: is a folder, not a file")
        size = path.stat().st_size
        if max_bytes is None:
            return path.read_bytes()
        if size > max_bytes:
            raise LatentkitError(f"{path}: {size:,} bytes is over the {max_bytes:,}-byte limit")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise LatentkitError(f"{path}: more than the {max_bytes:,}-byte limit")
        return data
    except FileNotFoundError:
        raise LatentkitError(f"{path}: file not found") from None
    except OSError as e:
        raise LatentkitError(f"{path}: cannot read ({e.strerror or e})") from None


def parse_json(data: bytes, path: str | os.PathLike) -> Any:
    """Decode UTF-8 JSON bytes read from `path`; errors name the file and line."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise LatentkitError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise LatentkitError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None
    except RecursionError:
        raise LatentkitError(f"{path}: JSON nested too deeply to read") from None


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, turning a missing or malformed file into a `LatentkitError`."""
    return parse_json(read_bytes(path), path)


def parse_tagged_json(
    data: bytes, path: str | os.PathLike, fmt: str, version: int | tuple[int, ...], what: str = "document"
) -> dict[str, Any]:
    """Decode a latentkit JSON document and check its `format` tag and `version` (one, or a tuple of the
    versions read); `what` names the document in errors."""
    doc = parse_json(data, path)
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise LatentkitError(f"{path}: format is {found!r}, expected {fmt!r}")
    versions = version if isinstance(version, tuple) else (version,)
    if doc.get("version") not in versions:
        reads = " and ".join(str(v) for v in versions)
        raise LatentkitError(
            f"{path}: {what} version {doc.get('version')!r} is not supported (this latentkit reads {reads})"
        )
    return doc
