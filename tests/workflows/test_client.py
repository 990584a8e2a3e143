"""Reaching a real Temporal cluster (issue #14): TLS, mutual TLS and an API key from GradeFlow's settings (or
secret files) as the SDK's connection takes them, and a clear message where search attributes cannot be
registered. Pure: the built configuration is inspected; no server."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from gradeflow.settings import Settings
from tests.conftest import run_async
from workflows.client import SearchAttributesMissing, ensure_search_attributes, temporal_access


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_no_tls_settings_means_plain_connections():
    access = temporal_access(settings())
    assert (access.tls, access.api_key) == (False, None)


def test_tls_with_the_systems_roots_or_a_ca_and_a_client_certificate(tmp_path: Path):
    assert temporal_access(settings(temporal_tls=True)).tls is True
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_bytes(f"--- {name} ---".encode())
    access = temporal_access(
        settings(
            temporal_tls_ca_file=tmp_path / "ca.pem",
            temporal_tls_cert_file=tmp_path / "client.pem",
            temporal_tls_key_file=tmp_path / "client.key",
            temporal_tls_server_name="temporal.internal",
        )
    )
    assert isinstance(access.tls, TLSConfig)
    assert access.tls.server_root_ca_cert == b"--- ca.pem ---"
    assert access.tls.client_cert == b"--- client.pem ---"
    assert access.tls.client_private_key == b"--- client.key ---"
    assert access.tls.domain == "temporal.internal"
    with pytest.raises(ValueError, match="go together"):
        temporal_access(settings(temporal_tls_cert_file=tmp_path / "client.pem"))
    with pytest.raises(FileNotFoundError, match="nope.pem"):
        temporal_access(settings(temporal_tls_ca_file=tmp_path / "nope.pem"))


def test_an_api_key_turns_tls_on_and_can_come_from_a_secret_file(tmp_path: Path, monkeypatch):
    access = temporal_access(settings(temporal_api_key="key-123"))
    assert (access.tls, access.api_key) == (True, "key-123")
    # Never in logs or tracebacks
    assert "key-123" not in repr(settings(temporal_api_key="key-123"))

    (tmp_path / "gradeflow_temporal_api_key").write_text("from-a-file")
    (tmp_path / "gradeflow_database_url").write_text("postgresql+asyncpg://u:secret@db/gradeflow")
    monkeypatch.setenv("GRADEFLOW_SECRETS_DIR", str(tmp_path))
    from gradeflow.settings import secrets_dir

    filed = Settings(_env_file=None, _secrets_dir=secrets_dir())
    assert filed.temporal_api_key is not None
    assert filed.temporal_api_key.get_secret_value() == "from-a-file"
    assert filed.database_url == "postgresql+asyncpg://u:secret@db/gradeflow"
    monkeypatch.setenv("GRADEFLOW_DATABASE_URL", "postgresql+asyncpg://from-env/db")
    assert Settings(_env_file=None, _secrets_dir=secrets_dir()).database_url.endswith("from-env/db")


class Operator:
    """The operator service of a cluster that lists, or refuses, as told."""

    def __init__(self, existing: set[str], refuse: RPCStatusCode | None, refuse_list: bool = False):
        self.existing, self.refuse, self.refuse_list = existing, refuse, refuse_list
        self.added: list[str] = []

    async def list_search_attributes(self, _):
        if self.refuse_list:
            raise RPCError("no", RPCStatusCode.PERMISSION_DENIED, b"")
        return SimpleNamespace(custom_attributes={n: 1 for n in self.existing})

    async def add_search_attributes(self, request):
        if self.refuse is not None:
            raise RPCError("request denied", self.refuse, b"")
        self.added += list(request.search_attributes)


def client(operator: Operator):
    return SimpleNamespace(namespace="cs101", operator_service=operator)


def test_missing_search_attributes_are_registered_or_the_message_says_what_to_run():
    from workflows.config import SEARCH_ATTRIBUTES

    names = [k.name for k in SEARCH_ATTRIBUTES]
    open_cluster = Operator(existing={names[0]}, refuse=None)
    run_async(lambda: ensure_search_attributes(client(open_cluster)))
    assert sorted(open_cluster.added) == sorted(names[1:])

    closed = Operator(existing=set(), refuse=RPCStatusCode.PERMISSION_DENIED)
    with pytest.raises(SearchAttributesMissing) as refused:
        run_async(lambda: ensure_search_attributes(client(closed)))
    message = str(refused.value)
    assert "namespace 'cs101'" in message and "PERMISSION_DENIED" in message
    for name in names:
        assert (
            f"temporal operator search-attribute create --namespace cs101 --name {name} --type Keyword"
            in message
        )
    # Listing refused too: the worker goes on (the attributes may well exist) and logs the commands.
    run_async(lambda: ensure_search_attributes(client(Operator(set(), None, refuse_list=True))))
