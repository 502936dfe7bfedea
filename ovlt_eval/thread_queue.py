"""The consumer side of a producer thread: items from a queue until a sentinel.

The openai engine (its asyncio loop runs in a thread) and the data factory's source reader both
hand items from a thread to a plain generator this way.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any


def drain(q: queue.Queue, done: object, poll: float = 0.5) -> Iterator[Any]:
    """Yield what the producer puts on `q` until it puts `done`. An exception it puts there is
    raised here, in the consumer, with its message intact. The get polls, so Ctrl-C reaches a
    main thread waiting on a producer that has nothing to say."""
    while True:
        try:
            item = q.get(timeout=poll)
        except queue.Empty:
            continue
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item
