"""``elo user add|disable|enable|reset|list|totp``: who may sign in to the dashboard.

Passwords are read without echo (``getpass``, asked twice) at a terminal; from a pipe (scripts,
tests) the first line of standard input is the password. Every change is in the audit trail,
with the operating-system user as the actor. ``elo user totp NAME`` enrols an admin's
one-time-code secret and prints it once (as an ``otpauth://`` URI for an authenticator app).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from cli.failures import UsageError
from cli.runtime import audit_actor
from config.settings import AppSettings

COMMAND = "user"


def add_parser(commands: Any, common: argparse.ArgumentParser, parser_class: type) -> None:
    """Add ``elo user`` to the command line."""
    user = commands.add_parser(COMMAND, parents=[common], help="dashboard users and sign-in")
    sub = user.add_subparsers(dest="user_command", required=True, parser_class=parser_class)
    add = sub.add_parser("add", parents=[common], help="add a user (asks for the password)")
    add.add_argument("name", help="the name they sign in with")
    add.add_argument("--role", required=True, choices=("admin", "staff"), help="admin or staff")
    add.add_argument("--language", default="sq", choices=("sq", "en"), help="sq (default) or en")
    for action, text in (
        ("disable", "stop a user signing in (ends their sessions)"),
        ("enable", "let a disabled or locked-out user sign in again"),
        ("reset", "give a user a new password (asks for it; ends their sessions)"),
        ("totp", "enrol an admin's one-time codes (prints the secret once)"),
    ):
        sub.add_parser(action, parents=[common], help=text).add_argument("name", help="user name")
    sub.add_parser("list", parents=[common], help="list the users (no secrets)")


def _name(raw: str) -> str:
    from dashboard.accounts import AccountError, clean_name

    try:
        return clean_name(raw)
    except AccountError as exc:
        raise UsageError(str(exc)) from None


def read_password(name: str, settings: AppSettings) -> str:
    """The new password: asked twice without echo at a terminal, else standard input's first line.

    Raises:
        UsageError: No password given, the two differ, or it breaks the rules.
    """
    from dashboard.accounts import AccountError, check_password

    try:
        if sys.stdin is not None and sys.stdin.isatty():
            password = getpass.getpass("New password: ")
            if getpass.getpass("The same again: ") != password:
                raise UsageError("the two passwords are not the same")
        else:
            line = sys.stdin.readline() if sys.stdin is not None else ""
            password = line.rstrip("\r\n")
    except (OSError, EOFError, ValueError):
        raise UsageError("no password given: type it at a terminal or pipe it in") from None
    if not password:
        raise UsageError("no password given: type it at a terminal or pipe it in")
    try:
        check_password(password, name=name, min_length=settings.dashboard.min_password_length)
    except AccountError as exc:
        raise UsageError(str(exc)) from None
    return password


async def run(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    """Run one ``elo user`` command; returns what it prints (never a secret but the new TOTP)."""
    from app.application import open_application
    from dashboard.accounts import hash_password, new_totp_secret, totp_uri
    from storage.users import UserError

    command = args.user_command
    name = _name(args.name) if command != "list" else ""
    password_hash = None
    if command in ("add", "reset"):
        password = read_password(name, settings)
        password_hash = await asyncio.to_thread(hash_password, password)
    async with open_application(settings) as app:
        users = app.store.users
        if command == "list":
            return {"users": [_public(user) for user in await users.list()]}
        try:
            if command == "add":
                assert password_hash is not None
                user = await users.add(
                    name=name, role=args.role, password_hash=password_hash, language=args.language
                )
            elif command == "reset":
                assert password_hash is not None
                user = await users.set_password(name=name, password_hash=password_hash)
            elif command == "totp":
                secret = new_totp_secret()
                found = await users.get(name=name)
                if found is not None and not found.is_admin:
                    raise UsageError(f"{found.name!r} is staff; one-time codes are for admins")
                user = await users.set_totp(name=name, secret=secret)
            else:
                disabled = command == "disable"
                found = await users.get(name=name)
                if disabled and found is not None and found.is_admin and not found.disabled:
                    if await users.count_enabled_admins() <= 1:
                        raise UsageError(
                            "that is the last admin who can sign in; add another first"
                        )
                user = await users.set_disabled(name=name, disabled=disabled)
        except UserError as exc:
            raise UsageError(str(exc)) from None
        await app.store.audit.record(
            actor=audit_actor(), action=f"user.{command}", subject=f"user:{user.id}"
        )
    result: dict[str, Any] = {"status": command, "user": _public(user)}
    if command == "totp":
        result["totp_secret"] = secret
        result["otpauth_uri"] = totp_uri(secret, name=user.name, clinic=app.clinic.name)
        result["note"] = "shown once: add it to the admin's authenticator app now"
    return result


def _public(user: Any) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "language": user.language,
        "disabled": user.disabled,
        "totp": user.totp_enrolled,
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
    }
