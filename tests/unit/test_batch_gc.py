"""The cycle collector's pace during batch work, and after it."""

from __future__ import annotations

import gc

import pytest

from projections.engine.batch_gc import BATCH_THRESHOLDS, rare_collections


def test_batch_work_collects_at_its_pace_and_leaves_the_pace_as_it_was() -> None:
    before = gc.get_threshold()
    with rare_collections():
        assert gc.get_threshold() == BATCH_THRESHOLDS
        with rare_collections():
            assert gc.get_threshold() == BATCH_THRESHOLDS
        assert gc.get_threshold() == BATCH_THRESHOLDS
    assert gc.get_threshold() == before


def test_the_pace_is_restored_when_the_work_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), rare_collections():
        raise RuntimeError("stopped")
    assert gc.get_threshold() == before
