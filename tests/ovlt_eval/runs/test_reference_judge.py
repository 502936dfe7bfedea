"""The OpenVLThinker paper's MathVerse judge (evaluation/verify_mathverse_gpt4.py), offered as
the `mathverse_reference_gpt4` judge protocol, against a real loopback judge server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from ovlt_eval.cli import main
from ovlt_eval.errors import UserError
from ovlt_eval.runs.judge import JudgeOptions, needs_judge, reference_prediction
from ovlt_eval.runs.judge_prompts import (
    MATHVERSE_REFERENCE_GPT4,
    mathverse_reference_prompt,
    parse_reference_judgement,
)
from ovlt_eval.testing.openai_server import OpenAIServer
from tests.ovlt_eval.runs.scripted import MATHVERSE_TEXT_ONLY, Script

REFERENCE_REPO = Path("/work/.mirror/yihedeng9+OpenVLThinker/repo")

needs_shared = pytest.mark.skipif(
    not MATHVERSE_TEXT_ONLY.exists(), reason="../shared benchmarks missing"
)


def test_prompt_is_the_scripts_byte_for_byte():
    """verify_mathverse_gpt4.py:14-29, read from the reference repository when it is here."""
    try:
        src = subprocess.run(
            ["git", "-C", str(REFERENCE_REPO), "show", "HEAD:evaluation/verify_mathverse_gpt4.py"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("the OpenVLThinker reference mirror is not on this machine")
    published = re.search(r'PROMPT = """(.*?)"""', src, re.S).group(1)
    assert MATHVERSE_REFERENCE_GPT4 == published


def test_prompt_shows_the_answer_as_the_script_does():
    # verify_mathverse_gpt4.py:42-44 wraps the string answer in a list before formatting
    text = mathverse_reference_prompt("Question: x?", "14", "\\frac{1}{2}")
    assert text.endswith(
        "Instruction: Question: x?\nGround-truth Response: 14\n"
        "Predicted Response: ['\\\\frac{1}{2}']"
    )
    # braces in the filled-in values are not re-read as placeholders
    assert "{x}" in mathverse_reference_prompt("{x}", "{y}", "z")


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("The two agree.\nJudgement: Yes", True),
        ("Judgement: No", False),
        ("Judgement: No, not Yes", True),  # "Yes" is looked for first (lines 75-79)
        ("Judgement: Nope", False),  # "No" as a substring counts (line 79)
        ("Yes", True),  # without the mark: exactly "Yes" / "No" (lines 64-71)
        ("No", False),
        (" Yes", None),
        ("yes", None),
        ("Judgement:Yes", None),  # the mark has a space
        ("Judgement: maybe", None),  # dropped (line 83)
        ("", None),
    ],
)
def test_reply_parsing_follows_the_script(reply, verdict):
    assert parse_reference_judgement(reply) is verdict


def test_prediction_is_what_the_reference_stored():
    assert reference_prediction("<think>t</think><answer> 14 </answer>", "reference") == "14"
    # eval_openvlthinker.py:396: no </answer>, no answer
    assert reference_prediction("<answer>14", "reference") == "Failed to extract."
    # eval_qwen.py: mathruler's last \boxed{} ("None" without one); an empty reply
    assert reference_prediction("so \\boxed{14}.", "reference_qwen") == "14"
    assert reference_prediction("so 14.", "reference_qwen") == "None"
    assert reference_prediction("", "reference_qwen") == "Failed to generate."


def test_options_are_checked():
    with pytest.raises(UserError, match="unknown judge protocol 'gpt5'"):
        JudgeOptions(base_urls=("http://x",), model="m", protocol="gpt5")
    opts = JudgeOptions(base_urls=("http://x",), model="m", protocol="mathverse_reference_gpt4")
    assert opts.describe()["protocol"] == "mathverse_reference_gpt4"
    # the replacing protocol judges rules-correct items too; the default ones do not
    assert needs_judge({"status": "ok", "correct": True}, opts, "mathverse")
    default = JudgeOptions(base_urls=("http://x",), model="m")
    assert not needs_judge({"status": "ok", "correct": True}, default, "mathverse")
    assert not needs_judge({"status": "error", "correct": False}, opts, "mathverse")


class ReferenceJudge:
    """Says Yes when the prediction shown is the gold, No otherwise — in the script's several
    reply shapes — overrules one rules-correct item, and garbles the reply for another."""

    def __init__(self, items, overrule: int, garble: int):
        self.index = {str(it.raw["query_cot"]): i for i, it in enumerate(items)}
        self.overrule, self.garble = overrule, garble

    def __call__(self, prompt: str) -> str:
        instruction = prompt.split("\nInstruction: ", 1)[1].split("\nGround-truth Response: ")[0]
        i = self.index[instruction]
        gold = re.findall(r"^Ground-truth Response: (.*)$", prompt, re.M)[-1]
        shown = re.findall(r"^Predicted Response: (.*)$", prompt, re.M)[-1]
        if i == self.garble:
            return "I would need to see the image."
        if shown == repr([gold]):
            if i == self.overrule:
                return "Looking closer, they differ.\nJudgement: No"
            return "Step by step, both say the same.\nJudgement: Yes"
        if shown == "['Failed to extract.']":
            return "No"
        return "They differ.\nJudgement: No."


@needs_shared
def test_reference_judge_over_a_run(tmp_path, capsys):
    from ovlt_eval.benchmarks import get_benchmark

    items = get_benchmark("mathverse").load("testmini_text_only", str(MATHVERSE_TEXT_ONLY))[:9]
    script = Script(items)
    # item 3 is rules-correct (i % 3 == 0): the judge overrules it; item 4 (wrong) is garbled
    judge = ReferenceJudge(items, overrule=3, garble=4)
    with OpenAIServer(replies=script) as gen, OpenAIServer(replies=judge, model="gpt-4") as jserver:
        argv = [
            "run", "--bench", "mathverse", "--split", "testmini_text_only",
            "--data", str(MATHVERSE_TEXT_ONLY), "--limit", "9", "--out", str(tmp_path),
            "--engine", "openai", "--base-url", gen.base_url, "--model", gen.model,
            "--no-progress", "--protocol", "reference",
            "--judge-base-url", jserver.base_url, "--judge-model", "gpt-4",
            "--judge-protocol", "mathverse_reference_gpt4",
        ]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        prompts = list(jserver.prompts)
        assert main(argv) == 0  # resumed: nothing generated, nothing judged again
        assert jserver.prompts == prompts

    recs = {
        json.loads(x)["id"]: json.loads(x)
        for x in (tmp_path / "samples.jsonl").read_text().splitlines()
    }
    # every item is judged once, rules-correct or not, with the script's prompt filled in
    assert len(prompts) == 9
    expected_prompts = set()
    for i, it in enumerate(items):
        response = script.response(i, it)
        shown = (
            response.split("<answer>")[-1].split("</answer>")[0].strip()
            if "</answer>" in response
            else "Failed to extract."
        )
        expected_prompts.add(
            MATHVERSE_REFERENCE_GPT4.format(
                instruction=it.raw["query_cot"], groundtruth=it.raw["answer"], prediction=[shown]
            )
        )
    assert set(prompts) == expected_prompts

    said = {}
    for i, it in enumerate(items):
        rec = recs[it.id]
        judged = rec["judge"]
        assert judged["protocol"] == "mathverse_reference_gpt4" and judged["status"] == "ok"
        assert rec["verdict_source"] == "judge"
        said[i] = judged["verdict"]
        assert rec["final_correct"] is (judged["verdict"] == "yes")
    assert said[3] == "no" and recs[items[3].id]["correct"] is True  # overruled
    assert said[4] == "dropped" and recs[items[4].id]["final_correct"] is False
    assert said[0] == said[6] == "yes"
    assert {said[i] for i in (2, 5, 8)} == {"no"}  # "Failed to extract." judged No

    summary = json.loads((tmp_path / "summary.json").read_text())
    counts = {v: list(said.values()).count(v) for v in set(said.values())}
    assert summary["judge"]["verdicts"] == dict(sorted(counts.items()))
    assert summary["judge"]["protocol"] == "mathverse_reference_gpt4"
    assert summary["judge"]["flipped_to_wrong"] == 1
    # the script's number: Yes over every item, a dropped one included in the denominator
    yes = counts["yes"]
    assert summary["accuracy_by_verdict"]["rules+judge"] == pytest.approx(100 * yes / 9, abs=0.01)
    card = json.loads((tmp_path / "eval_card.json").read_text())
    assert card["judge"]["protocol"] == "mathverse_reference_gpt4"


def test_judge_protocol_needs_a_judge(capsys):
    argv = [
        "run", "--bench", "mathverse", "--model", "m", "--engine", "openai",
        "--base-url", "http://127.0.0.1:9/v1", "--judge-protocol", "mathverse_reference_gpt4",
    ]  # fmt: skip
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "--judge-protocol needs a judge" in err and err.count("\n") <= 2
