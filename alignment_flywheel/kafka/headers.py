"""Record headers the platform writes and reads, named once.

* ``flywheel-decided-by`` (:data:`DECIDED_BY_HEADER`): set by a producer that decided the proposal
  in process (the SDK: ``sdk``, the HTTP endpoint: ``http``); the gate passes over such a record,
  and replay reads it to know who decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DECIDED_BY_HEADER = "flywheel-decided-by"


def decided_elsewhere(headers: Any) -> str | None:
    """The value of the ``flywheel-decided-by`` header, or None when the gate must decide."""
    if not headers:
        return None
    items: Any = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if name == DECIDED_BY_HEADER:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None
