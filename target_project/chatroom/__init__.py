"""The chatroom Django project: the reference Channels target the load suite runs against."""

from __future__ import annotations
