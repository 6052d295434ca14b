"""The cycle collector's pace during long batch work: an import, a replay, a verification.

Such work keeps many objects alive on purpose (the aggregates an import keeps at hand, the
subjects a projector holds, the signatures already checked) and allocates millions more
that reference counting frees at once. Left at its defaults, the collector walks the young
objects after every 700 allocations more than frees, and every live object now and then:
15 % of the CPU of the demo at scale 0.1, more as the live objects grow. Reference cycles
are rare in this work, so while it runs the collector runs far less often.

Only for commands and worker processes: the thresholds are the process's, so a server's
threads never change them. The block should end after the work's own objects are let go:
the collections that follow at the usual pace soon walk every object still alive once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BATCH_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def rare_collections() -> Iterator[None]:
    """Collect cycles at the batch pace within the block, as before it after."""
    before = gc.get_threshold()
    gc.set_threshold(*BATCH_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
