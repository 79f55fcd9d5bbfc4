"""Named sets: the data an oracle artifact keeps beside its rules (OPA's ``data``).

An artifact's ``data`` maps set names to values::

    data:
      known_recipients: [alice@example.com, bob@example.com]
      payees: [DE89370400440532013000]
      limits: [100, 250.5]

Rules refer to them through the CEL variable ``data`` (``args.to in data.known_recipients``,
``!(args.iban in data.payees)``); in CEL a set is a list of its values.

Rules of this module:

* A set name matches ``^[a-z][a-z0-9_]{0,63}$``. A value is a string, a boolean or a finite
  number; an integer must be exact in JSON (at most ``2**53 - 1`` in magnitude).
* Sets are stored canonical: values de-duplicated and sorted (booleans, then numbers, then
  strings), a number with an integral value stored as an integer (``1.0`` is ``1``, as in CEL where
  ``1 == 1.0``), sets in name order. Two documents that mean the same sets have the same canonical
  form, hence the same artifact digest.
* The RFC 8785 canonical JSON of all the sets together is at most :data:`DATA_MAX_BYTES` bytes, so
  that a patch replacing them fits in a signed envelope; a larger ``data`` is refused at load time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Annotated

import rfc8785
from pydantic import AfterValidator, PlainValidator, StringConstraints

SET_NAME = r"^[a-z][a-z0-9_]{0,63}$"
MAX_SAFE_INT = 2**53 - 1
DATA_MAX_BYTES = 256 * 1024

Scalar = str | int | float | bool
SetName = Annotated[str, StringConstraints(pattern=SET_NAME)]


def data_value(value: object) -> Scalar:
    """One set value, checked and normalised; ValueError naming what is wrong."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise ValueError(f"integer {value} is beyond 2**53 - 1 in magnitude")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"number {value} is not finite")
        return int(value) if value.is_integer() and abs(value) <= MAX_SAFE_INT else value
    raise ValueError(f"a set value is a string, number or boolean, not {type(value).__name__}")


DataValue = Annotated[Scalar, PlainValidator(data_value)]


def value_key(value: Scalar) -> tuple[int, Scalar]:
    """What identifies a value in a set, and orders it: its kind, then the value."""
    if isinstance(value, bool):
        return (0, value)
    return (2, value) if isinstance(value, str) else (1, value)


def canonical_values(values: Iterable[Scalar]) -> tuple[Scalar, ...]:
    """The values de-duplicated (``1`` and ``1.0`` are one value, ``1`` and ``true`` two) and
    sorted."""
    unique: dict[tuple[int, Scalar], Scalar] = {}
    for value in values:
        unique.setdefault(value_key(value), value)
    return tuple(unique[key] for key in sorted(unique))


def data_size(data: Mapping[str, Iterable[Scalar]]) -> int:
    """Bytes of the RFC 8785 canonical JSON of the sets."""
    return len(rfc8785.dumps({name: list(values) for name, values in data.items()}))


def canonical_data(data: Mapping[str, Iterable[Scalar]]) -> dict[str, tuple[Scalar, ...]]:
    """The sets in canonical form; ValueError when they are over :data:`DATA_MAX_BYTES`."""
    canonical = {name: canonical_values(data[name]) for name in sorted(data)}
    size = data_size(canonical)
    if size > DATA_MAX_BYTES:
        raise ValueError(
            f"the named sets are {size} bytes of canonical JSON, over the limit of "
            f"{DATA_MAX_BYTES}; keep large reference data outside the artifact"
        )
    return canonical


DataSets = Annotated[dict[SetName, tuple[DataValue, ...]], AfterValidator(canonical_data)]


def cel_data(
    data: Mapping[str, tuple[Scalar, ...]], names: Iterable[str] | None
) -> dict[str, list[Scalar]]:
    """The CEL value of ``data`` (each set a list): the sets named, or all of them (None)."""
    wanted = data.keys() if names is None else [n for n in names if n in data]
    return {name: list(data[name]) for name in sorted(wanted)}
