"""Fixtures of the deploy-like tests: one emulated stack for the session (emulated.py).

Run by scripts/deploy-test.sh, which builds the function binaries first.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from emulated import EmulatedStack  # noqa: E402


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    emulated = EmulatedStack(tmp_path_factory.mktemp("deploy"))
    try:
        yield emulated
    finally:
        emulated.close()
