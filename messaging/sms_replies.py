"""What a patient's text reply means: confirm, decline, stop, or unknown.

A reply is data, never instructions: it is matched against fixed word lists and nothing else
happens with its text (it is not stored, logged or shown to a model). Matching tolerates case,
accents (``SÌ`` is ``SI``, ``Ë`` is ``E``), punctuation, emoji and spacing.

The rules, on the reply's words:

- **stop** when the first word is a stop word: ``STOP``, ``NDALO``/``NDAL`` (Albanian),
  ``BASTA`` (Italian) and Twilio's standard opt-out words (STOP, STOPALL, UNSUBSCRIBE, CANCEL,
  END, QUIT: https://www.twilio.com/help/faq/sms/does-twilio-support-stop-block-and-cancel-aka-sms-filtering).
  Twilio blocks a number that sends one of its words alone whatever Elo decides, so Elo records
  the opt-out too; and any message starting with a stop word is honoured (opting out is the
  safe side).
- **confirm** / **decline** when the first word is one of the answer's words (``PO``, ``YES``,
  ``SI``, ``1``, ... / ``JO``, ``NO``, ``2``, ...) and no later word belongs to the other
  answer or to stop ("po jo" is unknown); other later words are allowed ("Po, faleminderit",
  "Jo, nuk mundem nesër"), up to :data:`MAX_WORDS` words: a longer text is a conversation for
  staff, not an answer. Words that are everyday words too (``SI`` is Albanian for "how",
  ``OK``) answer only alone or with thanks ("Sì grazie"; "Si jeni?" is unknown).
- anything else is **unknown**.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

MAX_WORDS = 12


class Reply(StrEnum):
    """What a reply means."""

    CONFIRM = "confirm"
    DECLINE = "decline"
    STOP = "stop"
    UNKNOWN = "unknown"


# Twilio's default opt-out words (see the module docstring), then Albanian and Italian ones.
TWILIO_STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
STOP_WORDS = TWILIO_STOP_WORDS | {"ndalo", "ndal", "ndaloni", "basta"}
CONFIRM_WORDS = frozenset(
    {"po", "yes", "y", "si", "1", "ok", "okay", "konfirmoj", "konfirmo", "confirm", "confermo"}
)
DECLINE_WORDS = frozenset({"jo", "no", "n", "2", "nope"})
# Words that are also everyday words elsewhere ("si" is Albanian for "how": "Si jeni?"): they
# answer only alone or with thanks.
WEAK_WORDS = frozenset({"si", "y", "n", "ok", "okay"})
THANKS_WORDS = frozenset(
    {"faleminderit", "flm", "grazie", "mille", "thanks", "thank", "you", "ok", "perfetto"}
)

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The reply's words: lower case, accents and everything but letters and digits removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _WORD.findall(plain.casefold())


def parse_reply(text: str) -> Reply:
    """What ``text`` (a patient's SMS) means; see the module docstring for the rules."""
    found = words(text)
    if not found:
        return Reply.UNKNOWN
    first, rest = found[0], set(found[1:])
    if first in STOP_WORDS:
        return Reply.STOP
    if len(found) > MAX_WORDS:
        return Reply.UNKNOWN
    for answer, own, other in (
        (Reply.CONFIRM, CONFIRM_WORDS, DECLINE_WORDS),
        (Reply.DECLINE, DECLINE_WORDS, CONFIRM_WORDS),
    ):
        if first in own:
            if rest & (other | STOP_WORDS) or (first in WEAK_WORDS and rest - THANKS_WORDS):
                return Reply.UNKNOWN
            return answer
    return Reply.UNKNOWN
