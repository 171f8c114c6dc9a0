"""chanload.lazy: a package's public names, imported from their modules on first use (that importing `chanload` or
`chanload.pytest` alone imports none of them: tests/test_layers.py)."""

from __future__ import annotations

import pytest

from chanload import lazy


def test_a_name_is_imported_on_first_use_then_found_directly():
    namespace: dict = {"__name__": "pkg"}
    getattr_, dir_ = lazy.exports("pkg", {"dedent": "textwrap", "nope": "json"}, namespace)
    assert "dedent" not in namespace
    import textwrap

    assert getattr_("dedent") is textwrap.dedent and namespace["dedent"] is textwrap.dedent
    assert dir_() == ["__name__", "dedent", "nope"]
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'other'"):
        getattr_("other")
    with pytest.raises(AttributeError):  # a name its module lacks is an error too, not None
        getattr_("nope")
