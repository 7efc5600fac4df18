"""Outbound calling campaigns: who to call, when it is lawful, and what happened."""
