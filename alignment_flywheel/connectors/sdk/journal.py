"""An append-only local journal of records the SDK could not (yet) publish to Kafka.

Format: a sequence of frames ``[u32 body length][u32 CRC-32 of body][body]`` (big-endian). A body
is ``[u16 topic length][topic][i32 key length, -1 = no key][key][u16 header count]`` then per
header ``[u16 name length][name][u32 value length][value]``, then the record value to the end.
A record placed by its session (``partition_key``, see
:mod:`alignment_flywheel.kafka.placement`) sets the top bit of the topic length (topic names
are far shorter) and has ``[u32 partition key length][partition key]`` right after the topic;
journals written before that field read as they always did.

Rules:

* **Durability**: :meth:`Journal.append` writes the frames and calls ``fsync`` before returning,
  so an appended record survives a crash of the process or the machine.
* **Torn tail**: a process that dies mid-write leaves a partial last frame (short or with a bad
  CRC). It is detected when the journal is opened, logged as a warning and cut off; every complete
  frame before it is kept.
* **Corruption** anywhere else (a bad frame followed by more data) is not guessed around: the file
  is renamed to ``*.corrupt`` for manual recovery, logged as an error, and a fresh journal starts.
* **Ownership**: each open journal holds an exclusive ``flock`` on its file. A journal file that
  nobody holds was left by a process that died; :func:`adopt_orphans` moves its records, in order,
  into the caller's journal and deletes it.
* **Removal** only through :meth:`Journal.consume` (drop a prefix the broker acknowledged). The
  journal then starts at that offset in memory; the file is truncated once everything is consumed,
  or rewritten without the prefix once it exceeds :data:`COMPACT_BYTES`. A rewrite (also used by
  :meth:`Journal.prepend`) writes a new file, ``fsync`` s it and atomically renames it over the old
  one, so a crash never leaves half a journal. A crash before the rewrite replays the consumed
  prefix again: delivery is at least once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from alignment_flywheel.connectors.sdk.errors import JournalError

log = logging.getLogger(__name__)

SUFFIX = ".journal"
_FRAME = struct.Struct(">II")
_PLACED = 0x8000
COMPACT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One Kafka record waiting to be published; ``partition_key``: the bytes its partition is
    chosen by (the session key), None to leave it to the producer's partitioner (by ``key``)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    partition_key: bytes | None = None


def encode_frame(record: JournalRecord) -> bytes:
    """The frame of one record."""
    topic = record.topic.encode()
    placed = record.partition_key
    parts = [struct.pack(">H", len(topic) | (0 if placed is None else _PLACED)), topic]
    if placed is not None:
        parts += [struct.pack(">I", len(placed)), placed]
    if record.key is None:
        parts.append(struct.pack(">i", -1))
    else:
        parts += [struct.pack(">i", len(record.key)), record.key]
    parts.append(struct.pack(">H", len(record.headers)))
    for name, value in record.headers:
        raw = name.encode()
        parts += [struct.pack(">H", len(raw)), raw, struct.pack(">I", len(value)), value]
    parts.append(record.value)
    body = b"".join(parts)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def _decode_body(body: bytes) -> JournalRecord:
    (size,) = struct.unpack_from(">H", body, 0)
    placed = bool(size & _PLACED)
    pos = 2 + (size & ~_PLACED)
    topic = body[2:pos].decode()
    partition_key = None
    if placed:
        (placed_size,) = struct.unpack_from(">I", body, pos)
        partition_key = body[pos + 4 : pos + 4 + placed_size]
        pos += 4 + placed_size
    (key_size,) = struct.unpack_from(">i", body, pos)
    pos += 4
    key = None if key_size < 0 else body[pos : pos + key_size]
    pos += max(key_size, 0)
    (count,) = struct.unpack_from(">H", body, pos)
    pos += 2
    headers = []
    for _ in range(count):
        (name_size,) = struct.unpack_from(">H", body, pos)
        name = body[pos + 2 : pos + 2 + name_size].decode()
        pos += 2 + name_size
        (value_size,) = struct.unpack_from(">I", body, pos)
        headers.append((name, body[pos + 4 : pos + 4 + value_size]))
        pos += 4 + value_size
    return JournalRecord(topic, key, body[pos:], tuple(headers), partition_key)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The complete records of a journal file, the offset after each, and how it ends."""

    records: tuple[JournalRecord, ...]
    ends: tuple[int, ...]
    valid_size: int
    torn_tail: bool
    corrupt_at: int | None


def scan(data: bytes) -> ScanResult:
    """Parse journal bytes: every complete frame, then a torn tail or corruption, if any."""
    records: list[JournalRecord] = []
    ends: list[int] = []
    pos = 0
    while pos < len(data):
        end = pos + _FRAME.size
        if end > len(data):
            return ScanResult(tuple(records), tuple(ends), pos, True, None)
        size, crc = _FRAME.unpack_from(data, pos)
        body = data[end : end + size]
        if len(body) < size or zlib.crc32(body) != crc:
            torn = end + size >= len(data)
            return ScanResult(tuple(records), tuple(ends), pos, torn, None if torn else pos)
        records.append(_decode_body(body))
        pos = end + size
        ends.append(pos)
    return ScanResult(tuple(records), tuple(ends), pos, False, None)


