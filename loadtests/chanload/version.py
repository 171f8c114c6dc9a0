"""chanload's version: the installed distribution's (pyproject.toml's `version`), read from its metadata once.

A bottom module, so that the reports (`chanload.reporting.summary`, `fingerprint`) take it from below rather than
from the package's public face; `chanload.__version__` is this one too.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("chanload")
except metadata.PackageNotFoundError:  # a source tree on sys.path that was never installed (`pip install -e .`)
    __version__ = "0+unknown"
