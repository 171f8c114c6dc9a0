"""The chat app: websocket consumers and the health view."""

from __future__ import annotations
