"""Files: real files on disk, written with ``os.pwrite`` so parallel range uploads just work.

Every change made through the API runs under the path's lock and ends by recording the file's
new fingerprint in the sidecar, so the sidecar can later tell API writes (settings kept) from
writes by local processes (stored Content-MD5 dropped, or the whole row ignored).
"""

from __future__ import annotations

import os
from stat import S_ISREG
from typing import BinaryIO

from ._errors import FilesError
from ._storage import EntryInfo, Located, Storage, effective_settings
from ._store import EntryRecord, Fingerprint

_ZEROS = bytes(1 << 20)


class FileData:
    def __init__(self, storage: Storage):
        self.storage = storage
        self.store = storage.store

    def _existing_file(self, share: str, segments: tuple[str, ...]) -> tuple[Located, os.stat_result]:
        located = self.storage.locate(share, segments)
        if not located.parent_exists:
            raise FilesError("ParentNotFound")
        try:
            stat = located.found or os.stat(located.path)
        except FileNotFoundError:
            raise FilesError("ResourceNotFound") from None
        if not S_ISREG(stat.st_mode):
            raise FilesError("ResourceNotFound")
        return located, stat

    def info(self, share: str, segments: tuple[str, ...]) -> EntryInfo:
        located, stat = self._existing_file(share, segments)
        return self.storage.entry_info(located, stat)

    def open(self, share: str, segments: tuple[str, ...]) -> tuple[BinaryIO, EntryInfo]:
        """The file opened for reading, and its properties as of that open handle."""
        located, _ = self._existing_file(share, segments)
        handle = open(located.path, "rb")  # noqa: SIM115 - the caller closes it
        try:
            return handle, self.storage.entry_info(located, os.fstat(handle.fileno()))
        except BaseException:
            handle.close()
            raise

    def create(self, share: str, segments: tuple[str, ...], length: int,
               content: dict[str, str], metadata: dict[str, str]) -> EntryInfo:
        """Create or replace a file of *length* zero bytes (sparse), like Create File."""
        located = self.storage.locate(share, segments)
        if not located.parent_exists:
            raise FilesError("ParentNotFound")
        with self.storage.lock_for(share, located.key):
            if located.path.is_dir():  # under the lock: a directory made meanwhile is seen
                raise FilesError("ResourceTypeMismatch")
            descriptor = os.open(located.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                if length:
                    os.ftruncate(descriptor, length)
                stat = os.fstat(descriptor)
            finally:
                os.close(descriptor)
            record = EntryRecord(Fingerprint.of(stat), content, metadata)
            self.store.put_entry(share, located.key, record)
        return self.storage.entry_info(located, stat, record)

    def write(self, share: str, segments: tuple[str, ...], offset: int, data: bytes) -> EntryInfo:
        return self._change_range(share, segments, offset, offset + len(data) - 1,
                                  lambda fd: os.pwrite(fd, data, offset))

    def clear(self, share: str, segments: tuple[str, ...], start: int, end: int) -> EntryInfo:
        def zero(descriptor: int) -> None:
            position = start
            while position <= end:
                count = min(len(_ZEROS), end - position + 1)
                os.pwrite(descriptor, _ZEROS[:count], position)
                position += count
        return self._change_range(share, segments, start, end, zero)

    def _change_range(self, share, segments, start, end, change) -> EntryInfo:
        located, _ = self._existing_file(share, segments)
        with self.storage.lock_for(share, located.key):
            descriptor = os.open(located.path, os.O_WRONLY)
            try:
                before = os.fstat(descriptor)
                if end >= before.st_size:
                    raise FilesError("InvalidRange")
                change(descriptor)
                after = os.fstat(descriptor)
            finally:
                os.close(descriptor)
            record = self._record(located, before, after)
        return self.storage.entry_info(located, after, record)

    def set_properties(self, share: str, segments: tuple[str, ...], content: dict[str, str] | None,
                       length: int | None = None, metadata: dict[str, str] | None = None) -> EntryInfo:
        """Replace content settings and/or metadata (None keeps them), optionally resize.

        Like Azure, this changes Last-Modified and the ETag: the file's mtime is touched.
        """
        located, _ = self._existing_file(share, segments)
        with self.storage.lock_for(share, located.key):
            before = os.stat(located.path)
            if length is not None:
                os.truncate(located.path, length)
            os.utime(located.path)
            after = os.stat(located.path)
            kept_content, kept_metadata = effective_settings(
                self.store.get_entry(share, located.key), before)
            self.store.put_entry(share, located.key, EntryRecord(
                Fingerprint.of(after),
                kept_content if content is None else content,
                kept_metadata if metadata is None else metadata))
        return self.storage.entry_info(located, after)

    def delete(self, share: str, segments: tuple[str, ...]) -> None:
        located, _ = self._existing_file(share, segments)
        with self.storage.lock_for(share, located.key):
            try:
                os.unlink(located.path)
            except FileNotFoundError:
                raise FilesError("ResourceNotFound") from None
            self.store.delete_entry(share, located.key)

    def _record(self, located: Located, before: os.stat_result, after: os.stat_result) -> EntryRecord | None:
        """Carry the sidecar row over an API write (caller holds the path's lock); the new row."""
        record = self.store.get_entry(located.share, located.key)
        if record is None:
            return None
        content, metadata = effective_settings(record, before)
        carried = EntryRecord(Fingerprint.of(after), content, metadata)
        self.store.put_entry(located.share, located.key, carried)
        return carried
