"""Clinic time: opening hours, closures, parsing of requested times, and free-slot search."""
