"""Sockets and frames: the websocket client, its frame codec, timers and the listening reader. No Locust, no run."""
