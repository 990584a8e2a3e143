"""The worker's gauges and metrics: what it counts of gradings, the intake and Temporal's backlog per task
queue, served for Prometheus; a metrics address already taken stops it with a clear message."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Stack, wait_for
from tests.integration.test_submission_path import RIGHT_HELLO, submit, unique

pytestmark = pytest.mark.integration


def prometheus_samples(text: str) -> dict[str, float]:
    """'name{labels} value' lines of a Prometheus exposition, keyed by 'name{labels}' (labels sorted)."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            name, _, labels = key.partition("{")
            parts = sorted(p for p in labels.rstrip("}").split(",") if p)
            samples[f"{name}{{{','.join(parts)}}}"] = float(value)
    return samples


def matching(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of a metric's samples that carry these labels."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        v for k, v in samples.items() if k.startswith(name + "{") and all(w in k for w in wanted)
    )


def test_worker_serves_prometheus_metrics(stack: Stack):
    def scrape() -> dict[str, float]:
        return prometheus_samples(httpx.get(stack.worker_metrics_url, timeout=10).text)

    before = scrape()
    token = stack.new_user()
    stack.wait_graded(token, submit(stack, token, unique(RIGHT_HELLO)).json()["id"])
    graded = "gradeflow_gradings_total"

    def counted():
        now = scrape()
        return (
            now
            if matching(now, graded, verdict="passed") > matching(before, graded, verdict="passed")
            else None
        )

    after = wait_for(counted, 30, "the grading in the worker's metrics")
    assert matching(after, "gradeflow_submit_to_result_seconds_count") > matching(
        before, "gradeflow_submit_to_result_seconds_count"
    )
    assert matching(after, "gradeflow_submit_to_result_seconds_bucket", le="+Inf") >= 1
    assert any(k.startswith("gradeflow_intake_stream_length{") for k in after)
    for status in ("queued", "grading"):
        assert any(
            k.startswith("gradeflow_submissions_pending{") and f'status="{status}"' in k
            for k in after
        )
    # Temporal's backlog per task queue, the signal to scale workers on
    for queue in ("gradeflow-grading", "gradeflow-batch"):
        assert any(
            k.startswith("gradeflow_task_queue_backlog{") and f'task_queue="{queue}"' in k
            for k in after
        ), sorted(k for k in after if "backlog" in k)
    assert (
        matching(
            after,
            "temporal_local_activity_execution_latency_count",
            activity_type="grade_submission",
        )
        >= 1
    )


def test_a_busy_metrics_address_stops_the_worker_with_a_clear_message(stack: Stack):
    import subprocess
    import sys

    # The stack's own worker already serves on that address
    result = subprocess.run(
        [sys.executable, "-m", "gradeflow", "worker"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        f"cannot serve metrics on {stack.env['GRADEFLOW_WORKER_METRICS_ADDRESS']}" in result.stderr
    )
    assert "set GRADEFLOW_WORKER_METRICS_ADDRESS to a free host:port" in result.stderr
