"""Tests of chanload.conversation."""
