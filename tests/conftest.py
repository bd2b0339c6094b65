import os
from pathlib import Path

import pytest

# Qt never needs a screen in tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT.parent / "shared" / "data" / "names.txt"


@pytest.fixture(scope="session")
def names_path():
    """The real 32,033-name dataset (CI has it beside the clone); tests skip only where it is absent."""
    if not NAMES.is_file():
        pytest.skip(f"reference dataset not found at {NAMES}")
    return NAMES
