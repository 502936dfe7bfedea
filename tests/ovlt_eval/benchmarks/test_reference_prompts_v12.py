"""The v1.2 unified evaluator (evaluation/run_evaluation.py at 6997b47), pinned by its own code.

run_evaluation.py passes every benchmark's instruction through `format_instruction` (:272-276):
MathVista `query` and MathVerse `query_cot` (no options field in their configs, :95-96) get the
free-form hint, "Hint: Please answer the question requiring an answer.\\nQuestion: {query}";
MathVision gets the question and options as under v1 (:97). The oracle is the script's own
`format_instruction`, `extract_answers` and `check_correctness`, compiled from the mirrored
file (pure string functions; mathruler is the real package).
"""

from __future__ import annotations

import ast
import json
import logging
import subprocess
from enum import Enum
from pathlib import Path
from typing import Optional  # noqa: UP035 - the reference function's annotations

import pytest

from ovlt_eval.benchmarks import get_benchmark
from ovlt_eval.grading.policy import get_policy
from ovlt_eval.profiles import get_profile, reference_split_note
from tests.ovlt_eval.benchmarks.test_reference_prompts import MATHVERSE, MATHVISION, MATHVISTA

REFERENCE_REPO = Path("/work/.mirror/yihedeng9+OpenVLThinker/repo")
WRAP = "Hint: Please answer the question requiring an answer.\nQuestion: "


