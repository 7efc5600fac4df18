"""Who a call is for and why: set by the campaign (or the command line), never by the model."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storage.models import CallDirection, CampaignPurpose
from validation import normalize_name, normalize_phone
from validation.languages import DEFAULT_LANGUAGE, tag_pattern
from validation.text import clean_text


class CallMetadata(BaseModel):
    """The facts a call starts with.

    The patient identity is bound here by the caller of the pipeline, so what the model says can
    never make Elo act for another patient.

    Attributes:
        call_id: The call's id.
        patient_name: Outbound: the name the call is placed for. Inbound: the name on file for
            the calling number.
        phone: The number the call is bound to: the one dialled, or (inbound) the caller's own
            as the telephony side reported it. None: unbound (browser, file, withheld number).
        reason: Outbound: why Elo calls. Inbound: why the clinic last contacted the number.
        language: The call's language: a code of ``validation.languages`` (sq, en, it),
            optionally with a region (``it-IT``).
        direction: Who placed the call.
        do_not_call: Inbound only: the caller's number is on the do-not-call list (answered,
            never called back).
        purpose: Outbound campaign calls: the campaign's purpose (e.g. ``confirmation``), so
            the voicemail message can say why the clinic called without any health detail.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    patient_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=300)
    language: str = Field(default=DEFAULT_LANGUAGE, pattern=tag_pattern())
    direction: CallDirection = CallDirection.OUTBOUND
    do_not_call: bool = False
    purpose: CampaignPurpose | None = None

    @property
    def inbound(self) -> bool:
        """Whether the caller placed this call (Elo answers)."""
        return self.direction is CallDirection.INBOUND

    @field_validator("patient_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return normalize_name(value, field="patient_name") if value else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        # Outbound numbers come from the clinic's own records, inbound ones from the telephony
        # side (see service.inbound); any valid number is accepted here.
        if not value:
            return None
        return normalize_phone(value, allowed_regions=_ALL_REGIONS, field="phone")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        if not value:
            return None
        return clean_text(value, field="reason", max_length=300, required=False) or None


def _all_regions() -> tuple[str, ...]:
    import phonenumbers

    return tuple(sorted(phonenumbers.SUPPORTED_REGIONS))


_ALL_REGIONS = _all_regions()
