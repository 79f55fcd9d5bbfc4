"""The shared event codec, as a faust codec.

Faust topics take a codec instance as ``value_serializer``; this wraps the project's
:class:`~alignment_flywheel.codec.EventCodec`, so faust processors and confluent-kafka connectors
read and write exactly the same bytes. Nothing is registered globally.
"""

from __future__ import annotations

from typing import Any

from faust.serializers.codecs import Codec

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import Event


class FaustEventCodec(Codec):
    """Encodes :class:`Event` models to framed Avro and back."""

    def __init__(self, event_codec: EventCodec) -> None:
        super().__init__()
        self.event_codec = event_codec

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, Event):
            return self.event_codec.encode(obj)
        if isinstance(obj, bytes | bytearray):
            return bytes(obj)
        raise TypeError(f"expected an Event or bytes, got {type(obj).__name__}")

    def _loads(self, s: bytes) -> Event:
        return self.event_codec.decode(s)