@pytest.fixture(scope="module")
def reference():
    """run_evaluation.py's ModelType, format_instruction, extract_answers, check_correctness."""
    try:
        src = subprocess.run(
            ["git", "-C", str(REFERENCE_REPO), "show", "HEAD:evaluation/run_evaluation.py"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("the OpenVLThinker reference mirror is not on this machine")
    from mathruler.grader import extract_boxed_content, grade_answer

    wanted = {"ModelType", "format_instruction", "extract_answers", "check_correctness"}
    nodes = [
        n
        for n in ast.parse(src).body
        if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name in wanted
    ]
    namespace = {
        "Optional": Optional,
        "List": list,
        "Enum": Enum,
        "logger": logging.getLogger("run_evaluation"),
        "extract_boxed_content": extract_boxed_content,
        "grade_answer": grade_answer,
    }
    exec(compile(ast.Module(nodes, type_ignores=[]), "run_evaluation.py", "exec"), namespace)  # noqa: S102 - the pinned reference code is the oracle
    return namespace


def _text(profile: str, bench: str, item) -> str:
    messages = get_profile(profile).messages_for(item, get_benchmark(bench))
    return messages[-1]["content"][-1]["text"]


@pytest.fixture(scope="module")
def items(shared):
    vista = get_benchmark("mathvista").load("testmini", shared / "benchmarks/mathvista")
    verse = get_benchmark("mathverse").load(
        "testmini", shared / "benchmarks/mathverse/testmini_sample.json"
    )
    verse += get_benchmark("mathverse").load("testmini_text_only", shared / "benchmarks/mathverse")
    vision = get_benchmark("mathvision").load(
        "testmini", shared / "benchmarks/mathvision/testmini.jsonl"
    )
    return {
        "mathvista": {it.id: it for it in vista},
        "mathverse": {it.id: it for it in verse},
        "mathvision": {it.id: it for it in vision},
    }


PINNED = [("mathvista", i) for i in sorted(MATHVISTA)]
PINNED += [("mathverse", i) for i in sorted(MATHVERSE)]
PINNED += [("mathvision", i) for i in sorted(MATHVISION)]


@pytest.mark.parametrize(("bench", "item_id"), PINNED)
def test_v12_prompts_are_run_evaluations(items, reference, bench, item_id):
    """Three items of each benchmark, by the script's own function and as literal text."""
    item = items[bench][item_id]
    text = _text("openvlthinker-v1.2", bench, item)
    if bench == "mathvision":  # :97 — question and options, as v1
        row = item.raw
        assert text == reference["format_instruction"](row["question"], row.get("options", []))
        assert text == MATHVISION[item_id]
    else:  # :95-96 — the ready-made prompt, wrapped
        assert text == reference["format_instruction"](item.question, [])
        pinned = MATHVISTA if bench == "mathvista" else MATHVERSE
        assert text == WRAP + pinned[item_id]
    # qwen-v1.2: the same text plus the \boxed{} sentence (run_evaluation.py:87, :141)
    assert _text("qwen-v1.2", bench, item) == (
        text + "\n\nYour final answer MUST BE put in \\boxed{}"
    )


def test_every_item_of_the_three_matches_the_reference_function(items, reference):
    fn = reference["format_instruction"]
    for bench, by_id in items.items():
        for item in by_id.values():
            if bench == "mathvision":
                expected = fn(item.raw["question"], item.raw.get("options", []))
            else:
                expected = fn(item.question, [])
            assert _text("openvlthinker-v1.2", bench, item) == expected, (bench, item.id)
            # v1 sends the ready-made prompt as is (eval_openvlthinker.py:374-375)
            v1 = _text("openvlthinker", bench, item)
            assert v1 == (item.question if bench != "mathvision" else expected)


REPLIES = [
    "so the answer is \\boxed{12}",
    "The area is 12.\nAnswer: 12",
    "Final Answer: C",
    "\\boxed{7} ... correct answer: 12",
    "I think it is 12",
    "ANSWER: twelve",
    "\\boxed{\\frac{1}{2}}",
    "answer: none",
    "",
]
GOLDS = ["12", "C", "\\frac{1}{2}", "None", "0.5"]


@pytest.mark.parametrize("reply", REPLIES)
def test_qwen_v12_policy_is_run_evaluations_extraction(reference, reply):
    model = reference["ModelType"].QWEN
    policy = get_policy(get_profile("qwen-v1.2").reference_policy)
    for gold in GOLDS:
        want = reference["check_correctness"](gold, reference["extract_answers"](reply, model))
        assert policy.grade(reply, gold).correct is want, (reply, gold)


@pytest.mark.parametrize("reply", ["<think>x</think><answer>12</answer>", "<answer>12", "12"])
def test_openvlthinker_v12_extraction_is_the_v1_rule(reference, reply):
    model = reference["ModelType"].OPENVLTHINKER
    policy = get_policy(get_profile("openvlthinker-v1.2").reference_policy)
    for gold in ("12", "13"):
        want = reference["check_correctness"](gold, reference["extract_answers"](reply, model))
        assert policy.grade(reply, gold).correct is want


def test_the_qwen_v12_rule_differs_from_eval_qwen():
    """eval_qwen.py splits the lower-cased reply on "Answer:" (never found), run_evaluation.py
    on "answer:": a reply that ends "Answer: 12" without a box is right only under v1.2."""
    reply = "The area is 12.\nAnswer: 12"
    assert get_policy("reference_qwen_v1.2").grade(reply, "12").correct
    assert not get_policy("reference_qwen").grade(reply, "12").correct


@pytest.mark.parametrize(
    ("profile", "split", "noted"),
    [
        ("openvlthinker", "testmini", True),  # eval_openvlthinker.py:170: test
        ("openvlthinker", "test", False),
        ("openvlthinker-v1.2", "testmini", True),  # run_evaluation.py:97: test
        ("qwen", "testmini", False),  # eval_qwen.py:172: testmini
        ("qwen", "test", True),
        ("plain", "testmini", False),
    ],
)
def test_reference_split_note(profile, split, noted):
    bench = get_benchmark("mathvision")
    note = reference_split_note(bench, split, profile, "reference")
    assert (note is not None) is noted
    assert reference_split_note(bench, split, profile, "official") is None


def test_eval_warns_when_a_reference_run_uses_another_split(shared, tmp_path, capsys):
    from ovlt_eval.cli import main
    from ovlt_eval.testing.openai_server import OpenAIServer

    out = tmp_path / "run"
    with OpenAIServer(replies=lambda prompt: "<answer>A</answer>") as server:
        argv = [
            "run", "--bench", "mathvision", "--split", "testmini", "--limit", "2",
            "--data", str(shared / "benchmarks/mathvision/testmini.jsonl"), "--out", str(out),
            "--engine", "openai", "--base-url", server.base_url, "--model", server.model,
            "--no-progress", "--protocol", "reference", "--concurrency", "1",
        ]  # fmt: skip
        assert main(argv) == 0
    err = capsys.readouterr().err
    assert "evaluation/eval_openvlthinker.py evaluates mathvision on 'test'" in err
    card = json.loads((out / "eval_card.json").read_text())
    assert card["benchmark"]["split"] == "testmini"
