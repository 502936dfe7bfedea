"""Issue 18 (hostile input, round 3), data and training side: one bad source row is one
rejected row with a named reason; training readers refuse bad rows in one line naming them."""

from __future__ import annotations

from tests.hardening.test_redteam_data import _build, _card, _jsonl, _png, _rows


def test_choices_that_are_no_option_list_are_rejected_rows(tmp_path, capsys):
    # item 3: 27 choices was IndexError in prompts.py (LETTERS[26]); a literal `5` TypeError;
    # "-" * 100000 + "1" MemoryError in ast.literal_eval.
    img = _png(tmp_path / "a.png")
    rows = [
        {"question": "q?", "answer": "A", "image": img, "choices": "['x', 'y']"},
        {
            "question": "q27?",
            "answer": "A",
            "image": img,
            "choices": str([str(i) for i in range(27)]),
        },
        {"question": "q5?", "answer": "A", "image": img, "choices": "5"},
        {"question": "qm?", "answer": "A", "image": img, "choices": "-" * 100_000 + "1"},
        {"question": "qn?", "answer": "A", "image": img, "choices": "[[1], {'a': 2}]"},
        {"question": "q2?", "answer": "B", "image": img, "choices": "['u', 'v']"},
    ]
    _jsonl(tmp_path / "rows.jsonl", rows)
    fields = {"choices": "choices", "choices_format": "python_list_string"}
    card = _card(tmp_path, {"kind": "local", "path": "rows.jsonl", "fields": fields})
    # a prompt-building stage reads the choices: question_block letters them
    assert _build(card, tmp_path / "out") == 0, capsys.readouterr().err
    v = tmp_path / "out" / "rt" / "v1"
    assert [r["question"] for r in _rows(v, "sft")] == ["q?", "q2?"]
    rejected = _rows(v, "rejected")
    assert [r["reject_reason"] for r in rejected] == ["bad_choices"] * 4
    details = [r["reject_detail"] for r in rejected]
    assert "27 choices" in details[0]
    assert "int, not a list" in details[1]
    assert "characters" in details[2]
    assert "not text" in details[3]
