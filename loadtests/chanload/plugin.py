"""Kept so that locustfiles written before the layers still run: `from chanload import plugin`.

The wiring lives in `chanload.locust.plugin`; `from chanload import WsUser` brings it with no import of
this module.
"""

from __future__ import annotations

from chanload.locust.plugin import attach, finish, snapshot

__all__ = ["attach", "finish", "snapshot"]
