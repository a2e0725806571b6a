"""A producer in a forked child process whose messages the parent consumes as they arrive.

The case import uses it to validate and format a big file on one core while the parent writes
the chunks already checked on the other (see ``imports.import_cases``). The child never touches
the parent's database connection: it only computes and sends picklable values down a pipe.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

logger = logging.getLogger(__name__)

#: A producer gets ``send`` (pickles one message to the parent) and its own arguments.
Producer = Callable[..., None]


class ProducerFailed(RuntimeError):
    """The child process raised or died; the message holds its traceback or exit code."""


_DONE = "__producer_done__"
_FAILED = "__producer_failed__"


def fork_is_safe() -> bool:
    """True when this process runs a single OS thread, so a forked child cannot inherit a lock
    another thread held at fork time (a web process with request threads is not such a case).

    ``/proc/self/task`` counts threads started by C libraries too, which
    ``threading.active_count`` misses.
    """
    if not hasattr(os, "fork"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


#: Messages the child may have ready beyond the one the parent is reading: the producer
#: keeps working while a big message waits in the pipe, which smooths out chunks that take
#: longer on one side than on the other.
_AHEAD = 2
_STOP = object()


def _child(target: Producer, conn: Connection, args: tuple[Any, ...]) -> None:
    outbox: queue.Queue[Any] = queue.Queue(maxsize=_AHEAD)

    def pump() -> None:
        # os.write releases the GIL: a message waiting for the parent to read it does not
        # hold up the producer.
        while (item := outbox.get()) is not _STOP:
            conn.send(item)

    sender = threading.Thread(target=pump, name="import-send", daemon=True)
    sender.start()
    try:
        target(outbox.put, *args)
    except BaseException:
        outbox.put((_FAILED, traceback.format_exc()))
    else:
        outbox.put((_DONE, None))
    outbox.put(_STOP)
    sender.join()
    conn.close()


class ForkedProducer:
    """Run ``target(send, *args)`` in a forked child; iterate over what it sends.

    Use as a context manager: leaving the block early (an error while consuming, or the
    consumer deciding it has seen enough) kills the child, so nothing outlives the import.
    """

    def __init__(self, target: Producer, *args: Any) -> None:
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_child, args=(target, send, args), name="import-validate", daemon=True
        )
        self._process.start()
        # The child holds the only sending end now: when it dies, recv() raises EOFError
        # instead of blocking for ever.
        send.close()

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                message = self._recv.recv()
            except EOFError:
                self._process.join()
                raise ProducerFailed(
                    f"validation process exited with code {self._process.exitcode}"
                ) from None
            if type(message) is tuple and len(message) == 2:
                if message[0] == _DONE:
                    return
                if message[0] == _FAILED:
                    raise ProducerFailed(message[1])
            yield message

    def close(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._process.close()
        self._recv.close()

    def __enter__(self) -> ForkedProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
