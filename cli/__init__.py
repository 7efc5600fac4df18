"""Command-line interface: the `elo` admin command."""
