"""What the worker changes in the Temporal SDK's own path, and why (`tune_sdk`, called once at start).

Payload walks. temporalio 1.18 and later walk every workflow activation three times on the way in and every completion
three times on the way out (`temporalio.bridge.worker.decode_activation` and `encode_completion`), asking the data
converter's payload codec and external storage to rewrite each payload. GradeFlow configures neither, so every walk hands back
the payloads it was given; in a deadline rush the walks were a sixth of the worker's main thread (py-spy), and
skipping them cut the worker's CPU from 15.4 to 13.3 ms a grading (median of three rushes each, alternating in one
stack; BENCHMARKS.md). The SDK has no setting for this, so the two functions are wrapped: with a codec or external
storage (a deployment that adds one) they run exactly as before.

Type hints. The SDK's JSON converter turns each payload into its dataclass by asking `typing.get_type_hints` for the
class's fields every time; with postponed annotations that evaluates every annotation's text again (a third of a
millisecond for GradingOutcome, which crosses twice per grading). A class's hints do not change while the process
runs, so the converter's calls for a class are answered from a cache.

Written here rather than taken from a library because it is a property of this SDK's internals: the wrapper checks
that what it wraps is still what it expects, and leaves the SDK alone otherwise.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import temporalio.bridge.worker as bridge
import temporalio.converter._payload_converter as payload_converter
from temporalio.converter import DataConverter

Metrics: Any
try:
    from temporalio.converter._extstore import StorageOperationMetrics as Metrics
except ImportError:  # an SDK from before external storage, whose walks this does not know
    Metrics = None

log = logging.getLogger("gradeflow.worker")

# Set on what this module put in the SDK's place: the SDK's own function
WRAPPED = "_gradeflow_wraps"


def _does_nothing(data_converter: DataConverter) -> bool:
    return data_converter.payload_codec is None and data_converter.external_storage is None


def _skipping(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def visit_if_needed(message: Any, data_converter: Any, *args: Any, **kwargs: Any) -> Any:
        if _does_nothing(data_converter):
            return Metrics()  # what a walk that moved no payload reports
        return await original(message, data_converter, *args, **kwargs)

    setattr(visit_if_needed, WRAPPED, original)
    return visit_if_needed


def skip_idle_payload_visits() -> bool:
    """Make the SDK skip its payload walks when the converter has no codec and no external storage. Idempotent;
    False (and the SDK untouched) when this SDK's functions are not the kind this wraps."""
    names = ("decode_activation", "encode_completion")
    functions = [getattr(bridge, name, None) for name in names]
    if all(hasattr(f, WRAPPED) for f in functions):
        return True
    fits = (
        Metrics is not None
        and "external_storage" in getattr(DataConverter, "__dataclass_fields__", {})
        and all(
            f is not None and list(inspect.signature(f).parameters)[1:2] == ["data_converter"]
            for f in functions
        )
    )
    if not fits:
        log.info("the Temporal SDK's payload walks are left as they are (this SDK version differs)")
        return False
    for name, function in zip(names, functions, strict=True):
        assert function is not None  # (fits)
        setattr(bridge, name, _skipping(function))
    return True


def cache_type_hints() -> bool:
    """Answer the JSON converter's `get_type_hints` for a class from a cache. Idempotent; False (and the SDK
    untouched) when the converter no longer asks `get_type_hints` by that name."""
    original = getattr(payload_converter, "get_type_hints", None)
    if original is None:
        log.info("the Temporal SDK's type hints are left as they are (this SDK version differs)")
        return False
    if hasattr(original, WRAPPED):
        return True
    cached = functools.lru_cache(maxsize=1024)(original)

    def type_hints(obj: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs or not isinstance(obj, type):
            return original(obj, *args, **kwargs)
        # A copy: the cached answer stays as it was whatever the caller does with this one
        return dict(cached(obj))

    setattr(type_hints, WRAPPED, original)
    type_hints.cache_info = cached.cache_info  # type: ignore[attr-defined]
    payload_converter.get_type_hints = type_hints  # type: ignore[attr-defined]
    return True


def tune_sdk() -> None:
    applied = {
        "payload walks skipped": skip_idle_payload_visits(),
        "type hints cached": cache_type_hints(),
    }
    log.debug("Temporal SDK tuning: %s", applied)
