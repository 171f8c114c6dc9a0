"""Settings of the foreign test app: SQLite at DJANGO_DB_PATH, in-memory channel layer, loopback hosts."""

from __future__ import annotations

import os

SECRET_KEY = "foreign-test-app-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "foreign",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "foreign.urls"
ASGI_APPLICATION = "foreign.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DJANGO_DB_PATH", ":memory:")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Test users are made in bulk: a fast hasher keeps logins cheap (never do this in production).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Server-side delay of a price quote, and the tick interval, in seconds (the tests set them).
QUOTE_DELAY = float(os.environ.get("FOREIGN_QUOTE_DELAY", "0.015"))
TICK_INTERVAL = float(os.environ.get("FOREIGN_TICK_INTERVAL", "0.002"))
