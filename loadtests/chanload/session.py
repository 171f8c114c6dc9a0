"""Kept so that code written before the layers still runs: `from chanload.session import Session`.

The conversation lives in `chanload.conversation.session`; import it from `chanload`.
"""

from __future__ import annotations

from chanload.conversation.session import CONNECT, DELIVERY, MESSAGE, RECEIVE, SEND, Session

__all__ = ["CONNECT", "DELIVERY", "MESSAGE", "RECEIVE", "SEND", "Session"]
