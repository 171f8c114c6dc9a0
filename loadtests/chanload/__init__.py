"""chanload: load and behaviour testing of Django Channels websocket endpoints, on Locust."""

from __future__ import annotations

__version__ = "0.1.0"
