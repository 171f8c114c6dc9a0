"""Tests of chanload.run."""
