"""Tests of chanload.reporting."""
