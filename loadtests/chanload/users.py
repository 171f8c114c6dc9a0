"""Kept so that locustfiles written before the layers still run: `from chanload.users import WsUser`.

The users live in `chanload.locust.users`; import them from `chanload` (`from chanload import WsUser`).
"""

from __future__ import annotations

from chanload.locust.users import BroadcastUser, ChannelsUser, EchoUser, WsUser

__all__ = ["BroadcastUser", "ChannelsUser", "EchoUser", "WsUser"]
