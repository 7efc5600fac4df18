"""The rules of the dashboard's accounts, shared by ``elo user`` and the Users page.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
set); a sign-in for a name that does not exist still spends one verification on a fixed hash, so
the answer's timing does not tell which names exist. One-time codes are RFC 6238 TOTP (pyotp:
30-second steps, six digits), accepted one step either side of now, each step once.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from validation.text import strip_invisible

MAX_NAME_LENGTH = 64
# Past this a password is a paste accident or an attack on the hash's cost.
MAX_PASSWORD_LENGTH = 256
TOTP_ISSUER = "Elo"

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A name or password that breaks the rules; the message is one line for a person."""


def clean_name(raw: str) -> str:
    """A user name as stored: visible text on one line, 1 to 64 characters, spaces collapsed.

    Raises:
        AccountError: Empty, too long, or only invisible characters.
    """
    if len(raw) > MAX_NAME_LENGTH * 4:
        raise AccountError(f"the name must have at most {MAX_NAME_LENGTH} characters")
    # Markup is kept, not stripped: every page escapes what it shows, and a name must read back
    # exactly as typed (the browser tests type markup as a name to prove the escaping).
    name = " ".join(strip_invisible(raw).split())
    if not name:
        raise AccountError("the name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise AccountError(f"the name must have at most {MAX_NAME_LENGTH} characters")
    return name


def check_password(password: str, *, name: str, min_length: int) -> None:
    """Refuse a password that is too short, too long or the user's own name.

    Length is the rule that matters (NIST SP 800-63B 5.1.1.2); no composition rules.

    Raises:
        AccountError: The password breaks a rule (the message never repeats it).
    """
    if len(password) < min_length:
        raise AccountError(f"the password must have at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().casefold() == name.strip().casefold():
        raise AccountError("the password must not be the user's name")


def hash_password(password: str) -> str:
    """The argon2id hash to store (slow on purpose: call it off the event loop)."""
    return _hasher.hash(password)


@cache
def _decoy_hash() -> str:
    return _hasher.hash("elo-no-such-user-decoy")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (unknown user) a decoy is verified instead.

    Either way one argon2 verification is spent, so the time taken does not tell whether the
    user exists. Slow on purpose: call it off the event loop.
    """
    try:
        ok = _hasher.verify(password_hash or _decoy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None


def new_totp_secret() -> str:
    """A fresh base32 TOTP secret (160 bits, RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, *, name: str, clinic: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or typed)."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=f"{TOTP_ISSUER} {clinic}")


def totp_step(secret: str, code: str, *, now: datetime) -> int | None:
    """The time step whose code ``code`` is, within one step of ``now``; None if it is none's.

    The caller must accept a step only if it is later than the last one accepted
    (:meth:`storage.users.UserRepository.use_totp_step`), so a code is never used twice.
    """
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for offset in (-1, 0, 1):
        step = current + offset
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
