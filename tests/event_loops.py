"""Running a coroutine from a test: on a thread of its own, since the session-wide browser fixture (Playwright's
sync API) keeps an event loop running on the main thread, where asyncio.run refuses to start."""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

_T = TypeVar("_T")


def run_alone(coroutine: Coroutine[object, object, _T]) -> _T:
    """`asyncio.run(coroutine)` on a new thread; its result (or its exception)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
