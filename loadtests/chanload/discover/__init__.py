"""Finding what to load in an app: `python -m chanload routes` reads a Channels app's websocket routes.

Django and Channels are the app's, not chanload's: they are imported only when a command runs.
"""
