"""What crosses the sandbox boundary: plain data only, in length-prefixed, size-capped frames.

Values are JSON with tags for the few plain containers JSON lacks (tuple, set, dict with non-string keys), so a
test comparing against `(1, 2)` or `{1: "a"}` still works. Decoding builds only builtins: an object whose `__eq__`
is always true cannot cross.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from typing import Any

MAX_FRAME = 8 * 1024 * 1024
_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """The other side broke the protocol: oversized, malformed or unexpected frames."""


class Timeout(Exception):
    pass


class NotPlainData(TypeError):
    pass


def encode_value(value: Any, depth: int = 0) -> Any:
    if depth > 200:
        raise NotPlainData("the value is nested too deeply")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if type(value) is list:
        return [encode_value(v, depth + 1) for v in value]
    if type(value) is tuple:
        return {"__tuple__": [encode_value(v, depth + 1) for v in value]}
    if type(value) in (set, frozenset):
        return {"__set__": [encode_value(v, depth + 1) for v in value]}
    if type(value) is dict:
        if all(type(k) is str and not k.startswith("__") for k in value):
            return {k: encode_value(v, depth + 1) for k, v in value.items()}
        return {
            "__dict__": [
                [encode_value(k, depth + 1), encode_value(v, depth + 1)] for k, v in value.items()
            ]
        }
    raise NotPlainData(f"a value of type {type(value).__name__} is not plain data")


def decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, inner),) = value.items()
            if tag == "__tuple__" and isinstance(inner, list):
                return tuple(decode_value(v) for v in inner)
            if tag == "__set__" and isinstance(inner, list):
                return {_hashable(decode_value(v)) for v in inner}
            if tag == "__dict__" and isinstance(inner, list):
                return {
                    _hashable(decode_value(k)): decode_value(v)
                    for k, v in (_pair(p) for p in inner)
                }
            if tag == "__float__" and inner in ("inf", "-inf", "nan"):
                return float(inner)
        return {str(k): decode_value(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ProtocolError(f"unexpected {type(value).__name__} in a message")


def _pair(p: Any) -> tuple[Any, Any]:
    if not (isinstance(p, list) and len(p) == 2):
        raise ProtocolError("malformed dict entry")
    return p[0], p[1]


def _hashable(v: Any) -> Any:
    try:
        hash(v)
    except TypeError:
        raise ProtocolError("unhashable key") from None
    return v


def pack(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    if len(payload) > MAX_FRAME:
        raise NotPlainData(
            f"the message is {len(payload):,} bytes; at most {MAX_FRAME:,} may cross"
        )
    return _HEADER.pack(len(payload)) + payload


def unpack(payload: bytes) -> dict[str, Any]:
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be an object")
    return message


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(pack(message))


def _recv_exactly(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout()
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except TimeoutError:
            raise Timeout() from None
        if not chunk:
            raise EOFError()
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(
    sock: socket.socket, deadline: float | None = None, limit: int = MAX_FRAME
) -> dict[str, Any]:
    """One frame, read against `deadline` (time.monotonic()); oversized frames are refused unread."""
    (length,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size, deadline))
    if length > limit:
        raise ProtocolError(f"a message of {length:,} bytes is over the {limit:,}-byte limit")
    return unpack(_recv_exactly(sock, length, deadline))
