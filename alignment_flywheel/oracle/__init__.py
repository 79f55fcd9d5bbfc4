"""The Safety Oracle: a versioned policy artifact behind a stable contract."""

from alignment_flywheel.oracle.contract import (
    Amendment,
    Oracle,
    OracleError,
    OracleSignal,
    OracleTimeoutError,
    Signal,
    UnknownToolError,
)

__all__ = [
    "Amendment",
    "Oracle",
    "OracleError",
    "OracleSignal",
    "OracleTimeoutError",
    "Signal",
    "UnknownToolError",
]
