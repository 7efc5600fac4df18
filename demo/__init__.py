"""`make demo`: a rehearsal call, offline, against a scripted local stand-in for Gemini Live."""
