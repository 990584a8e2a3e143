"""Every workflow GradeFlow starts, started here: one place for their ids, queues, timeouts and search attributes.
The API (gradings retried by operators, regrades, solution checks) and the worker's intake (gradings) call these;
nothing else starts a workflow."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from workflows.check_solution import CheckSolution, SolutionCheck, SolutionCheckResult
from workflows.config import (
    ASSIGNMENT_KEY,
    BATCH_TASK_QUEUE,
    COHORT_KEY,
    GRADE_WORKFLOW_EXECUTION_TIMEOUT,
    LTI_ROSTER_SCHEDULE_ID,
    REGRADE_BATCH_KEY,
    REGRADE_WORKFLOW_EXECUTION_TIMEOUT,
    USER_KEY,
    grade_workflow_id,
    grading_queue,
    lti_grades_workflow_id,
    recompute_workflow_id,
    similarity_workflow_id,
)
from workflows.grade_submission import GradeSubmission, GradeSubmissionInput
from workflows.lti import PostGrades, PostGradesInput, SyncRosters
from workflows.recompute import RecomputeGrades, RecomputeRequest
from workflows.regrade_cohort import RegradeCohort, RegradeInput, RegradeSettings
from workflows.similarity import SimilarityInput, SimilarityReportWorkflow

# A solution check grades one solution, on the live queue: an instructor waits for it.
CHECK_TIMEOUT = timedelta(minutes=2)


async def start_grading_workflow(
    client: Client,
    submission_id: str,
    assignment_id: str,
    user_id: str,
    cohort: str,
    *,
    again: bool = False,
    eager: bool = False,
    language: str = "python",
) -> WorkflowHandle:
    """Start GradeSubmission for one submission. Its workflow id is fixed by the submission, so starting it twice
        raises WorkflowAlreadyStartedError. A finished grading is started again only when `again` (an operator's
        retry); the intake never grades a submission twice. `eager`: a worker sharing this client takes the first
        workflow task straight from the start call, skipping a trip through the task queue (the server must allow
        it: `system.enableEagerWorkflowStart`; otherwise the start is an ordinary one). `language`: the assignment's,
    which picks the task queue (workflows.config.grading_queue)."""
    return await client.start_workflow(
        GradeSubmission.run,
        GradeSubmissionInput(
            submission_id=submission_id, language="" if language == "python" else language
        ),
        id=grade_workflow_id(submission_id),
        task_queue=grading_queue(language),
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


async def start_regrade_workflow(
    client: Client,
    batch_id: str,
    workflow_id: str,
    cohort_id: int,
    cohort: str,
    assignment_id: int | None,
    settings: RegradeSettings,
) -> WorkflowHandle:
    """Start RegradeCohort for a batch already recorded in PostgreSQL, on the batch queue."""
    attributes = [
        SearchAttributePair(COHORT_KEY, cohort),
        SearchAttributePair(REGRADE_BATCH_KEY, batch_id),
    ]
    if assignment_id is not None:
        attributes.append(SearchAttributePair(ASSIGNMENT_KEY, str(assignment_id)))
    return await client.start_workflow(
        RegradeCohort.run,
        RegradeInput.of(batch_id, cohort_id, assignment_id, settings),
        id=workflow_id,
        task_queue=BATCH_TASK_QUEUE,
        execution_timeout=REGRADE_WORKFLOW_EXECUTION_TIMEOUT,
        search_attributes=TypedSearchAttributes(attributes),
    )


async def check_solution(client: Client, check: SolutionCheck) -> SolutionCheckResult:
    """Grade a solution against draft tests through CheckSolution and wait for the result."""
    return await client.execute_workflow(
        CheckSolution.run,
        check,
        id=f"check-{uuid.uuid4()}",
        task_queue=grading_queue(check.language),
        execution_timeout=CHECK_TIMEOUT,
    )


async def start_recompute_workflow(
    client: Client, recompute_id: str, cohort: str
) -> WorkflowHandle:
    """Start RecomputeGrades for a recompute already recorded in PostgreSQL, on the batch queue."""
    return await client.start_workflow(
        RecomputeGrades.run,
        RecomputeRequest(recompute_id),
        id=recompute_workflow_id(recompute_id),
        task_queue=BATCH_TASK_QUEUE,
        execution_timeout=REGRADE_WORKFLOW_EXECUTION_TIMEOUT,
        search_attributes=TypedSearchAttributes([SearchAttributePair(COHORT_KEY, cohort)]),
    )


async def start_similarity_workflow(
    client: Client, report_id: str, cohort: str, assignment_id: int
) -> WorkflowHandle:
    """Start SimilarityReport for a report already recorded in PostgreSQL, on the batch queue."""
    return await client.start_workflow(
        SimilarityReportWorkflow.run,
        SimilarityInput(report_id),
        id=similarity_workflow_id(report_id),
        task_queue=BATCH_TASK_QUEUE,
        execution_timeout=REGRADE_WORKFLOW_EXECUTION_TIMEOUT,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(COHORT_KEY, cohort),
                SearchAttributePair(ASSIGNMENT_KEY, str(assignment_id)),
            ]
        ),
    )


async def start_post_grades(client: Client, platform_id: int) -> WorkflowHandle:
    """The PostGrades workflow of an LMS, started if it is not running (one per platform, on the batch queue)."""
    return await client.start_workflow(
        PostGrades.run,
        PostGradesInput(platform_id),
        id=lti_grades_workflow_id(platform_id),
        task_queue=BATCH_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def wake_post_grades(client: Client, platform_id: int) -> None:
    """Grades of this LMS were marked pending: its PostGrades sends them now (started if it was not running)."""
    try:
        await client.get_workflow_handle(lti_grades_workflow_id(platform_id)).signal(
            PostGrades.wake
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        await start_post_grades(client, platform_id)


async def ensure_roster_schedule(client: Client, every: timedelta) -> None:
    """The schedule that syncs every LMS course's roster `every` so often (made once; kept as it is after)."""
    try:
        await client.create_schedule(
            LTI_ROSTER_SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    SyncRosters.run, id="lti-rosters", task_queue=BATCH_TASK_QUEUE
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
    except ScheduleAlreadyRunningError:
        pass
