"""`gradeflow lti …`: register an LMS, print the URLs to give it, rotate GradeFlow's signing key, sync a course's
roster. Works on the database directly, like the other account commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gradeflow.settings import Settings

T = TypeVar("T")


def add_commands(sub, command: Callable[..., argparse.ArgumentParser]) -> None:
    lti = command(
        sub, "lti", "LTI 1.3: register LMSs (Canvas, Moodle, …) and what they need"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    add = command(lti, "add", "register an LMS (the values come from registering GradeFlow in it)")
    add.add_argument("name", help="what operators call it, e.g. canvas")
    add.add_argument(
        "--issuer", required=True, help="the LMS's issuer, e.g. https://canvas.instructure.com"
    )
    add.add_argument("--client-id", required=True, help="the client id the LMS gave GradeFlow")
    add.add_argument(
        "--auth-login-url", required=True, help="the LMS's OIDC authorization endpoint"
    )
    add.add_argument("--auth-token-url", required=True, help="the LMS's OAuth2 token endpoint")
    add.add_argument("--key-set-url", required=True, help="the LMS's public key set (JWKS) URL")
    add.add_argument(
        "--deployment-id",
        action="append",
        required=True,
        dest="deployment_ids",
        help="a deployment id to trust (repeat for several)",
    )
    command(lti, "list", "the registered LMSs")
    urls = command(lti, "urls", "the URLs to give an LMS (login, launch, key set, deep linking)")
    urls.add_argument(
        "--json", action="store_true", help="as JSON (keys login, launch, jwks, deep_linking)"
    )
    keys = command(
        lti, "keys", "GradeFlow's signing keys (published in its key set)"
    ).add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    command(keys, "list", "the keys, newest first, and which one signs")
    command(keys, "rotate", "make a new signing key (the old ones stay published until retired)")
    retire = command(keys, "retire", "stop publishing an old key")
    retire.add_argument("kid", help="its key id (from `gradeflow lti keys list`)")


def kid_as_positional(argv: list[str]) -> list[str]:
    """Key ids are base64url thumbprints (pylti1p3 signs with that kid), and one in 64 starts with '-', which
    argparse takes for an unknown option: put '--' before the key id given to `gradeflow lti keys retire`, so the
    id copied from `gradeflow lti keys list` works as it is. (argparse has no public switch for this.)"""
    for i in range(len(argv) - 3):
        if argv[i : i + 3] == ["lti", "keys", "retire"]:
            rest = argv[i + 3 :]
            if rest[0].startswith("-") and rest[0] not in ("-h", "--help", "--"):
                return [*argv[: i + 3], "--", *rest]
    return argv


def _run(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    from gradeflow.db import in_transaction

    settings.require("database_url")
    return asyncio.run(in_transaction(settings.need("database_url"), fn))


def run(settings: Settings, args: argparse.Namespace) -> int:
    from gradeflow.lti import keys as signing
    from gradeflow.lti.platforms import (
        NewPlatform,
        PlatformError,
        add_platform,
        all_platforms,
        tool_urls,
    )

    if args.action == "urls":
        urls = tool_urls(settings.resolved_public_api_url)
        if args.json:
            print(json.dumps(urls, indent=2))
        else:
            for name, url in urls.items():
                print(f"{name + ':':<14}{url}")
        return 0
    if args.action == "add":
        new = NewPlatform(
            name=args.name,
            issuer=args.issuer,
            client_id=args.client_id,
            auth_login_url=args.auth_login_url,
            auth_token_url=args.auth_token_url,
            key_set_url=args.key_set_url,
            deployment_ids=tuple(args.deployment_ids),
        )
        try:
            platform = _run(settings, lambda s: add_platform(s, new))
        except PlatformError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(
            f"registered LMS '{platform.name}' ({platform.issuer}, client id {platform.client_id})"
        )
        print("Give it these URLs (`gradeflow lti urls`):")
        for name, url in tool_urls(settings.resolved_public_api_url).items():
            print(f"  {name + ':':<14}{url}")
        return 0
    if args.action == "list":
        platforms = _run(settings, all_platforms)
        if not platforms:
            print("no LMS registered: `gradeflow lti add` registers one")
        for p in platforms:
            print(
                f"{p.name}: {p.issuer} client {p.client_id}, deployments {', '.join(p.deployment_ids)}"
            )
        return 0
    # keys
    if args.keys_action == "rotate":
        key = _run(settings, signing.rotate)
        print(f"new signing key {key.kid}; the previous keys stay published until retired")
        return 0
    if args.keys_action == "retire":
        try:
            found = _run(settings, lambda s: signing.retire(s, args.kid))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if not found:
            print(f"error: no active key {args.kid}", file=sys.stderr)
            return 1
        print(f"key {args.kid} retired: no longer published")
        return 0

    async def listing(session):
        await signing.signing_key(session)  # the first is made on first use
        return await signing.active_keys(session)

    for i, key in enumerate(_run(settings, listing)):
        print(f"{key.kid}  made {key.created_at:%Y-%m-%d %H:%M}{'  (signs)' if i == 0 else ''}")
    return 0
