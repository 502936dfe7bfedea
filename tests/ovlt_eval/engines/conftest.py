"""Real MathVision testmini items (question + image path) for engine tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MATHVISION = Path(__file__).resolve().parents[3].parent / "shared" / "benchmarks" / "mathvision"


@pytest.fixture(scope="session")
def mathvision_items() -> list[dict]:
    if not (MATHVISION / "testmini.jsonl").is_file():
        pytest.skip(f"MathVision testmini not found at {MATHVISION}")
    items = []
    with open(MATHVISION / "testmini.jsonl") as f:
        for line in f:
            row = json.loads(line)
            row["image_path"] = str(MATHVISION / row["image"])
            items.append(row)
    return items
