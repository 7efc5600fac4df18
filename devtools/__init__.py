"""Development tools: local stand-ins for remote services (the Gemini Live emulator)."""
