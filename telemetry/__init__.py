"""Telemetry: Elo's Prometheus metrics, defined in one place and recorded where things happen.

``telemetry.record`` has one never-failing function per event (a call ended, a tool ran, a
dial attempt was recorded...), called by the pipeline and the campaign runner in whichever
process runs the call; ``telemetry.export`` turns every process's metrics into the text
``GET /metrics`` serves; ``telemetry.metrics`` defines every metric and
``telemetry.vocabulary`` the only values their labels may take (never personal data). It sits
at the configuration layer, so every layer above can record.
"""

from telemetry import record
from telemetry.vocabulary import ErrorKind, Reconnect, ToolResultKind

__all__ = ["ErrorKind", "Reconnect", "ToolResultKind", "record"]
