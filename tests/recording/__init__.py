"""Tests of chanload.recording."""
