"""The long-running service (``elo serve``): health and readiness over HTTP."""
