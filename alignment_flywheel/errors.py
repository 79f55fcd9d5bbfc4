"""The one exception tree of the project.

Every error raised on purpose derives from :class:`FlywheelError`. Three branches matter to callers:

* :class:`UntrustedError`: a security failure (bad signature, rollback attempt, expired trust root).
  The input was well formed but must not be believed. Never retried.
* :class:`TransportError`: Kafka, ClickHouse or the network failed. The input may be fine; a retry
  may succeed.
* :class:`InvalidInputError`: the input itself is wrong (malformed bytes, schema violation, bad
  configuration). Retrying the same input cannot succeed; it is dead-lettered or reported.
"""

from __future__ import annotations


class FlywheelError(Exception):
    """Root of every error this project raises on purpose."""


# --- input that is wrong -------------------------------------------------------------------------


class InvalidInputError(FlywheelError):
    """The input is wrong; the same input will fail again."""


class ConfigError(InvalidInputError):
    """A setting or a configuration file is invalid."""


class CredentialsError(ConfigError):
    """Kafka credentials are missing or unreadable (never names the password)."""


class CodecError(InvalidInputError):
    """Bytes could not be turned into an event, or an event into bytes."""


class MalformedEventError(CodecError):
    """The bytes are not a framed Avro record (bad header, truncated or trailing data)."""


class UnknownSchemaError(CodecError):
    """The writer schema named by the frame (fingerprint or registry id) is not known."""


class SchemaViolationError(CodecError):
    """The record does not satisfy its schema (missing field, wrong type, value out of range)."""


class OversizedEventError(CodecError):
    """The encoded event is larger than the configured limit."""


class SchemaError(InvalidInputError):
    """A schema file is invalid, or its history is inconsistent."""


class SchemaCompatibilityError(SchemaError):
    """A schema change is not backward and forward compatible with the kept versions."""


class CatalogError(InvalidInputError):
    """The topic catalog is invalid."""


MAX_LISTED_PROBLEMS = 50


class PolicyDocumentError(InvalidInputError):
    """An oracle artifact or a risk policy is invalid; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[str] | tuple[str, ...]) -> None:
        self.source = source
        self.problems = tuple(problems)
        shown = [f"  - {problem}" for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            shown.append(f"  ... and {len(self.problems) - MAX_LISTED_PROBLEMS} more")
        listed = "\n".join(shown)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{listed}")


# --- the outside world failed --------------------------------------------------------------------


class TransportError(FlywheelError):
    """Kafka, ClickHouse or another dependency failed; the same request may succeed later."""


class BrokerError(TransportError):
    """The local Kafka broker could not be fetched, formatted, started or stopped."""


class KafkaTransportError(TransportError):
    """A Kafka client operation failed."""


class ClickHouseError(TransportError):
    """A ClickHouse operation failed."""


class WorkerError(FlywheelError):
    """A worker process exited, or did not join its consumer group in time."""


# --- security ------------------------------------------------------------------------------------


class UntrustedError(FlywheelError):
    """A security check failed: the input must not be believed. Never retried."""
