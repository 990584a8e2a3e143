"""Which submissions the plain-ASGI path takes (api/routes/submissions/fast.py) and which it leaves to the route's
validation, and that the route then reads the body the fast path already read."""

from __future__ import annotations

import asyncio

import pytest

from api.routes.submissions.fast import bearer, plain_code, replay, whole_body

JSON = {b"content-type": b"application/json"}


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        (JSON, b'{"code": "print(1)"}', "print(1)"),
        ({b"content-type": b"Application/JSON; charset=utf-8"}, b'{"code": "x"}', "x"),
        (JSON, b'{"code": ""}', ""),  # accept() answers the 422 for empty code, as the route does
        # Everything else goes to the route, which answers it
        (JSON, b'{"code": "x", "language": "c"}', None),  # an unknown field: its 422
        (JSON, b'{"code": 5}', None),
        (JSON, b'["code"]', None),
        (JSON, b"{}", None),
        (JSON, b'{"code": "a\\u0000b"}', None),  # NUL: the route's 422 names the field
        (JSON, b'{"code": "\\ud800"}', None),  # a lone surrogate
        (JSON, b'{"code": "x"', None),  # not JSON
        (JSON, b"", None),
        ({b"content-type": b"text/plain"}, b'{"code": "x"}', None),
        ({}, b'{"code": "x"}', None),
    ],
)
def test_only_a_body_of_storable_code_alone_takes_the_fast_path(headers, body, code):
    assert plain_code(headers, body) == code


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (b"Bearer abc", "abc"),
        (b"bearer  abc ", "abc"),
        (b"Basic abc", None),
        (b"Bearer ", None),
        (b"", None),
    ],
)
def test_a_bearer_token_is_read_as_the_route_reads_it(value, token):
    assert bearer({b"authorization": value} if value else {}) == token


def test_the_route_is_given_the_body_already_read_then_what_follows():
    later = [{"type": "http.disconnect"}]

    async def receive():
        return later.pop()

    async def both():
        again = replay(b'{"code": 1}', receive)
        return await again(), await again()

    first, second = asyncio.run(both())
    assert first == {"type": "http.request", "body": b'{"code": 1}', "more_body": False}
    assert second == {"type": "http.disconnect"}


def test_a_body_is_read_whole_or_not_at_all():
    def client(*messages):
        queue = list(messages)

        async def receive():
            return queue.pop(0)

        return receive

    whole = client(
        {"type": "http.request", "body": b'{"co', "more_body": True},
        {"type": "http.request", "body": b'de": "x"}', "more_body": False},
    )
    left = client(
        {"type": "http.request", "body": b'{"code": "x"}', "more_body": True},
        {"type": "http.disconnect"},
    )
    assert asyncio.run(whole_body(whole)) == b'{"code": "x"}'
    assert asyncio.run(whole_body(left)) is None
