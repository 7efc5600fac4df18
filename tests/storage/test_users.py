"""The dashboard's users and web sessions (migration 11), on a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from storage import Store
from storage.users import UserError
from tests.conftest import FixedClock

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


@pytest.mark.asyncio
async def test_users_are_unique_without_case_and_keep_no_password(store: Store) -> None:
    user = await store.users.add(name="Arta", role="admin", password_hash=HASH, language="sq")
    assert user.is_admin and not user.disabled and user.failed_logins == 0
    assert HASH not in repr(user)
    with pytest.raises(UserError, match="already exists"):
        await store.users.add(name="ARTA", role="staff", password_hash=HASH, language="en")
    assert (await store.users.get(name="arta")) == user


@pytest.mark.asyncio
async def test_the_table_refuses_what_is_not_an_argon2id_hash_or_a_role(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.users.add(name="B", role="staff", password_hash="plain", language="sq")
    with pytest.raises(sqlite3.IntegrityError):
        await store.users.add(name="B", role="owner", password_hash=HASH, language="sq")  # type: ignore[arg-type]


async def _session(store: Store, user_id: int, token: str, clock: FixedClock) -> None:
    await store.users.create_session(
        user_id=user_id,
        token_hash=token * 64,
        csrf_token="c" * 43,
        expires_at=clock() + timedelta(hours=1),
    )


@pytest.mark.asyncio
async def test_disabling_and_new_passwords_end_every_session(
    store: Store, clock: FixedClock
) -> None:
    user = await store.users.add(name="Arta", role="staff", password_hash=HASH, language="sq")
    await _session(store, user.id, "a", clock)
    await _session(store, user.id, "b", clock)
    found = await store.users.session(token_hash="a" * 64)
    assert found is not None and found.user.name == "Arta" and not found.totp_pending
    await store.users.set_disabled(name="Arta", disabled=True)
    assert await store.users.count_sessions(user_id=user.id) == 0
    await store.users.set_disabled(name="Arta", disabled=False)
    await _session(store, user.id, "c", clock)
    await store.users.set_password(name="Arta", password_hash=HASH)
    assert await store.users.session(token_hash="c" * 64) is None
    with pytest.raises(UserError, match="no user"):
        await store.users.set_password(name="Nobody", password_hash=HASH)


@pytest.mark.asyncio
async def test_failures_lock_then_success_resets(store: Store, clock: FixedClock) -> None:
    user = await store.users.add(name="Arta", role="staff", password_hash=HASH, language="sq")
    for count in range(1, 3):
        after = await store.users.record_failure(
            user_id=user.id, max_failures=3, lock_for=timedelta(minutes=15)
        )
        assert after.failed_logins == count and not after.locked_at(clock())
    after = await store.users.record_failure(
        user_id=user.id, max_failures=3, lock_for=timedelta(minutes=15)
    )
    assert after.locked_at(clock()) and after.failed_logins == 0
    assert not after.locked_at(clock() + timedelta(minutes=16))
    await store.users.record_success(user_id=user.id)
    assert (await store.users.get(name="Arta")).locked_until is None  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_one_time_code_step_is_used_once(store: Store) -> None:
    user = await store.users.add(name="Arta", role="admin", password_hash=HASH, language="sq")
    await store.users.set_totp(name="Arta", secret="A" * 32)
    assert await store.users.use_totp_step(user_id=user.id, step=100)
    assert not await store.users.use_totp_step(user_id=user.id, step=100)
    assert not await store.users.use_totp_step(user_id=user.id, step=99)
    assert await store.users.use_totp_step(user_id=user.id, step=101)


@pytest.mark.asyncio
async def test_expired_sessions_are_cleared_when_a_new_one_starts(
    store: Store, clock: FixedClock
) -> None:
    user = await store.users.add(name="Arta", role="staff", password_hash=HASH, language="sq")
    await _session(store, user.id, "a", clock)
    clock.now += timedelta(hours=2)
    await _session(store, user.id, "b", clock)
    assert await store.users.session(token_hash="a" * 64) is None
    assert await store.users.count_sessions(user_id=user.id) == 1


@pytest.mark.asyncio
async def test_audit_pages_go_back_in_time(store: Store) -> None:
    for number in range(5):
        await store.audit.record(actor="system", action=f"test.{number}")
    first = await store.audit.page(limit=2)
    assert [e.action for e in first] == ["test.4", "test.3"]
    second = await store.audit.page(limit=2, before_id=first[-1].id)
    assert [e.action for e in second] == ["test.2", "test.1"]
