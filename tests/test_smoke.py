import pytest


@pytest.mark.asyncio
async def test_fixtures_build_a_working_context(ctx, registry):
    result = await registry.call("get_clinic_info", {}, ctx)
    assert result["name"] == "Klinika Dentare Buzëqeshja"
