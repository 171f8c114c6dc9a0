"""Tests of chanload.wire."""
