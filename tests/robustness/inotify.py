"""Linux inotify through ctypes: proof that a file was (or was never) opened by anyone."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path
from types import TracebackType

IN_ACCESS = 0x001
IN_OPEN = 0x020
IN_NONBLOCK = os.O_NONBLOCK
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


class FileWatch:
    """Watches one file for IN_OPEN | IN_ACCESS; `events()` drains what happened since, without blocking."""

    def __init__(self, path: Path) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd: int = self._libc.inotify_init1(IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        watch = self._libc.inotify_add_watch(self._fd, os.fsencode(path), IN_OPEN | IN_ACCESS)
        if watch < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch failed for {path}")

    def events(self) -> list[int]:
        """The masks of the events queued so far."""
        masks: list[int] = []
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return masks
            offset = 0
            while offset < len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                masks.append(mask)
                offset += _EVENT.size + length

    def __enter__(self) -> FileWatch:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        os.close(self._fd)
