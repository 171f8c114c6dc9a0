"""Settings for the chatroom target, read from the environment with safe local defaults.

Environment:
    DJANGO_SECRET_KEY     secret key; the default is a public, insecure development key (one warning
                          line at startup if it is used with debug off and a non-loopback host allowed).
    DJANGO_DEBUG          "1" or "true" turns debug on; anything else (or unset) leaves it off.
    DJANGO_ALLOWED_HOSTS  comma-separated hosts; default loopback only: 127.0.0.1,localhost,[::1].
    DJANGO_DB_PATH        SQLite file; default target_project/db.sqlite3.
    REDIS_URL             if set, a channels_redis layer on that server (needed across processes);
                          else the in-process InMemoryChannelLayer.
    CHANNEL_CAPACITY      messages a channel holds before the layer drops them; default 100.
    CHAT_REPLY_DELAY_US   microseconds room/ and aroom/ busy-wait before each OK; default 0. A server
                          made slower by a known amount, for regression gates (`compare`, `--baseline`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_list(name: str, default: str) -> list[str]:
    """A comma-separated environment variable as a list, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_positive_int(name: str, default: int, minimum: int = 1) -> int:
    """An integer environment variable >= minimum; a bad value stops startup with a clear message."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ImproperlyConfigured(f"{name}={raw!r} is not {what}; unset it for {default}.")
    return value


def _is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1, with or without brackets)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a name, a wildcard ("*", ".example.com"): reachable from elsewhere


# Security
DEV_SECRET_KEY = "django-insecure-chatroom-dev-key-do-not-deploy"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
DEBUG = os.environ.get("DJANGO_DEBUG", "").strip().lower() in {"1", "true"}
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
if SECRET_KEY == DEV_SECRET_KEY and not DEBUG and not all(_is_loopback(host) for host in ALLOWED_HOSTS):
    # The demo keeps working, but a deployment reachable from elsewhere signs sessions and CSRF
    # tokens with a key anyone can read in this file. Settings load once per process: one line.
    logging.getLogger("chatroom.settings").warning(
        "DJANGO_SECRET_KEY is unset: using the public development key while DJANGO_ALLOWED_HOSTS (%s) "
        "admits hosts beyond loopback; set DJANGO_SECRET_KEY to a secret value",
        ",".join(ALLOWED_HOSTS),
    )

# Applications: daphne before staticfiles so `manage.py runserver` is Daphne's (ASGI).
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatroom.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "chatroom.wsgi.application"
ASGI_APPLICATION = "chatroom.asgi.application"

# Database
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": Path(os.environ.get("DJANGO_DB_PATH") or BASE_DIR / "db.sqlite3"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: groups only reach other processes through Redis. Both backends silently drop
# messages to a channel holding `capacity` undelivered ones (channels_redis docs, "capacity").
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
CHANNEL_CAPACITY = _env_positive_int("CHANNEL_CAPACITY", 100)
CHAT_REPLY_DELAY_US = _env_positive_int("CHAT_REPLY_DELAY_US", 0, minimum=0)
REDIS_SOCKET_TIMEOUT = 10  # seconds; more than channels_redis's 5 s blocking read (see below)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A consumer waits for layer messages in BZPOPMIN calls of 5 s (channels_redis 4.3
            # brpop_timeout). redis-py 8 reads with a 5 s socket_timeout by default, so an idle
            # consumer's read timed out first and Daphne closed its socket with 1011
            # (redis/redis-py#4091). The socket timeout must be longer than the blocking read.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": REDIS_SOCKET_TIMEOUT}],
                "capacity": CHANNEL_CAPACITY,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY},
        }
    }

# Logging: one line per record on stderr. `chat` does not propagate, so Daphne's root handler
# (logging.basicConfig in daphne/cli.py) does not print each record a second time.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "line"},
    },
    "loggers": {
        "chat": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
