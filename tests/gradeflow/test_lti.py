"""LTI's pure parts: roles, names, the words of a refusal, key storage (unit tests; the protocol end to end is in
tests/integration/test_lti.py against the test LMS)."""

from __future__ import annotations

import pytest

from gradeflow.lti import keys
from gradeflow.lti.admit import cohort_slug, role_of, user_name
from gradeflow.lti.platforms import NewPlatform, PlatformError, check, tool_urls
from gradeflow.lti.protocol import launch_problem
from gradeflow.models import LtiPlatform
from gradeflow.settings import get_settings

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    "roles, role",
    [
        ([LIS + "membership#Learner"], "student"),
        ([LIS + "membership#Instructor"], "instructor"),
        ([LIS + "membership#TeachingAssistant"], "instructor"),
        ([LIS + "institution/person#Administrator"], "instructor"),
        ([LIS + "institution/person#Student", LIS + "membership#Learner"], "student"),
        ([], "student"),
    ],
)
def test_lms_roles_make_students_or_instructors(roles, role):
    assert role_of(roles) == role


def test_names_and_slugs_are_valid_and_tell_lms_people_apart():
    platform = LtiPlatform(id=3)
    a = user_name(platform, {"sub": "1", "email": "Ann Lee@school.edu"})
    b = user_name(platform, {"sub": "2", "email": "Ann Lee@school.edu"})
    assert a.startswith("Ann-Lee-") and a != b
    assert user_name(platform, {"sub": "x"}).startswith("lms-user-")
    slug = cohort_slug(platform, {"id": "c1", "label": "CS 101: Intro!"})
    assert slug.startswith("cs-101-intro-") and slug != cohort_slug(
        LtiPlatform(id=4), {"id": "c1", "label": "CS 101: Intro!"}
    )


@pytest.mark.parametrize(
    "library_says, person_reads",
    [
        ("State not found", "did not start here, or it was already used"),
        ("Invalid Nonce", "already used, or it is too old"),
        ("Can't decode id_token: Signature has expired", "has expired"),
        ("Unable to find deployment", "deployment of GradeFlow in the LMS is not registered"),
        ("Can't decode id_token: Signature verification failed", "signature does not match"),
        ('Can\'t decode id_token: Token is missing the "iat" claim', "lacks its 'iat' claim"),
    ],
)
def test_a_refusal_says_why_in_words(library_says, person_reads):
    assert person_reads in launch_problem(library_says)


def test_a_registration_says_every_problem_at_once():
    with pytest.raises(PlatformError) as refused:
        check(NewPlatform("x", "", "", "ftp://a", "https://b/token", "/jwks", ()))
    words = str(refused.value)
    for field in ("auth_login_url", "key_set_url", "issuer", "client_id", "deployment id"):
        assert field in words
    assert (
        tool_urls("https://grades.example.edu/")["launch"]
        == "https://grades.example.edu/lti/launch"
    )


def test_keys_are_stored_encrypted_with_a_passphrase_and_open_only_with_it(monkeypatch):
    get_settings.cache_clear()
    monkeypatch.setenv("GRADEFLOW_LTI_KEY_PASSPHRASE", "correct horse")
    try:
        key = keys.new_key()
        assert "ENCRYPTED" in key.private_pem
        assert keys.public_jwk(keys.unlocked(key))["kid"] == key.kid
        get_settings.cache_clear()
        monkeypatch.setenv("GRADEFLOW_LTI_KEY_PASSPHRASE", "wrong")
        with pytest.raises(keys.KeyLocked):
            keys.unlocked(key)
        get_settings.cache_clear()
        monkeypatch.delenv("GRADEFLOW_LTI_KEY_PASSPHRASE")
        plain = keys.new_key()
        assert "ENCRYPTED" not in plain.private_pem and keys.unlocked(plain) == plain.private_pem
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("kid", ["-3yN9QruBN4tA", "-hxyz", "--abc", "plain-kid"])
def test_a_key_id_starting_with_a_dash_reaches_retire_as_it_is(kid):
    from gradeflow.launch.cli import build_parser
    from gradeflow.lti.cli import kid_as_positional

    args = build_parser().parse_args(kid_as_positional(["lti", "keys", "retire", kid]))
    assert args.kid == kid
    given = build_parser().parse_args(kid_as_positional(["lti", "keys", "retire", "--", kid]))
    assert given.kid == kid
