import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("golden_verify.jsonl")


def load_golden() -> list[dict]:
    return [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="session")
def golden() -> list[dict]:
    return load_golden()
