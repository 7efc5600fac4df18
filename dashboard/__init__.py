"""The clinic's dashboard: server-rendered pages of ``elo serve`` for reception and the owner.

Start at :mod:`dashboard.app` (:func:`~dashboard.app.create_dashboard`); how to add a page is in
docs/dashboard.md. The dashboard never imports ``service``: the service hands it what it needs.
"""
