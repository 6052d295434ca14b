"""The worker threads an ``async`` operation hands its blocking read to.

A read that may wait (for the views to reach a position, or for a position that is itself a
query of a database server) never runs on the event loop (``Knowledge.may_wait``); a search
that need not is awaited on the loop (``ReadSide.entitlements_on_loop``), as the hop here
and back costs several times the read itself. FastAPI's ``run_in_threadpool`` goes through
anyio, which passes through the event loop once more, takes a capacity token and opens a
shielded cancel scope on every hop: about 170 Python calls a search. The loop's own
``run_in_executor`` on a pool of the service's makes the same hop, in a copy of the caller's
context, in a few. The pool has as many threads as anyio's default limit (40), so as many
reads can wait at once as before. A request cancelled meanwhile (the client went away) no
longer waits for its read to end; the read ends in its thread and its answer is dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from fastapi import Request

WORKERS = 40

P = ParamSpec("P")
T = TypeVar("T")


class ReadThreads:
    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ledger-read")

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call(*args, **kwargs)`` in a worker thread, in a copy of the caller's context."""
        context = contextvars.copy_context()
        work = functools.partial(context.run, call, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        """Let the reads under way finish; take no more."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def read_threads(request: Request) -> ReadThreads:
    threads: ReadThreads = request.app.state.read_threads
    return threads
