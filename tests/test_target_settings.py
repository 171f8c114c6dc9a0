"""chatroom.settings reads the environment; each case imports it fresh in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.servers import TARGET_DIR, UNIT

pytestmark = pytest.mark.e2e

ENV_NAMES = (
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_DB_PATH",
    "REDIS_URL",
    "CHANNEL_CAPACITY",
)

PRINT_SETTINGS = """
import json
from chatroom import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "DB": str(s.DATABASES["default"]["NAME"]),
    "LAYER": s.CHANNEL_LAYERS["default"],
    "INSTALLED_APPS": s.INSTALLED_APPS,
    "ASGI_APPLICATION": s.ASGI_APPLICATION,
    "WSGI_APPLICATION": s.WSGI_APPLICATION,
}))
"""


def import_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import chatroom.settings in a fresh interpreter with only `env` set among the variables it reads."""
    full_env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=TARGET_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
    )


def load_settings(**env: str) -> dict[str, Any]:
    """The settings values seen with `env`."""
    out = import_settings(env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def settings_error(**env: str) -> str:
    """The stderr of importing settings with `env`, which must fail."""
    out = import_settings(env)
    assert out.returncode != 0
    return out.stderr


def test_defaults_are_safe_for_local_runs() -> None:
    """Unset environment: debug off, loopback hosts, in-memory layer of capacity 100, local SQLite."""
    s = load_settings()
    assert s["DEBUG"] is False
    assert s["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    assert s["LAYER"] == {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 100}}
    assert s["DB"] == str(TARGET_DIR / "db.sqlite3")
    assert "insecure" in s["SECRET_KEY"]


def test_seed_contract_settings() -> None:
    """daphne comes before staticfiles, channels and chat are installed, both entry points are named."""
    s = load_settings()
    apps = s["INSTALLED_APPS"]
    assert apps.index("daphne") < apps.index("django.contrib.staticfiles")
    assert "channels" in apps and "chat" in apps
    assert s["ASGI_APPLICATION"] == "chatroom.asgi.application"
    assert s["WSGI_APPLICATION"] == "chatroom.wsgi.application"


def test_redis_url_selects_the_redis_layer() -> None:
    """REDIS_URL switches to channels_redis on that server, keeping CHANNEL_CAPACITY."""
    s = load_settings(REDIS_URL="redis://127.0.0.1:6399/0", CHANNEL_CAPACITY="500")
    assert s["LAYER"] == {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:6399/0", "socket_timeout": 10}], "capacity": 500},
    }


def test_debug_turns_on_only_for_1_or_true() -> None:
    """DJANGO_DEBUG is on for "1" and "true" (any case), off for anything else."""
    assert load_settings(DJANGO_DEBUG="1")["DEBUG"] is True
    assert load_settings(DJANGO_DEBUG="True")["DEBUG"] is True
    assert load_settings(DJANGO_DEBUG="0")["DEBUG"] is False
    assert load_settings(DJANGO_DEBUG="no")["DEBUG"] is False


def test_hosts_secret_and_db_come_from_the_environment() -> None:
    """DJANGO_ALLOWED_HOSTS is a comma list; the secret key and DB path are taken as given."""
    s = load_settings(
        DJANGO_ALLOWED_HOSTS=" target , 10.0.0.5,, ",
        DJANGO_SECRET_KEY="k" * 50,
        DJANGO_DB_PATH="/tmp/elsewhere.sqlite3",
        CHANNEL_CAPACITY="7",
    )
    assert s["ALLOWED_HOSTS"] == ["target", "10.0.0.5"]
    assert s["SECRET_KEY"] == "k" * 50
    assert s["DB"] == "/tmp/elsewhere.sqlite3"
    assert s["LAYER"]["CONFIG"] == {"capacity": 7}


def test_bad_capacity_stops_startup_with_a_clear_message() -> None:
    """CHANNEL_CAPACITY that is not a positive integer names the variable instead of guessing."""
    for bad in ("lots", "0", "-3"):
        err = settings_error(CHANNEL_CAPACITY=bad)
        assert f"CHANNEL_CAPACITY={bad!r} is not a positive integer" in err


SECRET_WARNING = "DJANGO_SECRET_KEY is unset: using the public development key"


def warning_lines(**env: str) -> list[str]:
    """stderr lines of a successful settings import that carry the public-key warning."""
    out = import_settings(env)
    assert out.returncode == 0, out.stderr
    return [line for line in out.stderr.splitlines() if SECRET_WARNING in line]


def test_public_key_beyond_loopback_logs_one_warning() -> None:
    """The fallback key with debug off and a host beyond loopback logs exactly one warning line; startup goes on."""
    for hosts in ("chat.example.com", "127.0.0.1,10.0.0.5", "*", "localhost,.example.com"):
        lines = warning_lines(DJANGO_ALLOWED_HOSTS=hosts)
        assert len(lines) == 1, (hosts, lines)
        assert hosts.replace(" ", "") in lines[0]


def test_public_key_is_quiet_where_it_is_harmless() -> None:
    """No warning on loopback-only hosts (the default), with debug on, or with a key of one's own."""
    assert warning_lines() == []
    assert warning_lines(DJANGO_ALLOWED_HOSTS="127.0.0.2,[::1],localhost,api.localhost") == []
    assert warning_lines(DJANGO_ALLOWED_HOSTS="chat.example.com", DJANGO_DEBUG="1") == []
    assert warning_lines(DJANGO_ALLOWED_HOSTS="chat.example.com", DJANGO_SECRET_KEY="s" * 50) == []
