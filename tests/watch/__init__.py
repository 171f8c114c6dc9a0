"""Tests of chanload.watch."""
