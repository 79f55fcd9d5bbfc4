"""The worker runner's garbage-collector tuning."""

from __future__ import annotations

import gc

from alignment_flywheel.processors.app import GC_YOUNG_THRESHOLD, tune_gc


def test_tune_gc_freezes_startup_objects_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
