"""Starting a grading workflow: one place for its id, queue, timeout and search attributes."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from workflows.config import (
    ASSIGNMENT_KEY,
    COHORT_KEY,
    GRADE_WORKFLOW_EXECUTION_TIMEOUT,
    GRADING_TASK_QUEUE,
    USER_KEY,
    grade_workflow_id,
)
from workflows.grade_submission import GradeSubmission, GradeSubmissionInput


async def start_grading(
    client: Client,
    submission_id: str,
    assignment_id: str,
    user_id: str,
    cohort: str,
    *,
    again: bool = False,
    eager: bool = False,
) -> WorkflowHandle:
    """Start GradeSubmission for one submission. Its workflow id is fixed by the submission, so starting it twice
    raises WorkflowAlreadyStartedError. A finished grading is started again only when `again` (an operator's
    retry); the intake never grades a submission twice. `eager`: a worker sharing this client takes the first
    workflow task straight from the start call, skipping a trip through the task queue (the server must allow
    it: `system.enableEagerWorkflowStart`; otherwise the start is an ordinary one)."""
    return await client.start_workflow(
        GradeSubmission.run,
        GradeSubmissionInput(submission_id=submission_id),
        id=grade_workflow_id(submission_id),
        task_queue=GRADING_TASK_QUEUE,
        execution_timeout=GRADE_WORKFLOW_EXECUTION_TIMEOUT,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE
        if again
        else WorkflowIDReusePolicy.REJECT_DUPLICATE,
        request_eager_start=eager,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ASSIGNMENT_KEY, assignment_id),
                SearchAttributePair(USER_KEY, user_id),
                SearchAttributePair(COHORT_KEY, cohort),
            ]
        ),
    )
