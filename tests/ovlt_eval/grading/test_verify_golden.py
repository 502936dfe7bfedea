"""The golden table: hand-written (gold, pred, kind, ...) -> expected verdicts."""

import pytest

from ovlt_eval.grading import verify

from .conftest import load_golden

ROWS = load_golden()


def _id(row: dict) -> str:
    return f"{row['kind']}|{row['gold']!r}|{row['pred']!r}"[:90]


def test_table_is_large_and_balanced():
    assert len(ROWS) >= 300
    false_rows = sum(not r["expected"] for r in ROWS)
    assert false_rows >= 0.4 * len(ROWS)
    kinds = {r["kind"] for r in ROWS}
    assert kinds == {"multi_choice", "integer", "float", "text", "list", "auto"}


@pytest.mark.parametrize("row", ROWS, ids=[_id(r) for r in ROWS])
def test_golden(row):
    v = verify(
        row["gold"],
        row["pred"],
        row["kind"],
        choices=row.get("choices"),
        precision=row.get("precision"),
        unit=row.get("unit"),
    )
    assert v.correct is row["expected"], v
    assert v.status == row.get("status", v.status), v
    if row["expected"]:
        assert v.status == "ok"
