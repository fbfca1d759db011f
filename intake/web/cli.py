"""``docintake web`` (serve the app) and ``docintake users`` (staff accounts)."""

from __future__ import annotations

import sys

import click

from intake.store.db import store_command


@click.command("web")
@click.option("--host", default=None, help="Address to listen on (default: DOCINTAKE_WEB_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: DOCINTAKE_WEB_PORT or 8080).")
@click.option("--threads/--no-threads", default=True, show_default=True, help="Serve requests in threads.")
@store_command
def web_command(settings, host: str | None, port: int | None, threads: bool) -> None:
    """Serve the public form page and the back office.

    This is werkzeug's server, fine behind a TLS-terminating reverse proxy for a
    back office; any WSGI server can serve ``intake.web:create_app()`` instead.
    """
    from werkzeug.serving import make_server

    from intake.web import create_app

    host = host or settings.web_host
    port = port if port is not None else settings.web_port
    server = make_server(host, port, create_app(settings), threaded=threads)
    click.echo(f"docintake web on http://{host}:{server.server_port}/ (back office: /backoffice/)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # pragma: no cover
        pass
    finally:
        server.server_close()


@click.group()
def users() -> None:
    """Back-office staff accounts."""


def _read_password(stdin: bool, name: str) -> str:
    from intake.web.auth import check_password_policy

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = check_password_policy(password, name)
    if problem:
        raise click.ClickException(problem)
    return password


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["clerk", "supervisor", "admin"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@store_command
def add_command(settings, name: str, role: str, password_stdin: bool) -> None:
    """Create a staff account NAME with ROLE (the password is asked for, never an argument)."""
    from sqlalchemy import select

    from intake.store.db import session_scope
    from intake.store.models import AuditEvent, User
    from intake.web.auth import check_user_name, hash_password

    name = name.strip()
    problem = check_user_name(name)
    if problem:
        raise click.ClickException(problem)
    password = _read_password(password_stdin, name)
    with session_scope(settings) as session:
        if session.scalar(select(User.id).where(User.name == name)) is not None:
            raise click.ClickException(f"user {name!r} exists already")
        session.add(User(name=name, role=role, password_hash=hash_password(password)))
        session.add(AuditEvent(actor="cli", action="user_created", detail={"name": name, "role": role}))
    click.echo(f"user {name} added as {role}")


@users.command("list")
@store_command
def list_command(settings) -> None:
    """List staff accounts."""
    from sqlalchemy import select

    from intake.store.db import session_scope
    from intake.store.models import User

    with session_scope(settings) as session:
        for user in session.scalars(select(User).order_by(User.name)):
            state = "active" if user.active else "inactive"
            if user.locked_until is not None:
                state += f", locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
            click.echo(f"{user.name}\t{user.role}\t{state}")


def _change(settings, name: str, action: str, *, end_sessions: bool = False, **values) -> None:
    from sqlalchemy import select

    from intake.store.db import session_scope
    from intake.store.models import AuditEvent, User
    from intake.web import sessions

    with session_scope(settings) as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise click.ClickException(f"no user {name!r}")
        for key, value in values.items():
            setattr(user, key, value)
        if end_sessions:
            sessions.end_all(session, user.id)
        session.add(AuditEvent(actor="cli", action=action, detail={"name": name}))
    click.echo(f"user {name}: {action.removeprefix('user_').replace('_', ' ')}")


@users.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@store_command
def set_password_command(settings, name: str, password_stdin: bool) -> None:
    """Set a new password (ends the user's sessions, lifts a lock)."""
    from intake.web.auth import hash_password

    password = _read_password(password_stdin, name)
    _change(settings, name, "user_password_set", password_hash=hash_password(password), failed_logins=0,
            locked_until=None, end_sessions=True)


@users.command("unlock")
@click.argument("name")
@store_command
def unlock_command(settings, name: str) -> None:
    """Lift a lock after failed sign-ins."""
    _change(settings, name, "user_unlock", failed_logins=0, locked_until=None)


@users.command("deactivate")
@click.argument("name")
@store_command
def deactivate_command(settings, name: str) -> None:
    """Disable an account (kept for the audit trail, never deleted)."""
    _change(settings, name, "user_deactivate", active=False, end_sessions=True)
