"""Kept for code written before the pytest layer: `chanload_load`, now `chanload.pytest.load`.

`-p chanload.pytest_load` keeps working:
this name is that module itself (one module object under both names), so pytest registers it once.
"""

from __future__ import annotations

import sys

from chanload.pytest import load

sys.modules[__name__] = load