def _lock(handle: BinaryIO) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """One process's journal file, locked for as long as it is open. Thread-safe."""

    def __init__(self, directory: Path, name: str | None = None) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.path = directory / (name or f"sdk-{uuid.uuid4().hex}{SUFFIX}")
            self._file: BinaryIO = open(self.path, "ab+")  # noqa: SIM115
        except OSError as exc:
            raise JournalError(f"cannot open the journal in {directory}: {exc}") from exc
        if not _lock(self._file):
            self._file.close()
            raise JournalError(f"journal {self.path} is held by another process")
        self._lock = threading.Lock()
        self._start = 0
        self._recover()

    def _recover(self) -> None:
        self._file.seek(0)
        result = scan(self._file.read())
        if result.corrupt_at is not None:
            target = self.path.with_suffix(f".corrupt-{uuid.uuid4().hex[:8]}")
            log.error(
                "journal %s is corrupt at byte %d; moved to %s, starting empty",
                self.path,
                result.corrupt_at,
                target,
            )
            os.rename(self.path, target)
            self._replace(b"")
        elif result.torn_tail:
            log.warning(
                "journal %s ends in a torn record (a crash mid-write); ignoring its %d bytes",
                self.path,
                self._size() - result.valid_size,
            )
            self._file.truncate(result.valid_size)
            os.fsync(self._file.fileno())

    @property
    def size(self) -> int:
        """Bytes in the journal; 0 when every record was published."""
        with self._lock:
            return self._size()

    def _size(self) -> int:
        return os.fstat(self._file.fileno()).st_size - self._start

    def append(self, records: Iterable[JournalRecord]) -> None:
        """Append records in order and fsync; raises JournalError if the disk refuses."""
        data = b"".join(encode_frame(record) for record in records)
        if not data:
            return
        with self._lock:
            try:
                self._file.write(data)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                raise JournalError(f"cannot append to journal {self.path}: {exc}") from exc

    def read(self, max_records: int | None = None) -> list[tuple[JournalRecord, int]]:
        """The first records (all, or up to ``max_records``), each with the byte offset after it."""
        found: list[tuple[JournalRecord, int]] = []
        with self._lock:
            self._file.seek(self._start)
            while max_records is None or len(found) < max_records:
                header = self._file.read(_FRAME.size)
                if len(header) < _FRAME.size:
                    break
                size, crc = _FRAME.unpack(header)
                body = self._file.read(size)
                if len(body) < size or zlib.crc32(body) != crc:
                    raise JournalError(f"journal {self.path} changed under its reader")
                found.append((_decode_body(body), self._file.tell()))
        return found

    def consume(self, upto: int) -> None:
        """Drop the records before byte ``upto`` (an offset :meth:`read` returned)."""
        with self._lock:
            self._start = upto
            if self._size() == 0:
                self._file.truncate(0)
                os.fsync(self._file.fileno())
                self._start = 0
            elif self._start > COMPACT_BYTES:
                self._file.seek(self._start)
                self._replace(self._file.read())

    def prepend(self, records: Sequence[JournalRecord]) -> None:
        """Put records before everything already journaled (they are older)."""
        if not records:
            return
        with self._lock:
            self._file.seek(self._start)
            rest = self._file.read()
            self._replace(b"".join(encode_frame(r) for r in records) + rest)

    def _replace(self, data: bytes) -> None:
        temporary = self.path.with_suffix(".tmp")
        try:
            handle: BinaryIO = open(temporary, "wb+")  # noqa: SIM115
            _lock(handle)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            _fsync_dir(self.directory)
        except OSError as exc:
            raise JournalError(f"cannot rewrite journal {self.path}: {exc}") from exc
        self._file.close()
        self._file = handle
        self._start = 0

    def close(self) -> None:
        """Release the file (without the consumed prefix); an empty journal is deleted."""
        with self._lock:
            empty = self._size() == 0
            if self._start and not empty:
                self._file.seek(self._start)
                self._replace(self._file.read())
            self._file.close()
        if empty:
            self.path.unlink(missing_ok=True)


def adopt_orphans(journal: Journal) -> int:
    """Move the records of journals left by dead processes into ``journal``; returns how many."""
    adopted = 0
    for path in sorted(journal.directory.glob(f"*{SUFFIX}")):
        if path == journal.path:
            continue
        with open(path, "rb") as handle:
            if not _lock(handle) or not path.exists():
                continue
            result = scan(handle.read())
            if result.torn_tail:
                log.warning("orphan journal %s ends in a torn record; ignoring it", path)
            if result.corrupt_at is not None:
                log.error("orphan journal %s is corrupt at byte %d; left", path, result.corrupt_at)
                continue
            journal.append(result.records)
            path.unlink()
        adopted += len(result.records)
        log.info(
            "adopted %d records from the journal of a dead process: %s", len(result.records), path
        )
    return adopted
