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
    "rest_framework",
    "rest_framework.authtoken",  # DRF's obtain_auth_token (urls.py) and the token lobby (lobby.py)
    "foreign",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "foreign.urls"
# Templates from each app's templates/ folder: registration/login.html for Django's LoginView (urls.py).
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
LOGIN_REDIRECT_URL = "/"
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
# The GraphQL subscription's push interval (schema.py), in seconds.
PUSH_INTERVAL = float(os.environ.get("FOREIGN_PUSH_INTERVAL", "0.015"))
