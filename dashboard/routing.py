"""Which pages each role sees (pure: tested without a browser)."""

from __future__ import annotations

from dataclasses import dataclass

from gradeflow.vocabulary import Role


@dataclass(frozen=True)
class PageSpec:
    url_path: str
    title: str
    icon: str
    module: str
    function: str


ROLE_PAGES: dict[str, list[PageSpec]] = {
    Role.STUDENT: [
        PageSpec("learn", "Assignments", ":material/school:", "dashboard.student", "learn_page"),
    ],
    Role.INSTRUCTOR: [
        PageSpec("cohort", "Cohort", ":material/groups:", "dashboard.instructor", "cohort_page"),
        PageSpec(
            "regrades", "Regrades", ":material/autorenew:", "dashboard.instructor", "regrades_page"
        ),
        PageSpec(
            "assignments",
            "Assignments",
            ":material/edit_note:",
            "dashboard.instructor",
            "assignments_page",
        ),
        PageSpec("dates", "Dates", ":material/event:", "dashboard.instructor", "dates_page"),
        PageSpec(
            "similarity",
            "Similarity",
            ":material/compare:",
            "dashboard.similarity",
            "similarity_page",
        ),
    ],
    Role.OPERATOR: [
        PageSpec(
            "workflows",
            "Workflows",
            ":material/account_tree:",
            "dashboard.operator",
            "workflows_page",
        ),
        PageSpec(
            "problems",
            "Failed and stuck",
            ":material/warning:",
            "dashboard.operator",
            "problems_page",
        ),
        PageSpec(
            "metrics", "Metrics", ":material/monitoring:", "dashboard.operator", "metrics_page"
        ),
        PageSpec("lms", "LMS", ":material/link:", "dashboard.operator", "lms_page"),
    ],
}


def pages_for(role: str) -> list[PageSpec]:
    """The pages of a role; an unknown role sees none (and is told so)."""
    return ROLE_PAGES.get(role, [])
