"""What crosses the sandbox boundary, without a sandbox: plain data in size-capped frames, decoded into builtins
only, read against a deadline (over a real socket pair)."""

from __future__ import annotations

import math
import socket
import struct
import threading
import time

import pytest

from sandbox import wire


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        -(2**70),
        "naïve\x00",
        1.5,
        [1, [2, [3]]],
        (1, 2),
        {1, 2},
        frozenset({"a"}),
        {"a": 1},
        {1: "a", (2, 3): None},
        {"__tuple__": "a key that looks like a tag"},
    ],
)
def test_plain_values_cross_unchanged(value):
    crossed = wire.decode_value(wire.unpack(wire.pack({"v": wire.encode_value(value)})[4:])["v"])
    expected = set(value) if isinstance(value, frozenset) else value
    assert crossed == expected and type(crossed) is type(expected)


def test_infinities_and_nan_cross_as_floats():
    inf, nan = (wire.decode_value(wire.encode_value(v)) for v in (math.inf, math.nan))
    assert inf == math.inf and math.isnan(nan)


def test_objects_do_not_cross():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    class Sneaky(int):  # an int subclass could still override __eq__
        pass

    for value in (AlwaysEqual(), Sneaky(3), [AlwaysEqual()], {"k": object()}):
        with pytest.raises(wire.NotPlainData):
            wire.encode_value(value)
    deep: list = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(wire.NotPlainData, match="nested too deeply"):
        wire.encode_value(deep)


def test_malformed_messages_are_protocol_errors():
    for payload in (b"{not json", b"[1, 2]", b'"text"'):
        with pytest.raises(wire.ProtocolError):
            wire.unpack(payload)
    for value in ({"__dict__": [[1]]}, {"__set__": [[1]]}):
        with pytest.raises(wire.ProtocolError):
            wire.decode_value(value)


def test_a_frame_round_trips_over_a_socket():
    a, b = socket.socketpair()
    with a, b:
        message = {"verdict": "passed", "tests": [{"name": "t" * 10_000}]}
        sender = threading.Thread(target=wire.send, args=(a, message))
        sender.start()
        assert wire.recv(b, time.monotonic() + 5) == message
        sender.join()


def test_an_oversized_frame_is_refused_unread():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack(">I", 1000) + b"x" * 10)
        with pytest.raises(wire.ProtocolError, match="over the 100-byte limit"):
            wire.recv(b, time.monotonic() + 5, limit=100)
    with pytest.raises(wire.NotPlainData, match="may cross"):
        wire.pack({"big": "x" * (wire.MAX_FRAME + 1)})


def test_a_silent_peer_times_out_and_a_closed_one_ends():
    a, b = socket.socketpair()
    with a, b:
        started = time.monotonic()
        with pytest.raises(wire.Timeout):
            wire.recv(b, time.monotonic() + 0.2)
        assert time.monotonic() - started < 2
        a.sendall(struct.pack(">I", 50) + b"{")  # half a frame, then gone
        a.close()
        with pytest.raises(EOFError):
            wire.recv(b, time.monotonic() + 5)
