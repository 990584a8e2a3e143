"""The Retry-After estimate of a pending submission: pure logic, from a queue snapshot."""

from __future__ import annotations

import pytest

from api.pending import (
    MAX_RETRY_AFTER,
    NOT_MOVING_RETRY_AFTER,
    Queue,
    QueueWatch,
    ahead_of,
    arrival_ms,
    retry_after,
)

# 100 queued, arrived evenly over 10 s, draining at 20 a second
QUEUE = Queue(depth=100, oldest_ms=1_000_000, newest_ms=1_010_000, rate=20.0)


def test_a_stream_entry_id_is_its_arrival():
    assert arrival_ms(b"1733371200123-4") == 1733371200123
    assert arrival_ms("5-0") == 5


@pytest.mark.parametrize(
    ("arrived", "ahead"),
    [(999_000, 0), (1_000_000, 0), (1_005_000, 50), (1_010_000, 100), (1_020_000, 100)],
)
def test_a_submissions_place_follows_its_arrival(arrived, ahead):
    assert ahead_of(arrived, QUEUE) == ahead


@pytest.mark.parametrize(
    ("status", "arrived", "queue", "seconds"),
    [
        ("grading", 1_009_000, QUEUE, 1),  # being graded: soon
        ("queued", 999_000, QUEUE, 1),  # started already (older than every queued one)
        ("queued", 1_005_000, QUEUE, 3),  # 50 ahead at 20/s
        ("queued", 1_010_000, QUEUE, 5),  # last of 100 at 20/s
        ("queued", 1_010_000, Queue(100, 1_000_000, 1_010_000, 0.5), MAX_RETRY_AFTER),  # capped
        ("queued", 1_010_000, Queue(100, 1_000_000, 1_010_000, None), NOT_MOVING_RETRY_AFTER),
        ("queued", 1_010_000, Queue(100, 1_000_000, 1_010_000, 0.0), NOT_MOVING_RETRY_AFTER),
        ("queued", 5, Queue(), 1),  # an empty queue: it starts now
        ("queued", None, QUEUE, 5),  # arrival unknown: behind all of them
    ],
)
def test_retry_after_is_the_queue_ahead_over_the_drain_rate(status, arrived, queue, seconds):
    assert retry_after(status, arrived, queue) == seconds


def test_the_drain_rate_is_measured_over_a_window_and_survives_a_redis_restart():
    now = [0.0]
    watch = QueueWatch(redis=None, clock=lambda: now[0])  # type: ignore[arg-type]
    assert watch._rate(0.0, 100) is None  # one sample says nothing
    assert watch._rate(1.0, 110) is None  # nor one second
    assert watch._rate(2.0, 140) == 20.0
    for t in range(3, 30):
        rate = watch._rate(float(t), 140 + 10 * (t - 2))
    assert rate == pytest.approx(10.0)  # the last 15 s only
    watch.queue = Queue(rate=rate)
    assert watch._rate(30.0, 3) == pytest.approx(
        10.0
    )  # the count began again: the last rate until it is measured
