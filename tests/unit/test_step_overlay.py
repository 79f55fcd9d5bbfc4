"""An overlay lets mutable-mapping code run inside a step: its changes are the table's writes."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from alignment_flywheel.governance.step import Overlay, apply


def test_changes_are_kept_aside_and_read_back_through_the_overlay() -> None:
    table = {"a": 1, "b": 2}
    overlay = Overlay(MappingProxyType(table))
    overlay["c"] = 3
    overlay["a"] = 10
    del overlay["b"]
    assert table == {"a": 1, "b": 2}
    assert dict(overlay) == {"a": 10, "c": 3} and len(overlay) == 2
    assert "b" not in overlay and overlay.get("b") is None
    assert overlay.changes == {"c": 3, "a": 10, "b": None}
    assert apply({"t": table}, {"t": overlay.changes}) == {"t": {"a": 10, "c": 3}}


def test_deleting_a_missing_key_raises_and_a_none_value_counts_as_absent() -> None:
    overlay = Overlay({"gone": None})
    assert list(overlay) == [] and "gone" not in overlay
    with pytest.raises(KeyError):
        del overlay["missing"]
    with pytest.raises(KeyError):
        overlay["gone"]
    overlay["new"] = 1
    del overlay["new"]
    assert "new" not in overlay and dict(overlay.changes) == {"new": None}
    overlay["gone"] = 2
    assert list(overlay) == ["gone"] and len(overlay) == 1
