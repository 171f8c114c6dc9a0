"""Tests of chanload.locust."""
