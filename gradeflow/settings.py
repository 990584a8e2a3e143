"""The one settings object: every knob is a GRADEFLOW_* environment variable with a sane default."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

RUNTIME_FILE = "runtime.json"


def running_file() -> Path:
    """Where a running `gradeflow up` says which home it runs from, so commands find it from any directory:
    $XDG_STATE_HOME/gradeflow/running.json (default ~/.local/state/gradeflow/running.json)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "gradeflow" / "running.json"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def running_home() -> Path | None:
    """The home of the `gradeflow up` that last started on this machine and still runs, if any."""
    try:
        recorded = json.loads(running_file().read_text())
        home, pid = Path(recorded["home"]), int(recorded["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return home if pid_alive(pid) and (home / RUNTIME_FILE).exists() else None


def secrets_dir() -> str | None:
    """Where secrets arrive as files (compose `secrets:`, Kubernetes secret volumes): $GRADEFLOW_SECRETS_DIR, else
    /run/secrets when it exists. A file named like the variable (e.g. `gradeflow_database_url`) sets that setting;
    the environment still wins over it."""
    folder = os.environ.get("GRADEFLOW_SECRETS_DIR") or "/run/secrets"
    return folder if os.path.isdir(folder) else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GRADEFLOW_", extra="ignore", secrets_dir=secrets_dir()
    )

    # Where embedded services keep their data (PostgreSQL cluster, Redis dump, Temporal database, demo tokens).
    home: Path = Path(".gradeflow")

    # Configured services replace the embedded ones. When unset, `gradeflow up` starts its own and
    # records their addresses in $GRADEFLOW_HOME/runtime.json so other commands can find them.
    database_url: str | None = None
    redis_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_ui_url: str | None = None
    # A Temporal cluster that needs TLS (self-hosted with its own CA, or Temporal Cloud): TLS on (with the system's
    # roots unless a CA file is given), mutual TLS with a client certificate and key, the server name to check,
    # and/or an API key (Temporal Cloud; it turns TLS on).
    temporal_tls: bool = False
    temporal_tls_ca_file: Path | None = None
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None

    # Ports of the embedded stack started by `gradeflow up`.
    postgres_port: int = 5432
    redis_port: int = 6379
    temporal_port: int = 7233
    temporal_ui_port: int = 8233

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501
    # Dashboard processes `gradeflow up` runs. One process uses one core at most (Python); more than one sit
    # behind HAProxy with sticky sessions on dashboard_host:dashboard_port (gradeflow/launch/proxy.py).
    dashboards: int = Field(default=1, ge=1, le=64)
    # Where the dashboard finds the API.
    api_url: str | None = None
    # API processes (uvicorn workers) `gradeflow api` runs: one per core.
    api_workers: int = max(1, os.cpu_count() or 1)
    # uvicorn's line per request. Off by default: GradeFlow logs what matters (each submission accepted, each
    # grading) and a line per status read costs CPU that a deadline rush needs.
    api_access_log: bool = False
    # Database connections each API process keeps open (and never more): opened once, not per request in a burst.
    api_db_connections: int = 20
    # How long the API trusts a token it has looked up: a removed user or a changed token is refused after this.
    token_cache_seconds: float = 5.0

    # LTI 1.3: the addresses an LMS and its users' browsers reach GradeFlow at (behind a proxy, its public https
    # URLs). The LMS is given URLs under public_api_url; a launch lands on public_dashboard_url.
    public_api_url: str | None = None
    public_dashboard_url: str | None = None
    # How long a browser stays signed in after an LMS launch.
    lti_session_hours: float = 12.0
    # How often every LMS course's roster is synced (Names and Role Provisioning); instructors also sync on demand.
    lti_roster_sync_hours: float = 6.0
    # Encrypts GradeFlow's LTI signing keys at rest (best as a secret file); unset: stored as plain PEM.
    lti_key_passphrase: SecretStr | None = None

    # Submission rules.
    max_code_bytes: int = 64 * 1024
    submissions_per_minute: int = 30

    # Worker.
    grading_concurrency: int = max(2, 2 * (os.cpu_count() or 1))
    # Regrades: sandboxes one worker runs at once for regrades, and chunk activities it takes at once.
    regrade_concurrency: int = max(2, 2 * (os.cpu_count() or 1))
    regrade_chunks_per_worker: int = 4
    dispatch_batch: int = 100
    # CPU priority of the worker below the API's (Unix niceness added at start; 0 keeps it equal). The embedded
    # Temporal dev server runs at the same (gradeflow.launch.embedded.GRADING_NICE).
    worker_nice: int = 15
    # Gradings one worker's intake dispatcher keeps started and unfinished; the rest of a burst waits in the
    # intake stream, where it costs nothing, until this worker (or another) has room.
    intake_in_flight: int = max(8, 8 * (os.cpu_count() or 1))
    # Prometheus metrics of a worker (Temporal SDK metrics plus GradeFlow's gradings, latency and intake depth),
    # served at http://ADDRESS/metrics, e.g. "0.0.0.0:9464". Unset: no metrics endpoint.
    worker_metrics_address: str | None = None
    # Rows still `queued` after this long get their workflow started by the reconciler.
    reconcile_after_seconds: float = 30.0
    reconcile_interval_seconds: float = 5.0

    # Sandbox: "auto" (fork server, falling back to a fresh interpreter per run), "forkserver" or "fresh".
    sandbox_mode: str = "auto"
    # Development only: grade WITHOUT isolation. The worker announces it loudly and marks every result.
    unsafe_grading: bool = False
    # Tests only: make one isolation step fail (e.g. "seccomp", "user namespace") to check the refusal.
    sandbox_simulate_missing: str | None = None
    # Compiled programs, shared by the workers of one machine (default: <home>/compile-cache), and its bound in MiB
    compile_cache_dir: Path | None = None
    compile_cache_mb: int = 512
    # The languages this worker grades (comma-separated; default: every one whose toolchain it finds)
    worker_languages: str | None = None

    @property
    def compile_cache(self) -> Path:
        return self.compile_cache_dir or self.home / "compile-cache"

    # "text" (readable lines) or "json" (one object per line with submission, workflow and activity ids).
    log_format: str = "text"

    # Seed demo data on first start of `gradeflow up`.
    seed_demo: bool = True

    @property
    def runtime_file(self) -> Path:
        return self.home / RUNTIME_FILE

    def with_runtime(self) -> Settings:
        """Fill unset service addresses from a running `gradeflow up` (its runtime.json): the one of
        GRADEFLOW_HOME when it is set; else the one of ./.gradeflow; else the one running on this machine
        (`running_file`), so the CLI works from any directory."""
        if "home" not in self.model_fields_set and not self.runtime_file.exists():
            found = running_home()
            if found is not None:
                self = self.model_copy(update={"home": found})
        missing = {
            k: None
            for k in ("database_url", "redis_url", "temporal_address", "temporal_ui_url", "api_url")
            if getattr(self, k) is None
        }
        if missing and self.runtime_file.exists():
            recorded = json.loads(self.runtime_file.read_text())
            updates = {k: recorded[k] for k in missing if recorded.get(k)}
            return self.model_copy(update=updates)
        return self

    def need(self, name: str) -> str:
        """A service address that must be known, or the message `require` gives."""
        self.require(name)
        return str(getattr(self, name))

    def require(self, *names: str) -> None:
        """Fail with a message that says what to set when a service address is unknown."""
        unset = [n for n in names if getattr(self, n) is None]
        if unset:
            envs = ", ".join(f"GRADEFLOW_{n.upper()}" for n in unset)
            raise SystemExit(
                f"{envs} not set and no running `gradeflow up` found (looked in {self.home}/ and "
                f"{running_file()}). Start the platform with `gradeflow up` (or `make run`), point "
                "GRADEFLOW_HOME at the home it runs from, or set the variables."
            )

    @property
    def resolved_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def resolved_public_api_url(self) -> str:
        return (self.public_api_url or self.resolved_api_url).rstrip("/")

    @property
    def resolved_public_dashboard_url(self) -> str:
        default = f"http://{self.dashboard_host}:{self.dashboard_port}"
        return (self.public_dashboard_url or default).rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings().with_runtime()
