"""Connecting to Temporal (the one client factory: metrics for workers, prompt failure for callers that answer
people) and making sure GradeFlow's search attributes exist."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RetryConfig, RPCError

from workflows.config import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)
# Seconds from submit to result: the latency students feel.
LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300]


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime serving Prometheus metrics at http://bind_address/metrics: the SDK's own (task
    latencies, slots, polls) and those GradeFlow records through its metric meter."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address,
                counters_total_suffix=True,
                histogram_bucket_overrides={"gradeflow_submit_to_result_seconds": LATENCY_BUCKETS},
            )
        )
    )


# For callers that answer people (the API): give up on an unreachable Temporal within seconds, so the answer is a
# prompt 503 rather than a wait of the SDK's default ten seconds of retries.
PROMPT_RETRY = RetryConfig(max_interval_millis=1000, max_elapsed_time_millis=3000, max_retries=4)
PROMPT_CONNECT_TIMEOUT = timedelta(seconds=3)


async def connect(
    address: str,
    namespace: str,
    wait_seconds: float = 0,
    runtime: Runtime | None = None,
    prompt: bool = False,
    lazy: bool = False,
) -> Client:
    """Connect, retrying for up to `wait_seconds` so a worker can start before Temporal is reachable. `prompt`:
    every call on the client gives up within a few seconds when Temporal does not answer. `lazy`: connect on the
    first call instead (the SDK's lazy client, which tries again on each call until it has connected), so the
    caller starts while Temporal is down."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = 0.5
    while True:
        try:
            return await Client.connect(
                address,
                namespace=namespace,
                runtime=runtime,
                retry_config=PROMPT_RETRY if prompt else None,
                connect_timeout=PROMPT_CONNECT_TIMEOUT if prompt else None,
                lazy=lazy,
            )
        except (
            RuntimeError,
            RPCError,
        ) as exc:  # the SDK: could not connect / the server said no yet
            if loop.time() >= deadline:
                raise
            log.warning("Temporal at %s not reachable yet (%s); retrying", address, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)


async def ensure_search_attributes(client: Client) -> None:
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
        log.info("registered search attributes %s", ", ".join(missing))
