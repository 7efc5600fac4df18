"""The voice pipeline (LiveKit, Silero VAD, Gemini Live) and its processors."""
