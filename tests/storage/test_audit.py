from datetime import UTC, datetime

import pytest

from storage import Store


@pytest.mark.asyncio
async def test_audit_records_are_appended_and_listed_newest_first(tmp_path):
    clock = lambda: datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # noqa: E731
    async with await Store.open(tmp_path / "elo.db", clock=clock) as store:
        first = await store.audit.record(actor="staff", action="pii.show", detail={"rows": 3})
        await store.audit.record(actor="system", action="retention.purge", subject="calls")
        entries = await store.audit.list()
    assert [e.action for e in entries] == ["retention.purge", "pii.show"]
    assert entries[1].id == first.id
    assert entries[1].detail == {"rows": 3}
    assert entries[1].at == clock()


@pytest.mark.asyncio
async def test_audit_record_rolls_back_with_its_transaction(tmp_path):
    async with await Store.open(tmp_path / "elo.db") as store:
        with pytest.raises(RuntimeError):
            async with store.db.transaction() as conn:
                await store.audit.record(actor="staff", action="privacy.erase", conn=conn)
                raise RuntimeError("the change it describes failed")
        assert await store.audit.list() == []
