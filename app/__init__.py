"""The application object (app.application) and the one configuration preflight (app.preflight).

Kept free of imports so that ``bot.py --help`` and ``elo --help`` stay quick.
"""
