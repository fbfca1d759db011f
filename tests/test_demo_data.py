"""The demo agrees with the product (issue 12): its seeded profiles pass the form's own rules, and
its closing hint names the address the web will really be at."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_demo_profiles_pass_the_products_own_rules():
    from forms.rules import RULES, RuleViolation
    from forms.schema import FIELDS
    from worker.demo import customers

    by_name = {f.name: f for f in FIELDS}
    problems = []
    for customer in customers().values():
        profile = customer.old_profile()
        assert profile["phone"] != customer.phone  # the forms still bring a new number
        for name, value in profile.items():
            field = by_name.get(name)
            if field is not None and field.rule:
                try:
                    RULES[field.rule](value, profile)
                except RuleViolation as exc:
                    problems.append(f"{customer.key}.{name} = {value!r}: {exc}")
    assert problems == []


@pytest.mark.parametrize("port", [8080, 9191])
def test_the_closing_hint_names_the_port_that_was_given(port):
    from worker.demo import closing_hint

    hint = closing_hint(Path("/srv/demo"), "127.0.0.1", port, "demo", "pw", options=port != 8080)
    assert f"http://127.0.0.1:{port}/backoffice/" in hint
    if port != 8080:
        assert f"--port {port}" in hint and "8080" not in hint


def test_demo_takes_host_and_port(run_cli, make_settings):
    result = run_cli(make_settings("sqlite"), "demo", "--help")
    assert "--port" in result.stdout and "--host" in result.stdout


def test_a_new_demo_password_ends_the_demo_users_sessions(make_settings):
    from sqlalchemy import select

    from intake.store.db import session_scope
    from intake.store.models import StaffSession, User
    from intake.web import sessions
    from worker.demo import DEMO_USER, ensure_staff_user

    settings = make_settings("sqlite")
    ensure_staff_user(settings)
    with session_scope(settings) as session:
        sessions.start(session, session.scalar(select(User).where(User.name == DEMO_USER)), "127.0.0.1")
    (settings.data_dir / "demo-credentials.txt").unlink()  # forgotten: the demo sets a new password
    ensure_staff_user(settings)
    with session_scope(settings) as session:
        assert session.scalar(select(StaffSession.revoked_at)) is not None
