"""A package's public names, each imported from its module on first use (PEP 562).

`chanload` and `chanload.pytest` keep their names in one mapping, name -> module; importing the package
then imports none of those modules (no Locust, no pytest), and the first use of a name imports its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str], namespace: dict[str, Any]) -> tuple[Callable, Callable]:
    """The package's module-level `__getattr__` and `__dir__` for `names`; `namespace` is its `globals()`."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
