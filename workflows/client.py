"""Connecting to Temporal (the one client factory: metrics for workers, prompt failure for callers that answer
people) and making sure GradeFlow's search attributes exist."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RetryConfig, RPCError, RPCStatusCode, TLSConfig

from gradeflow.settings import Settings
from workflows.config import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)
# What a cluster answers a worker that may not use its operator service.
CLOSED = {
    RPCStatusCode.PERMISSION_DENIED,
    RPCStatusCode.UNIMPLEMENTED,
    RPCStatusCode.UNAUTHENTICATED,
}
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


@dataclass(frozen=True)
class TemporalAccess:
    """How to reach a Temporal cluster beyond its address: TLS (True: the system's roots) and an API key."""

    tls: TLSConfig | bool = False
    api_key: str | None = None


def temporal_access(settings: Settings) -> TemporalAccess:
    """The TLS and API key settings (GRADEFLOW_TEMPORAL_TLS*, GRADEFLOW_TEMPORAL_API_KEY) as the SDK takes them;
    certificate files are read now, so a wrong path stops a role at start with the path in the message."""
    ca, cert, key = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_cert_file,
        settings.temporal_tls_key_file,
    )
    if (cert is None) != (key is None):
        raise ValueError(
            "GRADEFLOW_TEMPORAL_TLS_CERT_FILE and GRADEFLOW_TEMPORAL_TLS_KEY_FILE go together: set both or neither"
        )
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    tls: TLSConfig | bool
    if ca or cert or settings.temporal_tls_server_name:
        tls = TLSConfig(
            server_root_ca_cert=ca.read_bytes() if ca else None,
            client_cert=cert.read_bytes() if cert else None,
            client_private_key=key.read_bytes() if key else None,
            domain=settings.temporal_tls_server_name,
        )
    else:
        tls = settings.temporal_tls or api_key is not None
    return TemporalAccess(tls=tls, api_key=api_key)


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
    access: TemporalAccess | None = None,
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
                tls=access.tls if access else False,
                api_key=access.api_key if access else None,
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


def search_attribute_commands(namespace: str, names: list[str]) -> str:
    return "\n".join(
        f"  temporal operator search-attribute create --namespace {namespace} --name {n} --type Keyword"
        for n in names
    )


class SearchAttributesMissing(RuntimeError):
    """GradeFlow's search attributes are not registered and this worker may not register them."""


async def ensure_search_attributes(client: Client) -> None:
    """Register GradeFlow's search attributes when they are missing. Where the operator service is closed to
    workers (Temporal Cloud, a locked-down cluster), say what to run instead: every workflow start sets them."""
    wanted = [key.name for key in SEARCH_ATTRIBUTES]
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as exc:
        if exc.status not in CLOSED:
            raise
        log.warning(
            "cannot list search attributes (%s: %s); assuming they are registered. If workflows fail to start "
            "with an unknown search attribute, register them once:\n%s",
            exc.status.name,
            exc.message,
            search_attribute_commands(client.namespace, wanted),
        )
        return
    missing = [name for name in wanted if name not in existing.custom_attributes]
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in missing},
            )
        )
    except RPCError as exc:
        if exc.status not in CLOSED:
            raise
        raise SearchAttributesMissing(
            f"Temporal namespace '{client.namespace}' lacks GradeFlow's search attributes {', '.join(missing)} "
            f"and this worker may not register them ({exc.status.name}: {exc.message}). Register them once "
            f"(Temporal Cloud: in its web UI or with tcld), e.g.:\n"
            + search_attribute_commands(client.namespace, missing)
        ) from None
    log.info("registered search attributes %s", ", ".join(missing))
