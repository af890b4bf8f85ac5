"""Files written whole or not at all: a killed or failed write, or a power cut, never leaves half
a file.

Every writer of the package goes through `atomic_path`: write a temporary file beside the
target, flush it to disk (fsync), rename it over the target (atomic on POSIX), then fsync the
directory so that the rename itself survives a crash.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary file a write of `path` goes to before it is renamed: ``.<name>.tmp`` beside
    it (same file system, so the rename is atomic; hidden from ``ls``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's or a directory's data from the OS cache to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield `temp_path(path)` to write; when the block ends without error, fsync it, rename it
    over `path` and fsync the directory; on an error remove it and leave `path` as it was.
    Writers of one path must not run at once (they share the temporary name): lock if they may."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    tmp.unlink(missing_ok=True)  # left by a killed writer
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"{tmp}: the writer of {path} wrote no file there")
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then replace `path` by it durably
    (`atomic_path`): a killed or failed write leaves the old file whole and no temporary file."""
    with atomic_path(path) as tmp:
        write(tmp)
