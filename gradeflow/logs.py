"""Logging for every GradeFlow process: readable lines by default, or one JSON object per line
(GRADEFLOW_LOG_FORMAT=json) carrying the submission, workflow and activity a line is about."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# Fields a log call may pass in `extra=` that a JSON line keeps.
FIELDS = (
    "submission_id",
    "regrade_batch_id",
    "user_id",
    "assignment_id",
    "verdict",
    "status",
    "workflow_id",
)
# What Temporal's activity and workflow loggers attach (extra["temporal_activity"] / ["temporal_workflow"]).
TEMPORAL = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_type": "activity",
    "attempt": "attempt",
    "task_queue": "task_queue",
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("temporal_workflow", "temporal_activity"):
            for source, name in TEMPORAL.items():
                value = (getattr(record, key, None) or {}).get(source)
                if value is not None:
                    line[name] = value
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    if fmt not in ("text", "json"):
        raise SystemExit(f"GRADEFLOW_LOG_FORMAT must be 'text' or 'json', not '{fmt}'.")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # The ids are fields already: keep Temporal from repeating them inside the message
    if fmt == "json":
        from temporalio import activity, workflow

        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
    for noisy in ("pgserver", "httpx", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
