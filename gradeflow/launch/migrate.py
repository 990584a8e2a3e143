"""The database schema brought to the newest revision with Alembic (`migrations/`)."""

from __future__ import annotations

from pathlib import Path

from gradeflow.settings import Settings


def alembic_config(database_url: str):
    """Alembic's configuration for GradeFlow's migrations against `database_url` (no logging set-up of its own)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).resolve().parents[2] / "migrations")
    )
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def migrate(settings: Settings) -> None:
    from alembic import command

    command.upgrade(alembic_config(settings.need("database_url")), "head")
