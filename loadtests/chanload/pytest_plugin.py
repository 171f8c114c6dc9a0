"""Kept for code written before the pytest layer: the pytest plugin, now `chanload.pytest.plugin`.

`pytest_plugins = ["chanload.pytest_plugin"]` and `-p chanload.pytest_plugin` keep working:
this name is that module itself (one module object under both names), so pytest registers it once.
"""

from __future__ import annotations

import sys

from chanload.pytest import plugin

sys.modules[__name__] = plugin
