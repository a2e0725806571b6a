"""The forked producer behind the parallel import: messages, failures, thread check."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from dispatch.services.import_pool import ForkedProducer, ProducerFailed, fork_is_safe


def count_to(send: Callable[[Any], None], n: int) -> None:
    for i in range(n):
        send(("item", i))


def fail_after_one(send: Callable[[Any], None]) -> None:
    send("first")
    raise ValueError("bad input in the child")


def die_after_one(send: Callable[[Any], None]) -> None:
    send("first")
    os._exit(3)


def test_messages_arrive_in_order_and_the_child_is_reaped() -> None:
    with ForkedProducer(count_to, 500) as producer:
        assert list(producer) == [("item", i) for i in range(500)]


def test_an_exception_in_the_child_is_raised_in_the_parent_with_its_traceback() -> None:
    got: list[Any] = []
    with (
        pytest.raises(ProducerFailed, match="bad input in the child"),
        ForkedProducer(fail_after_one) as producer,
    ):
        got.extend(producer)
    assert got == ["first"]


def test_a_child_that_dies_does_not_leave_the_parent_waiting() -> None:
    with (
        pytest.raises(ProducerFailed, match="exit"),
        ForkedProducer(die_after_one) as producer,
    ):
        list(producer)


def test_leaving_early_stops_the_child() -> None:
    with ForkedProducer(count_to, 10_000_000) as producer:
        assert next(iter(producer)) == ("item", 0)
        pid = producer._process.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left as a zombie
        os.kill(pid, 0)


def test_fork_is_not_safe_while_another_thread_runs() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert fork_is_safe() is False
    finally:
        stop.set()
        thread.join()
