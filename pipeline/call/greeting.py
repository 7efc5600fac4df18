"""Elo speaks first, once the callee is on the line; a long first utterance is noted to the model.

Greeting arms two watches: Elo's first audio (silence by a timeout fails the call: the model never
answered) and the length of the callee's first utterance (an answering machine talks for several
seconds without a pause).
"""

from __future__ import annotations

from loguru import logger
from pipecat.frames.frames import LLMRunFrame
from pipecat.services.llm_service import LLMService

from pipeline.call.assembly import CallPipeline
from pipeline.call.lifecycle import CallLifecycle
from pipeline.observers.base import FrameObserver
from pipeline.observers.watchdogs import FirstAudioWatch, LongGreetingWatch
from validation.languages import Language

# What the model is told when the callee is on the line, so that Elo speaks first.
_GREET: dict[Language, str] = {
    "sq": "Pacienti sapo u përgjigj në telefon. Përshëndete tani, siç thonë udhëzimet.",
    "en": "The patient has just answered the phone. Greet them now, as instructed.",
    "it": (
        "Il paziente ha appena risposto al telefono. Salutalo ora, come indicato nelle istruzioni."
    ),
}
# The same for a call the caller placed: Elo answers the clinic's phone.
_ANSWER: dict[Language, str] = {
    "sq": "Telefonuesi është në linjë. Përgjigju tani, siç thonë udhëzimet.",
    "en": "The caller is on the line. Answer the phone now, as instructed.",
    "it": "Chi chiama è in linea. Rispondi ora al telefono, come indicato nelle istruzioni.",
}
# Added to the model's context when the callee's first utterance is long (an answering machine?).
_LONG_GREETING: dict[Language, str] = {
    "sq": (
        "Shënim: fjalia e parë e të telefonuarit zgjati {seconds:.0f} sekonda pa pushim: mund të"
        " jetë sekretari telefonike. Nëse është, thirr voicemail_detected."
    ),
    "en": (
        "Note: the callee's first utterance lasted {seconds:.0f} s without a pause: this may be an"
        " answering machine; if so call voicemail_detected."
    ),
    "it": (
        "Nota: la prima frase della persona chiamata è durata {seconds:.0f} secondi senza pause:"
        " potrebbe essere una segreteria telefonica. Se lo è, usa voicemail_detected."
    ),
}


def greeting_cue(language: Language, *, inbound: bool) -> str:
    """What the model is told once the other side is on the line, in the call's language.

    Args:
        language: The prompt language.
        inbound: The caller placed the call (Elo answers) rather than Elo (Elo greets).
    """
    return (_ANSWER if inbound else _GREET)[language]


def long_greeting_note(language: Language, seconds: float) -> str:
    """The note to the model on a long first utterance (an answering machine?)."""
    return _LONG_GREETING[language].format(seconds=seconds)


class Greeting:
    """The call's greeting and its two watches.

    Args:
        life: The call's lifecycle.
        llm: The call's model (long-utterance notes go straight to it).
        language: The prompt language (``validation.languages``: sq, en or it).
        inbound: The caller placed the call: Elo answers rather than greets a callee.
        first_audio_timeout: Seconds Elo has to be heard after the greeting starts.
        long_utterance_secs: Shortest first utterance that is noted to the model; 0: never.
    """

    def __init__(
        self,
        life: CallLifecycle,
        *,
        llm: LLMService,
        language: Language,
        inbound: bool = False,
        first_audio_timeout: float,
        long_utterance_secs: float,
    ) -> None:
        self._life = life
        self._llm = llm
        self._language = language
        self._cue = greeting_cue(language, inbound=inbound)
        self._first_audio_timeout = first_audio_timeout
        self._call: CallPipeline | None = None
        self.first_audio = FirstAudioWatch()
        self.long_utterance = LongGreetingWatch(long_utterance_secs, self._long_utterance)

    @property
    def observers(self) -> tuple[FrameObserver, FrameObserver]:
        """The two watches, for the call's pipeline."""
        return (self.first_audio, self.long_utterance)

    def attach(self, call: CallPipeline) -> None:
        """The call's pipeline, once built: the greeting goes into its context."""
        self._call = call

    async def greet(self) -> None:
        """Tell the model to greet, once per call (later calls do nothing)."""
        state = self._life.state
        if state.greeted or self._call is None:
            return
        state.greeted = True
        self.long_utterance.arm()
        self._call.context.add_message({"role": "user", "content": self._cue})
        await self._call.worker.queue_frame(LLMRunFrame())
        self._life.spawn(
            self._life.watch_first_audio(self.first_audio.heard, self._first_audio_timeout)
        )

    def _long_utterance(self, seconds: float) -> None:
        logger.info("long first utterance ({:.1f} s): maybe an answering machine", seconds)
        note = long_greeting_note(self._language, seconds)
        # Straight into the model session as realtime text (ResilientGeminiLive.send_note):
        # the context is not re-read after the first turn, and the clientContent an
        # LLMMessagesAppendFrame sends is refused mid-call by the 3.x family (close 1007).
        self._life.spawn(self._llm.send_note(note))  # type: ignore[attr-defined]
