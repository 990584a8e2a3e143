"""A small HTTP client for the GradeFlow API that turns every failure into a message a person can act on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx


@lru_cache(maxsize=8)
def connection_pool(base_url: str) -> httpx.Client:
    """One keep-alive pool per API for the whole dashboard process (httpx clients are thread-safe), so polling a
    result does not open a connection each time."""
    return httpx.Client(base_url=f"{base_url}/api/v1", limits=httpx.Limits(max_connections=100))


class ApiProblem(Exception):
    """Something the user should read: API down, bad token, a refused request."""


@dataclass
class Api:
    base_url: str
    token: str
    timeout: float = 30.0

    def request(
        self, method: str, path: str, expect: tuple[int, ...] = (), **kwargs: Any
    ) -> tuple[int, Any]:
        """Returns (status, body). Statuses in `expect` are returned; other 4xx/5xx raise ApiProblem with the
        API's own message."""
        try:
            response = connection_pool(self.base_url).request(
                method,
                path,
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.token}"},
                **kwargs,
            )
        except httpx.HTTPError as exc:
            raise ApiProblem(
                f"The GradeFlow API at {self.base_url} is not reachable ({type(exc).__name__}). "
                "Is it running? Try again in a moment."
            ) from None
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
        else:
            body = response.text
        if response.status_code in expect:
            return response.status_code, body
        if response.status_code == 401:
            raise ApiProblem(
                "That token was not accepted. Check it, or ask your instructor for a new one."
            )
        if response.status_code >= 400:
            detail = body.get("detail") if isinstance(body, dict) else None
            raise ApiProblem(str(detail or f"The API answered {response.status_code}."))
        return response.status_code, body

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)[1]

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)[1]

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)[1]
