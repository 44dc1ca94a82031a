"""Files in a local folder, served by the API at ``/files/<key>``."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from vidserve.errors import FileTooLargeError, NotFoundError
from vidserve.storage.base import (
    FILES_PREFIX,
    FULL_ERRNOS,
    PARTS_PREFIX,
    FileStorage,
    MissingPartError,
    StorageFullError,
    StoredFile,
    check_part,
    new_key,
    split_key,
)

__all__ = ["FILES_PREFIX", "LocalStorage"]


class LocalStorage(FileStorage):
    """A folder of ``<hex>/<name>`` files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _resolve(self, key: str) -> Path | None:
        parts = split_key(key)
        return None if parts is None else self.root / parts[0] / parts[1]

    def path(self, key: str) -> Path:
        """The file's path; raises NotFoundError for malformed or absent keys."""
        path = self._resolve(key)
        if path is None or not path.is_file():
            raise NotFoundError(f"no such file: {key}")
        return path

    def _target(self, file_name: str, key: str | None) -> tuple[str, Path]:
        key = key or new_key(file_name)
        target = self._resolve(key)
        if target is None:
            raise ValueError(f"malformed storage key {key!r}")
        return key, target

    @staticmethod
    def _write(target: Path, write: Callable[[Path], object]) -> None:
        """``write`` a temporary ``.part`` file beside ``target``, then rename it into place,
        so a reader never sees a half-written file. When anything fails, the temporary file
        (and the folder, if this left it empty) is removed; a full disk or quota raises
        :class:`StorageFullError`, whose message names no path."""
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty: it holds other files; keep it
                target.parent.rmdir()
            if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
                raise StorageFullError(exc.errno) from exc
            raise

    def put_file(
        self, src: Path, *, content_type: str, file_name: str, key: str | None = None
    ) -> StoredFile:
        key, target = self._target(file_name, key)
        self._write(target, lambda tmp: shutil.copyfile(src, tmp))
        return StoredFile(key, content_type, target.name, target.stat().st_size)

    def put_bytes(
        self, data: bytes, *, content_type: str, file_name: str, key: str | None = None
    ) -> StoredFile:
        key, target = self._target(file_name, key)
        self._write(target, lambda tmp: tmp.write_bytes(data))
        return StoredFile(key, content_type, target.name, len(data))

    def read_bytes(self, key: str, max_bytes: int) -> bytes:
        path = self.path(key)
        if path.stat().st_size > max_bytes:
            raise FileTooLargeError(f"file {key} is larger than {max_bytes} bytes")
        return path.read_bytes()

    def delete(self, key: str) -> None:
        path = self._resolve(key)
        if path is None:
            return
        path.unlink(missing_ok=True)
        # Each key has its own folder; drop it once empty so expiry leaves no litter. A
        # concurrent writer may have refilled it (or it is gone): either way, leave it be.
        with contextlib.suppress(OSError):
            path.parent.rmdir()

    def _part(self, upload: str, number: int) -> Path:
        check_part(upload, number)
        return self.root / PARTS_PREFIX / upload / f"{number:05d}"

    def put_part(self, upload: str, number: int, src: Path) -> None:
        target = self._part(upload, number)
        self._write(target, lambda tmp: shutil.copyfile(src, tmp))

    def join_parts(
        self, upload: str, numbers: Sequence[int], *, key: str, content_type: str, file_name: str
    ) -> StoredFile:
        if not numbers:
            raise ValueError("a multipart upload joins at least one part")
        paths = [self._part(upload, number) for number in numbers]
        for number, path in zip(numbers, paths, strict=True):
            if not path.is_file():
                raise MissingPartError(number)
        key, target = self._target(file_name, key)

        def join(tmp: Path) -> None:
            with open(tmp, "wb") as out:
                for path in paths:
                    with open(path, "rb") as part:
                        shutil.copyfileobj(part, out, 1024 * 1024)

        self._write(target, join)
        shutil.rmtree(self.root / PARTS_PREFIX / upload, ignore_errors=True)
        return StoredFile(key, content_type, target.name, target.stat().st_size)

    def drop_stale_parts(self, before: float) -> int:
        dropped = 0
        for folder in (self.root / PARTS_PREFIX).glob("*"):
            try:
                newest = max(
                    (part.stat().st_mtime for part in folder.iterdir()),
                    default=folder.stat().st_mtime,
                )
            except OSError:  # joined or dropped by another process meanwhile
                continue
            if newest < before:
                shutil.rmtree(folder, ignore_errors=True)
                dropped += 1
        return dropped
