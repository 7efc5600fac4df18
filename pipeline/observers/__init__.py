"""Per-call observers: the transcript logger and the analytics counter.

Both are Pipecat observers (``PipelineWorker(observers=[...])``), not processors in the frame
path. The patient's transcript leaves Gemini Live *upstream* and Elo's text *downstream*, so no
single position in a linear pipeline sees both; an observer sees every frame wherever it is
pushed, runs on its own task, and so adds nothing to the audio path. Neither imports storage:
they are handed callbacks.
"""

from pipeline.observers.analytics import CallAnalytics
from pipeline.observers.transcript import TranscriptLogger

__all__ = ["CallAnalytics", "TranscriptLogger"]
