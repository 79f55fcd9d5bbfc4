"""One event type's records encoded as runs of their fields, so a run shared by many records is
encoded once (:func:`~alignment_flywheel.codec.compiler.compile_spans`).

Rules:

* The joined bytes (framing header, then every run in schema order) are exactly those of
  :meth:`~alignment_flywheel.codec.codec.EventCodec.encode_record` for the same record: Avro
  writes a record's fields one after the other, with nothing between them.
* A run's encoder takes a dict with (at least) that run's fields; a bad value raises
  :class:`~alignment_flywheel.errors.SchemaViolationError` naming the event and field, as
  :meth:`~alignment_flywheel.codec.codec.EventCodec.encode_record` does.
* The joined record obeys the event type's size limit
  (:class:`~alignment_flywheel.errors.OversizedEventError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.codec.binary import FieldError
from alignment_flywheel.codec.compiler import SpanEncoder
from alignment_flywheel.errors import OversizedEventError, SchemaViolationError


@dataclass(frozen=True)
class Spans:
    """The run encoders of one event type, its framing header and its size limit."""

    event: str
    header: bytes
    encoders: tuple[SpanEncoder, ...]
    limit: int

    def encode(self, run: int, record: dict[str, Any]) -> bytes:
        """The Avro binary of run number ``run`` of ``record``."""
        try:
            return self.encoders[run](record)
        except FieldError as exc:
            raise SchemaViolationError(f"{self.event}: {exc}") from None

    def join(self, runs: Sequence[bytes]) -> bytes:
        """The framed record: the header, then the runs (one per encoder, in order)."""
        if len(runs) != len(self.encoders):
            raise ValueError(f"{self.event}: {len(runs)} runs for {len(self.encoders)} encoders")
        data = self.header + b"".join(runs)
        if len(data) > self.limit:
            raise OversizedEventError(
                f"{self.event}: encoded size {len(data)} bytes exceeds the limit of "
                f"{self.limit} bytes"
            )
        return data
