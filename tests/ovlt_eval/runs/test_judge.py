"""The LLM judge against a real loopback OpenAI-compatible judge server that answers by rule."""

from __future__ import annotations

import json
import re

import pytest

from ovlt_eval.cli import main
from ovlt_eval.runs.judge_prompts import clean_extraction, parse_judgement
from ovlt_eval.testing.openai_server import OpenAIServer
from tests.ovlt_eval.runs.scripted import (
    MATHVERSE_TEXT_ONLY,
    MATHVISION_TESTMINI,
    MATHVISTA_TESTMINI,
    Script,
    decode_id,
)

pytestmark = pytest.mark.skipif(
    not MATHVISION_TESTMINI.exists(), reason="../shared benchmarks missing"
)


class RuleJudge:
    """Extraction: the <answer> text, or the gold of an `undecided-ref-<id>` item, or null.
    Scoring: 1 when standard and model answers are equal. The first score prompt gets a reply
    that is not 0/1 (the protocol must ask again)."""

    def __init__(self, items):
        self.gold = {it.id: it.gold for it in items}
        self.kinds: list[str] = []
        self.garbled_once = False

    def __call__(self, prompt: str) -> str:
        if prompt.rstrip().endswith("Judgement:"):
            self.kinds.append("score")
            if not self.garbled_once:
                self.garbled_once = True
                return "I think they match, probably."
            std = re.findall(r"\[Standard Answer\]: (.*)", prompt)[-1].strip()
            got = re.findall(r"\[Model_answer\] : (.*)", prompt)[-1].strip()
            return "Judgement: 1" if std == got else "Judgement: 0"
        self.kinds.append("extract")
        tail = prompt.rsplit("Model response:", 1)[-1] if "Model response: '" in prompt else prompt
        if m := re.findall(r"<answer>(.*?)</answer>", tail):
            return f"Extracted Answer: {m[-1]}"
        if m := re.findall(r"undecided-ref-([a-j0-9A-Za-z_-]+)", tail):
            return self.gold[decode_id(m[-1])]
        return "null"


def _with_images(path, folder, n):
    """A copy of a MathVista JSON whose first `n` items have a small stand-in image."""
    from PIL import Image

    rows = json.loads(path.read_text())
    for row in list(rows.values())[:n]:
        (folder / row["image"]).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), "white").save(folder / row["image"])
    (folder / path.name).write_text(json.dumps(rows))
    return folder / path.name


def _load(name, path):
    from ovlt_eval.benchmarks import get_benchmark

    bench = get_benchmark(name)
    return bench.load(bench.split_named_by(path) or "testmini", str(path))


@pytest.mark.parametrize(
    "bench, path, protocol",
    [
        ("mathvision", MATHVISION_TESTMINI, "extract_then_rules"),
        ("mathverse", MATHVERSE_TEXT_ONLY, "mathverse_two_step"),
        ("mathvista", MATHVISTA_TESTMINI, "mathvista_extract"),
    ],
)
def test_judge_rechecks_only_rule_negatives_and_records_its_verdict(
    bench, path, protocol, tmp_path, tmp_path_factory, capsys
):
    if bench == "mathvista":  # ../shared has its JSON, not its images: a missing one is an error
        path = _with_images(path, tmp_path_factory.mktemp("mathvista"), 9)
    items = _load(bench, path)[:9]
    judge = RuleJudge(items)
    with (
        OpenAIServer(replies=Script(items)) as gen,
        OpenAIServer(replies=judge, model="judge-1") as jserver,
    ):
        argv = [
            "run", "--bench", bench, "--data", str(path), "--limit", "9", "--out", str(tmp_path),
            "--engine", "openai", "--base-url", gen.base_url, "--model", gen.model, "--no-progress",
            "--judge-base-url", jserver.base_url, "--judge-model", "judge-1",
        ]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        calls = len(jserver.prompts)
        assert main(argv) == 0  # resumed: nothing to generate, nothing to judge again
        assert len(jserver.prompts) == calls

    recs = {
        json.loads(x)["id"]: json.loads(x)
        for x in (tmp_path / "samples.jsonl").read_text().splitlines()
    }
    rule_negative = [r for r in recs.values() if not r["correct"]]
    assert judge.kinds.count("extract") == len(rule_negative)  # rules-correct items never judged
    for i, it in enumerate(items):
        rec = recs[it.id]
        if rec["correct"]:
            assert "judge" not in rec and rec["verdict_source"] == "rules" and rec["final_correct"]
            continue
        assert rec["judge"]["status"] == "ok" and rec["judge"]["protocol"] == protocol
        assert rec["verdict_source"] == "judge"
        if i % 3 == 2:  # the rules found nothing; the judge reads the gold out of the reasoning
            assert rec["status"] == "no_answer" and rec["final_correct"] is True
        if i % 3 == 1:
            assert rec["final_correct"] is False
    if protocol == "mathverse_two_step":
        assert judge.kinds.count("score") == len(rule_negative) + 1  # one garbled reply re-asked

    summary = json.loads((tmp_path / "summary.json").read_text())
    rules, both = (
        summary["accuracy_by_verdict"]["rules"],
        summary["accuracy_by_verdict"]["rules+judge"],
    )
    expected_rules = 100 * sum(r["correct"] for r in recs.values()) / 9
    expected_both = 100 * sum(r["final_correct"] for r in recs.values()) / 9
    assert rules == pytest.approx(expected_rules, abs=0.01)
    assert both == pytest.approx(expected_both, abs=0.01)
    assert both > rules
    assert summary["accuracy"] == pytest.approx(rules)  # the headline stays the rules' number
    assert summary["judge"]["model"] == "judge-1" and summary["judge"]["judged"] == len(
        rule_negative
    )


def test_judge_reply_parsing():
    assert clean_extraction("Extracted Answer: 12 cm") == "12 cm"
    assert clean_extraction("  null ") is None
    assert clean_extraction("") is None
    assert parse_judgement("Judgement: 1") is True
    assert parse_judgement("0") is False
    assert parse_judgement("1.") is True
    assert parse_judgement("10") is None
    assert parse_judgement("maybe") is None
