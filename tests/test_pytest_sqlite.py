"""chanload.pytest.sqlite in-process: which test databases are in memory, and the files they are given."""

from __future__ import annotations

from pathlib import Path

from chanload.pytest.sqlite import give_files, in_memory


def test_sqlite_with_no_test_name_is_in_memory_and_others_are_not():
    """Django's own rule: no TEST NAME, ':memory:' or a mode=memory URI; a file or another engine is not."""
    sqlite = "django.db.backends.sqlite3"
    assert in_memory({"ENGINE": sqlite, "NAME": "db.sqlite3"})  # startproject's settings
    assert in_memory({"ENGINE": sqlite, "NAME": "x", "TEST": {"NAME": ":memory:"}})
    assert in_memory({"ENGINE": sqlite, "NAME": "x", "TEST": {"NAME": "file:t?mode=memory&cache=shared"}})
    assert not in_memory({"ENGINE": sqlite, "NAME": "x", "TEST": {"NAME": "/tmp/test.sqlite3"}})
    assert not in_memory({"ENGINE": "django.db.backends.postgresql", "NAME": "app"})


def test_each_in_memory_test_database_gets_a_file_in_the_folder(tmp_path: Path):
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"},
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": "o", "TEST": {"NAME": "/keep/this.sqlite3"}},
        "pg": {"ENGINE": "django.db.backends.postgresql", "NAME": "app"},
    }
    given = give_files(databases, tmp_path)
    assert given == {"default": str(tmp_path / "test_default.sqlite3")}
    assert databases["default"]["TEST"]["NAME"] == given["default"]  # changed in place, as pytest-django reads it
    assert databases["other"]["TEST"]["NAME"] == "/keep/this.sqlite3" and "TEST" not in databases["pg"]
