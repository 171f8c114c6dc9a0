"""Locust in the pytest process (gevent): a pytest process of its own, see conftest.py."""
