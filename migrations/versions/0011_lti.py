"""LTI 1.3: registered platforms, GradeFlow's signing keys, LMS people, courses and links, and sign-in sessions
(a launch signs a browser in without the user's API token).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sign_in_sessions_user", "sign_in_sessions", ["user_id"])
    op.create_table(
        "lti_platforms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("auth_login_url", sa.String(1000), nullable=False),
        sa.Column("auth_token_url", sa.String(1000), nullable=False),
        sa.Column("key_set_url", sa.String(1000), nullable=False),
        sa.Column("deployment_ids", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("issuer", "client_id", name="uq_lti_platforms_client"),
    )
    op.create_table(
        "lti_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
    )
    platform = sa.ForeignKey("lti_platforms.id", ondelete="CASCADE")
    op.create_table(
        "lti_identities",
        sa.Column("platform_id", sa.Integer, platform, primary_key=True),
        sa.Column("sub", sa.String(255), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
    )
    op.create_index("ix_lti_identities_user", "lti_identities", ["user_id"])
    op.create_table(
        "lti_contexts",
        sa.Column(
            "platform_id",
            sa.Integer,
            sa.ForeignKey("lti_platforms.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("context_id", sa.String(255), primary_key=True),
        sa.Column(
            "cohort_id", sa.Integer, sa.ForeignKey("cohorts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("title", sa.String(500), nullable=False, server_default=""),
        sa.Column("memberships_url", sa.String(1000)),
        sa.Column("lineitems_url", sa.String(1000)),
        sa.UniqueConstraint("cohort_id", name="uq_lti_contexts_cohort"),
    )
    op.create_table(
        "lti_links",
        sa.Column(
            "platform_id",
            sa.Integer,
            sa.ForeignKey("lti_platforms.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("resource_link_id", sa.String(255), primary_key=True),
        sa.Column(
            "cohort_id", sa.Integer, sa.ForeignKey("cohorts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "assignment_id",
            sa.Integer,
            sa.ForeignKey("assignments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("lineitem_url", sa.String(1000)),
    )

    op.create_index("ix_lti_links_offering", "lti_links", ["cohort_id", "assignment_id"])
    op.create_table(
        "lti_grade_posts",
        sa.Column("platform_id", sa.Integer, primary_key=True),
        sa.Column("resource_link_id", sa.String(255), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_mark", sa.DateTime(timezone=True)),
        sa.Column("posted_score", sa.Float),
        sa.Column("posted_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.ForeignKeyConstraint(
            ["platform_id", "resource_link_id"],
            ["lti_links.platform_id", "lti_links.resource_link_id"],
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_lti_grade_posts_pending", "lti_grade_posts", ["platform_id", "marked_at"])
    # A grade to send whenever a submission's score or status changes (grading, regrade, recount of credit), for
    # every LMS link of its cohort and assignment whose student came from that LMS; and a wake-up for the
    # PostGrades workflow (delivered at commit; a lost one is caught by the workflow's own rounds).
    op.execute(MARK_FUNCTION)
    op.execute(
        "CREATE TRIGGER submissions_mark_lti_grades AFTER INSERT OR UPDATE OF score, status, cohort_id "
        "ON submissions FOR EACH ROW EXECUTE FUNCTION gradeflow_mark_lti_grades()"
    )
    # A cohort counting grades by another rule (best or latest) changes every grade of its LMS students
    op.execute(RULE_FUNCTION)
    op.execute(
        "CREATE TRIGGER cohorts_mark_lti_grades AFTER UPDATE OF grade_rule ON cohorts FOR EACH ROW "
        "WHEN (NEW.grade_rule IS DISTINCT FROM OLD.grade_rule) "
        "EXECUTE FUNCTION gradeflow_mark_lti_cohort_grades()"
    )


MARK_FUNCTION = """
CREATE FUNCTION gradeflow_mark_lti_grades() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    platform integer;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.score IS NOT DISTINCT FROM OLD.score
        AND NEW.status IS NOT DISTINCT FROM OLD.status
        AND NEW.cohort_id IS NOT DISTINCT FROM OLD.cohort_id THEN
        RETURN NULL;
    END IF;
    IF NEW.cohort_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM lti_links WHERE cohort_id = NEW.cohort_id AND assignment_id = NEW.assignment_id
    ) THEN
        RETURN NULL;
    END IF;
    FOR platform IN
        INSERT INTO lti_grade_posts (platform_id, resource_link_id, user_id, marked_at)
        SELECT l.platform_id, l.resource_link_id, NEW.user_id, clock_timestamp()
        FROM lti_links l
        JOIN lti_identities i ON i.platform_id = l.platform_id AND i.user_id = NEW.user_id
        WHERE l.cohort_id = NEW.cohort_id AND l.assignment_id = NEW.assignment_id
            AND l.lineitem_url IS NOT NULL
        ON CONFLICT (platform_id, resource_link_id, user_id)
            DO UPDATE SET marked_at = EXCLUDED.marked_at
        RETURNING platform_id
    LOOP
        PERFORM pg_notify('gradeflow_lti_grades', platform::text);
    END LOOP;
    RETURN NULL;
END
$$
"""


RULE_FUNCTION = """
CREATE FUNCTION gradeflow_mark_lti_cohort_grades() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    platform integer;
BEGIN
    FOR platform IN
        INSERT INTO lti_grade_posts (platform_id, resource_link_id, user_id, marked_at)
        SELECT l.platform_id, l.resource_link_id, i.user_id, clock_timestamp()
        FROM lti_links l
        JOIN enrollments e ON e.cohort_id = l.cohort_id
        JOIN lti_identities i ON i.platform_id = l.platform_id AND i.user_id = e.user_id
        WHERE l.cohort_id = NEW.id AND l.lineitem_url IS NOT NULL
        ON CONFLICT (platform_id, resource_link_id, user_id)
            DO UPDATE SET marked_at = EXCLUDED.marked_at
        RETURNING platform_id
    LOOP
        PERFORM pg_notify('gradeflow_lti_grades', platform::text);
    END LOOP;
    RETURN NULL;
END
$$
"""


def downgrade() -> None:
    op.execute("DROP TRIGGER cohorts_mark_lti_grades ON cohorts")
    op.execute("DROP FUNCTION gradeflow_mark_lti_cohort_grades()")
    op.execute("DROP TRIGGER submissions_mark_lti_grades ON submissions")
    op.execute("DROP FUNCTION gradeflow_mark_lti_grades()")
    for table in (
        "lti_grade_posts",
        "lti_links",
        "lti_contexts",
        "lti_identities",
        "lti_keys",
        "lti_platforms",
        "sign_in_sessions",
    ):
        op.drop_table(table)
