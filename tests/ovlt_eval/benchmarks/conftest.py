from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "benchmarks").is_dir():
        pytest.skip("../shared (real benchmark files) is not beside the checkout")
    return SHARED
