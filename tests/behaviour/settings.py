"""The foreign app's settings with a test database in a file, as a project that tests with the plugin has them.

The server is another process: it cannot share an in-memory SQLite test database, so the test database gets a
file (next to DJANGO_DB_PATH's, else in the temporary folder). pytest-django makes, serves and removes it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from foreign.settings import *  # noqa: F403
from foreign.settings import DATABASES

_REAL = os.environ.get("DJANGO_DB_PATH")
_FOLDER = Path(_REAL).parent if _REAL else Path(tempfile.gettempdir())
DATABASES["default"]["TEST"] = {"NAME": str(_FOLDER / "chanload_behaviour_test_db.sqlite3")}
