"""Calls to an LMS's services through pylti1p3 (Assignment and Grade Services, Names and Role Provisioning): the
library asks the LMS for an access token with a client assertion signed by GradeFlow's key, then calls. These are
synchronous (requests): run them in a thread."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.grade import Grade
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import ServiceConnector

from gradeflow.lti.protocol import tool_config
from gradeflow.models import LtiPlatform

SCORE_SCOPE: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LMS_TIMEOUT_SECONDS = 20


class _Timeouts(requests.Session):
    """requests waits forever unless told: a slow LMS must not hold a worker thread for good (an activity's
    timeout would end the attempt, not the thread)."""

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        kwargs.setdefault("timeout", LMS_TIMEOUT_SECONDS)
        return super().request(*args, **kwargs)


def connector(platform: LtiPlatform, private_pem: str) -> ServiceConnector:
    """A connector to the platform's services, signing with `private_pem`; it asks for an access token once."""
    tool = tool_config([platform], private_pem)
    registration = tool.find_registration_by_params(platform.issuer, platform.client_id)
    return ServiceConnector(registration, requests_session=_Timeouts())


def post_score(
    connector: ServiceConnector, lineitem: str, sub: str, score: float, maximum: float
) -> None:
    grade = (
        Grade()
        .set_user_id(sub)
        .set_score_given(score)
        .set_score_maximum(maximum)
        .set_timestamp(datetime.now(UTC).isoformat())
        .set_activity_progress("Completed")
        .set_grading_progress("FullyGraded")
    )
    AssignmentsGradesService(connector, {"scope": [SCORE_SCOPE], "lineitem": lineitem}).put_grade(
        grade
    )


def members(connector: ServiceConnector, memberships_url: str) -> list[dict[str, Any]]:
    """Every member of the course, all pages."""
    service = NamesRolesProvisioningService(connector, {"context_memberships_url": memberships_url})
    return [dict(m) for m in service.get_members()]
