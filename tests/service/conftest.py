"""Fixtures of the campaign tests (LiveKit fake, real dialer, scripted conversations), shared."""

from tests.campaign.conftest import dialer, launcher, livekit, run_settings

__all__ = ["dialer", "launcher", "livekit", "run_settings"]
