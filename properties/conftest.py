"""The property suite's pytest setup: bea-check's Hypothesis profiles, every bea_check module loaded.

Installed with the package as ``bea_check/properties/conftest.py``, so it also applies to
``python -m pytest --pyargs bea_check.properties`` in another project, where the ini option
``bea_hypothesis_profiles`` is not set.  pytest calls ``pytest_configure`` of a conftest read
during collection as soon as it is registered (a historic hook), and the conftest of a
directory is read before its test modules are imported: so the profile is in force when
they call ``thorough()`` at import time.  See ``docs/running.md``.
"""

from __future__ import annotations

import pytest

from bea_check.testing.pytest_plugin import preload, use_profiles


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Load every bea_check module (the same draws on every worker), then the default profile."""
    preload()
    use_profiles(config)
