"""The shared event codec: Avro bodies, framed by writer-schema fingerprint or registry id.

* :class:`EventCodec` turns events (models or plain dicts) into framed bytes and back.
* :class:`SchemaRepository` reads the contract: current schemas and released versions.
* :func:`check_schemas` and :func:`freeze_schemas` enforce the evolution rules.
* :class:`SingleObjectFraming` (default) and :class:`RegistryFraming` are the framing strategies.
"""

from __future__ import annotations

from alignment_flywheel.codec.codec import EventCodec, default_repository
from alignment_flywheel.codec.evolution import (
    SchemaProblem,
    check_schemas,
    compatibility_problems,
    freeze_schemas,
)
from alignment_flywheel.codec.framing import (
    REGISTRY_MAGIC,
    SINGLE_OBJECT_MARKER,
    Framing,
    RegistryFraming,
    SingleObjectFraming,
)
from alignment_flywheel.codec.repository import SchemaRepository, SchemaVersion

__all__ = [
    "REGISTRY_MAGIC",
    "SINGLE_OBJECT_MARKER",
    "EventCodec",
    "Framing",
    "RegistryFraming",
    "SchemaProblem",
    "SchemaRepository",
    "SchemaVersion",
    "SingleObjectFraming",
    "check_schemas",
    "compatibility_problems",
    "default_repository",
    "freeze_schemas",
]
