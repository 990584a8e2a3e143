"""Runs the worker process: the Temporal worker for grading plus the intake dispatcher and reconciler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from temporalio.worker import Worker

from activities.courses import CourseActivities
from activities.grading import GradingActivities
from activities.lti import LtiActivities, LtiRosterActivities
from activities.regrade import RegradeActivities
from activities.similarity import SimilarityActivities
from gradeflow import redis_keys
from gradeflow.db import make_engine, make_sessionmaker
from gradeflow.priority import lower_priority
from gradeflow.settings import Settings
from gradeflow.status_cache import Doubt
from gradeflow.worker_languages import announce_languages
from sandbox import UNSAFE_WARNING, IsolationUnavailable, Sandbox
from worker.gauges import QueueGauges
from worker.intake import Dispatcher, Reconciler
from worker.languages import served_languages
from worker.lti import LtiGrades
from worker.sdk import tune_sdk
from workflows.check_solution import CheckSolution
from workflows.client import (
    SearchAttributesMissing,
    connect,
    ensure_search_attributes,
    metrics_runtime,
    temporal_access,
)
from workflows.config import BATCH_TASK_QUEUE, batch_grading_queue, grading_queue
from workflows.grade_submission import GradeSubmission
from workflows.lti import PostGrades, SyncRosters
from workflows.recompute import RecomputeGrades
from workflows.regrade_cohort import RegradeCohort, RegradeSubmission
from workflows.similarity import SimilarityReportWorkflow

log = logging.getLogger("gradeflow.worker")


async def run_worker(settings: Settings) -> None:
    settings.require("database_url", "redis_url", "temporal_address")
    # Where the worker shares a machine with the API, accepting and answering students comes first; gradings wait
    # safely in the intake stream meanwhile and catch up as soon as the API is idle.
    lower_priority(settings.worker_nice)
    tune_sdk()
    # No pre-ping: every activity is retried on a database error, and the ping costs a round trip per use.
    engine = make_engine(
        settings.need("database_url"),
        pool_size=settings.grading_concurrency + settings.regrade_chunks_per_worker,
        pre_ping=False,
    )
    sessions = make_sessionmaker(engine)
    redis = redis_keys.connect(settings.need("redis_url"))
    runtime = None
    if settings.worker_metrics_address:
        try:
            runtime = metrics_runtime(settings.worker_metrics_address)
        except Exception as exc:  # noqa: BLE001 - the SDK raises a bare RuntimeError for a bad or busy address
            log.critical(
                "cannot serve metrics on %s (%s): set GRADEFLOW_WORKER_METRICS_ADDRESS to a free "
                "host:port, or unset it",
                settings.worker_metrics_address,
                exc,
            )
            raise SystemExit(2) from None
        log.info("Prometheus metrics at http://%s/metrics", settings.worker_metrics_address)
    client = await connect(
        settings.need("temporal_address"),
        settings.temporal_namespace,
        wait_seconds=300,
        runtime=runtime,
        access=temporal_access(settings),
    )
    try:
        await ensure_search_attributes(client)
    except SearchAttributesMissing as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    sandbox = Sandbox(
        settings.sandbox_mode,
        unsafe=settings.unsafe_grading,
        simulate_missing=settings.sandbox_simulate_missing,
        compile_cache_dir=str(settings.compile_cache),
        compile_cache_mb=settings.compile_cache_mb,
    )
    try:
        await sandbox.start()
    except IsolationUnavailable as exc:
        log.critical("%s", exc)
        await redis.aclose()
        await engine.dispose()
        raise SystemExit(2) from None
    if settings.unsafe_grading:
        log.critical("!!! %s !!!", UNSAFE_WARNING)
    served = await served_languages(sandbox, settings.worker_languages)
    dispatcher = Dispatcher(
        redis, client, settings.dispatch_batch, settings.intake_in_flight, served=frozenset(served)
    )
    grading = GradingActivities(
        engine,
        redis,
        sandbox,
        settings.grading_concurrency,
        on_finished=dispatcher.finished,
        doubt=Doubt(engine),
    )
    # One worker per language served, each on its language's queue (the slots below are per worker)
    live = [
        Worker(
            client,
            task_queue=grading_queue(language),
            workflows=[GradeSubmission, CheckSolution],
            activities=[
                grading.compile_submission,
                grading.grade_submission,
                grading.record_grading,
                grading.record_grading_failure,
                grading.check_solution,
            ],
            max_concurrent_activities=settings.grading_concurrency,
            # Gradings are local activities (the sandboxes are bounded in GradingActivities): room for every
            # grading the dispatcher lets in, plus those the reconciler or an operator's retry start.
            max_concurrent_local_activities=2 * settings.intake_in_flight
            + settings.grading_concurrency,
            # Let a grading in progress finish on SIGTERM rather than hand it back half done.
            graceful_shutdown_timeout=timedelta(seconds=30),
        )
        for language in served
    ]
    regrading = RegradeActivities(sessions, redis, sandbox, settings.regrade_concurrency)
    courses = CourseActivities(sessions, redis)
    similarity = SimilarityActivities(sessions)
    lti = LtiActivities(sessions)
    rosters = LtiRosterActivities(sessions)
    regrades = Worker(
        client,
        task_queue=BATCH_TASK_QUEUE,
        workflows=[
            RegradeCohort,
            RegradeSubmission,
            RecomputeGrades,
            SimilarityReportWorkflow,
            PostGrades,
            SyncRosters,
        ],
        activities=[
            lti.post_grades,
            rosters.sync_rosters,
            courses.recompute_credit,
            similarity.start_similarity,
            similarity.fingerprint_page,
            similarity.score_pairs,
            similarity.finish_similarity,
            regrading.start_regrade,
            regrading.fetch_regrade_page,
            regrading.regrade_chunk,
            regrading.record_regrade_errors,
            regrading.finish_regrade,
        ],
        # Its own slots: however large a regrade, live submissions keep theirs.
        max_concurrent_activities=settings.regrade_chunks_per_worker,
        graceful_shutdown_timeout=timedelta(seconds=30),
    )
    # A regrade's chunks in another language come from that language's batch queue, to workers that have it
    language_regrades = [
        Worker(
            client,
            task_queue=batch_grading_queue(language),
            activities=[regrading.regrade_chunk],
            max_concurrent_activities=settings.regrade_chunks_per_worker,
            graceful_shutdown_timeout=timedelta(seconds=30),
        )
        for language in served
        if batch_grading_queue(language) != BATCH_TASK_QUEUE
    ]
    reconciler = Reconciler(
        sessions, client, settings.reconcile_after_seconds, settings.reconcile_interval_seconds
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    background = [
        asyncio.create_task(dispatcher.run(), name="dispatcher"),
        asyncio.create_task(reconciler.run(), name="reconciler"),
        asyncio.create_task(
            LtiGrades(
                settings.need("database_url"),
                sessions,
                client,
                timedelta(hours=settings.lti_roster_sync_hours),
            ).run(),
            name="lti",
        ),
    ]
    if runtime is not None:
        background.append(
            asyncio.create_task(
                QueueGauges(sessions, redis, runtime.metric_meter, client).run(), name="gauges"
            )
        )
    background.append(asyncio.create_task(announce_languages(redis, served), name="languages"))
    if runtime is not None:
        gauge = runtime.metric_meter.create_gauge(
            "gradeflow_worker_languages", "1 for each language this worker grades (its toolchain)"
        )
        for name, version in served.items():
            gauge.set(1, {"language": name, "toolchain": version})
    log.info(
        "worker ready on task queues %s (concurrency %d, sandbox %s); grades %s",
        ", ".join(grading_queue(language) for language in served),
        settings.grading_concurrency,
        sandbox.mode,
        "; ".join(f"{name} ({version})" for name, version in served.items()),
    )
    async with contextlib.AsyncExitStack() as workers:
        for worker in [*live, regrades, *language_regrades]:
            await workers.enter_async_context(worker)
        await stop.wait()
        log.info("shutting down: draining gradings in progress")
        for task in background:
            task.cancel()
    await sandbox.close()
    await redis.aclose()
    await engine.dispose()
