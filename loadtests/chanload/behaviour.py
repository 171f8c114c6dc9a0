"""Kept for code written before the pytest layer: `BehaviourSession` and the crowd, now in `chanload.pytest`."""

from __future__ import annotations

from chanload.pytest.crowd import Crowd, Member, MemberResult, SessionFactory
from chanload.pytest.session import BehaviourSession, LockedRecording, ThreadReader

__all__ = ["BehaviourSession", "Crowd", "LockedRecording", "Member", "MemberResult", "SessionFactory", "ThreadReader"]
