"""The worker's change to the Temporal SDK's path (worker/sdk.py): its payload walks are skipped only where they
would change nothing, and run as before for a converter with a payload codec."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import temporalio.bridge.worker as bridge
import temporalio.converter._payload_converter as payload_converter
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import (
    InitializeWorkflow,
    WorkflowActivation,
    WorkflowActivationJob,
)
from temporalio.converter import DataConverter, PayloadCodec

from activities.grading import GradingOutcome, RecordRequest
from tests.conftest import run_async
from tests.workflows import test_workflows
from worker import sdk


class Upper(PayloadCodec):
    """A codec whose work shows: it upper-cases what it decodes."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata=p.metadata, data=p.data.upper()) for p in payloads]


def activation() -> WorkflowActivation:
    return WorkflowActivation(
        run_id="run",
        jobs=[
            WorkflowActivationJob(
                initialize_workflow=InitializeWorkflow(
                    workflow_type="GradeSubmission",
                    workflow_id="grade-1",
                    arguments=[Payload(metadata={"encoding": b"json/plain"}, data=b'"abc"')],
                )
            )
        ],
    )


@pytest.fixture
def wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Put the SDK's own functions back afterwards
    for name in ("decode_activation", "encode_completion"):
        monkeypatch.setattr(bridge, name, getattr(bridge, name))
    assert sdk.skip_idle_payload_visits(), (
        "this temporalio's payload walks are no longer the kind sdk.py wraps"
    )
    assert sdk.skip_idle_payload_visits()  # twice is once
    assert hasattr(bridge.decode_activation, sdk.WRAPPED)
    assert not hasattr(getattr(bridge.decode_activation, sdk.WRAPPED), sdk.WRAPPED)


def test_a_converter_with_a_codec_still_has_its_payloads_walked(wrapped: None):
    act = activation()
    run_async(
        lambda: bridge.decode_activation(
            act,
            DataConverter(payload_codec=Upper()),
            decode_headers=True,
            storage_concurrency_limit=1,
        )
    )
    assert act.jobs[0].initialize_workflow.arguments[0].data == b'"ABC"'


def test_the_walk_is_skipped_only_without_a_codec_and_external_storage():
    calls = []

    async def walk(message, data_converter, **kwargs):
        calls.append(data_converter)
        return "walked"

    skipping = sdk._skipping(walk)
    plain = DataConverter.default
    with_codec = DataConverter(payload_codec=Upper())
    assert run_async(lambda: skipping(activation(), plain, decode_headers=True)) != "walked"
    assert calls == []
    assert run_async(lambda: skipping(activation(), with_codec, decode_headers=True)) == "walked"
    assert calls == [with_codec]


def test_dataclasses_convert_as_before_with_their_hints_asked_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(payload_converter, "get_type_hints", payload_converter.get_type_hints)
    outcome = test_workflows.outcome("s", "wrong_answer", attempt=1)
    converter = DataConverter.default.payload_converter
    payloads = converter.to_payloads([RecordRequest(outcome=outcome, workflow_id="w", run_id="r")])
    before = converter.from_payloads(payloads, [RecordRequest])
    assert sdk.cache_type_hints() and sdk.cache_type_hints()
    after = [converter.from_payloads(payloads, [RecordRequest])[0] for _ in range(3)]
    assert before == [after[0]] and after[0] == after[2]
    assert after[0].outcome == outcome and isinstance(after[0].outcome, GradingOutcome)
    hints = payload_converter.get_type_hints
    assert hints.cache_info().hits >= 4  # type: ignore[attr-defined]
    asked = hints(GradingOutcome)
    asked.clear()  # a caller that changes its answer changes no later one
    assert "verdict" in hints(GradingOutcome)
