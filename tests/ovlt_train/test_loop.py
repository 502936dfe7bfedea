"""The round loop: plan, manifest, resume; and two real rounds end to end with a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ovlt_train.cards import LoopCard, load_card
from ovlt_train.cli import main
from ovlt_train.loop import plan
from ovlt_train.manifest import Manifest, atomic_write_json, digest
from tests.ovlt_train.conftest import REPO

DEMO = REPO / "ovlt_cards/loop_demo.yaml"


def test_plan_follows_the_paper_order():
    card = load_card(LoopCard, REPO / "ovlt_cards/loop.yaml")
    ids = [s.id for s in plan(card)]
    assert ids[:7] == [
        "r0.eval.base",
        "r1.data",
        "r1.sft",
        "r1.eval.sft",
        "r1.grpo_medium",
        "r1.grpo_hard",
        "r1.eval.grpo",
    ]
    assert len(ids) == 1 + 3 * 6
    steps = {s.id: s for s in plan(card)}
    assert steps["r2.data"].needs == ("r1.grpo_hard",)  # round 2 data from GRPO-1
    assert steps["r2.sft"].needs == ("r2.data",)  # SFT from the base model on round-2 data
    assert steps["r2.grpo_medium"].needs == ("r2.sft", "r2.data")
    assert steps["r2.grpo_hard"].needs == ("r2.grpo_medium", "r2.data")


def test_loop_card_errors_are_one_line(tmp_path, capsys):
    assert main(["loop", "--card", str(DEMO), "--set", "rounds=0"]) == 2
    assert "field rounds:" in capsys.readouterr().err
    assert main(["loop", "--card", str(DEMO), "--set", "sft_card=nope.yaml"]) == 2
    assert "card not found: nope.yaml" in capsys.readouterr().err
    assert main(["loop", "--card", str(DEMO), "--set", "sft_overrides={lr: 1}"]) == 2
    assert "field lr: unknown field" in capsys.readouterr().err


def test_manifest_refuses_another_card_and_writes_atomically(tmp_path):
    m = Manifest.open(tmp_path, name="x", card={"a": 1}, card_digest=digest({"a": 1}))
    m.start("r1.data", {"round": 1})
    m.finish("r1.data", output=str(tmp_path), version="v", result={}, seconds=1.0)
    again = Manifest.open(tmp_path, name="x", card={"a": 1}, card_digest=digest({"a": 1}))
    assert again.is_done("r1.data") and again.step("r1.data")["attempts"] == 1
    from ovlt_eval.errors import UserError

    with pytest.raises(UserError, match="another loop card"):
        Manifest.open(tmp_path, name="x", card={"a": 2}, card_digest=digest({"a": 2}))
    atomic_write_json(tmp_path / "f.json", {"k": 1})
    assert json.loads((tmp_path / "f.json").read_text()) == {"k": 1}
    assert not list(tmp_path.glob(".*.tmp"))


def _loopback() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ovlt_eval.testing.openai_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    return proc, url


def _steps(work: Path) -> dict:
    path = work / "loop_manifest.json"
    return json.loads(path.read_text())["steps"] if path.exists() else {}


def test_two_rounds_end_to_end_killed_and_resumed(tiny_model_dir, tmp_path):
    work = tmp_path / "loop"
    server, url = _loopback()
    env = dict(os.environ, OVLT_DEMO_BASE_URL=url, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "ovlt_train.cli", "loop", "--card", str(DEMO)]
    cmd += ["--set", f"base_model={tiny_model_dir}", "--set", f"work_dir={work}"]
    try:
        # 1) run until round 1's SFT is done and the next step has started, then SIGKILL
        first = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while True:
            steps = _steps(work)
            if steps.get("r1.sft", {}).get("status") == "done" and "r1.eval.sft" in steps:
                break
            assert first.poll() is None, first.stderr.read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        before = _steps(work)
        finished_before = {k: v["finished"] for k, v in before.items() if v["status"] == "done"}
        assert {"r0.eval.base", "r1.data", "r1.sft"} <= set(finished_before)
        assert before["r1.eval.sft"]["status"] == "running"  # killed mid-step

        # 2) resume: finishes, and finished steps are not redone
        second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert second.returncode == 0, second.stderr[-3000:]
    finally:
        server.terminate()
        server.wait()
    after = _steps(work)
    ids = [
        s.id
        for s in plan(
            load_card(LoopCard, DEMO, [f"base_model={tiny_model_dir}", f"work_dir={work}"])
        )
    ]
    assert set(after) == set(ids) and all(after[i]["status"] == "done" for i in ids)
    for step_id, finished in finished_before.items():
        assert after[step_id]["finished"] == finished and after[step_id]["attempts"] == 1, step_id
    assert after["r1.eval.sft"]["attempts"] == 2
    assert all(
        after[i]["attempts"] == 1 for i in ids if i not in finished_before and i != "r1.eval.sft"
    )
    # lineage: round 2 data was generated by GRPO-1's hard stage at step 2 (generate_from in
    # the demo card), or by the stage's output if it was skipped
    r2 = after["r2.data"]["result"]
    if "skipped" in after["r1.grpo_hard"]["result"]:
        assert r2["generator"] == after["r1.grpo_hard"]["output"]
        assert r2["generate_from"].startswith("final (r1.grpo_hard skipped")
    else:
        assert r2["generate_from"] == "step2"
        assert r2["generator"] == str(Path(after["r1.grpo_hard"]["output"]) / "global_step_2")
        step_record = json.loads((Path(r2["generator"]) / "ovlt_train.json").read_text())
        assert step_record["checkpoint"] == {"rollout_step": 2, "optimizer_step": 2, "final": False}
    assert after["r2.data"]["inputs"] == {"r1.grpo_hard": after["r1.grpo_hard"]["version"]}
    # the summary table: base + SFT/GRPO for each round
    table = (work / "loop_summary.md").read_text()
    for label in ("base", "SFT-Iter1", "GRPO-Iter1", "SFT-Iter2", "GRPO-Iter2"):
        assert label in table
    assert (work / "loop_summary.png").stat().st_size > 1000
    print("\n" + table)
    print(second.stdout[-2000:])


# ------------------------------------------------------- evaluation as the reference does it


def test_bench_specs_pick_splits_and_typos_fail_before_training(capsys):
    from ovlt_eval.errors import UserError
    from ovlt_train.loop_steps import parse_bench, parse_benches

    assert parse_bench("mathvision").split == "testmini"
    full = parse_bench("mathvision:test")  # the paper reports MathVision testmini and full test
    assert (full.key, full.name, full.split) == ("mathvision:test", "mathvision", "test")
    for bad in ("mathvision:nope", "mathvision:", "mathvisoin"):
        with pytest.raises(UserError):
            parse_bench(bad)
    with pytest.raises(UserError, match="listed twice"):
        parse_benches(["mathvision", "mathvision:testmini"])
    assert main(["loop", "--card", str(DEMO), "--set", "benches=[mathvision:nope]"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no split 'nope'" in err and len(err.splitlines()) == 1


def test_base_is_evaluated_with_qwen_and_checkpoints_with_openvlthinker_under_reference(tmp_path):
    # eval_qwen.py evaluates the base model, eval_openvlthinker.py the checkpoints.
    from ovlt_eval.engines.types import SamplingParams
    from ovlt_train.loop_steps import eval_calls, eval_profile

    assert eval_profile("base") == "qwen" and eval_profile("r1.grpo_hard") == "openvlthinker"
    calls = eval_calls(
        benches=["mathvista", "mathvision", "mathvision:test"],
        out_dir=tmp_path,
        options={"limit": 3, "sampling": {"max_tokens": 5}},
        profile="qwen",
    )
    assert [(kw["out"], kw["split"], kw["benches"]) for kw, _ in calls] == [
        (tmp_path / "testmini", "testmini", ["mathvista", "mathvision"]),
        (tmp_path / "test", "test", ["mathvision"]),
    ]
    assert [[s.key for s in group] for _, group in calls] == [
        ["mathvista", "mathvision"],
        ["mathvision:test"],
    ]
    for kwargs, _ in calls:
        assert kwargs["protocol"] == "reference" and kwargs["profile"] == "qwen"
        assert kwargs["limit"] == 3 and kwargs["sampling"] == SamplingParams(max_tokens=5)
    # one split: the run directory is out_dir itself, as before
    ((kwargs, _),) = eval_calls(
        benches=["mathvision"], out_dir=tmp_path, options={}, profile="qwen"
    )
    assert kwargs["out"] == tmp_path and kwargs["sampling"] is None
    # the card's own profile wins
    ((kwargs, _),) = eval_calls(
        benches=["mathvision"], out_dir=tmp_path, options={"profile": "plain"}, profile="qwen"
    )
    assert kwargs["profile"] == "plain"


def test_an_eval_option_evaluate_does_not_take_is_one_line(tiny_model_dir, tmp_path):
    from ovlt_eval.errors import UserError
    from ovlt_train.loop_steps import evaluate

    sample = str(REPO / "ovlt_eval/demo_data/mathvision_sample")
    with pytest.raises(UserError, match="unexpected keyword argument 'max_tokenz'"):
        evaluate(
            model=str(tiny_model_dir),
            benches=["mathvision"],
            out_dir=tmp_path,
            options={"data": sample, "limit": 1, "max_tokenz": 4},
        )
    with pytest.raises(UserError, match="eval_options.sampling"):
        evaluate(
            model=str(tiny_model_dir),
            benches=["mathvision"],
            out_dir=tmp_path,
            options={"sampling": {"max_tokenz": 4}},
        )


def test_evaluate_scores_testmini_and_the_full_test_split_with_all_three_protocols(
    tiny_model_dir, tmp_path
):
    shared = REPO.parent / "shared" / "benchmarks" / "mathvision"
    if not (shared / "test.jsonl").is_file():
        pytest.skip("../shared MathVision files missing")
    data = tmp_path / "mathvision"  # a few real items of each split, beside their images
    data.mkdir()
    (data / "images").symlink_to(shared / "images")
    for split in ("testmini", "test"):
        rows = (shared / f"{split}.jsonl").read_text().splitlines()[:2]
        (data / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    from ovlt_train.loop_steps import evaluate

    out = tmp_path / "eval-base"
    options = {"data": str(data), "sampling": {"max_tokens": 2}, "max_pixels": 3136}
    scores = evaluate(
        model=str(tiny_model_dir),
        benches=["mathvision", "mathvision:test"],
        out_dir=out,
        options={**options, "engine": "hf"},
        profile="qwen",
    )
    assert set(scores) == {"mathvision", "mathvision:test"}
    for key, split in (("mathvision", "testmini"), ("mathvision:test", "test")):
        summary = json.loads((out / split / "summary.json").read_text())
        card = json.loads((out / split / "eval_card.json").read_text())
        assert summary["split"] == split and summary["n"] == 2
        assert summary["protocol"] == "reference" and card["settings"]["profile"] == "qwen"
        got = scores[key]
        assert got["split"] == split and got["profile"] == "qwen" and got["protocol"] == "reference"
        assert got["n"] == 2 and got["accuracy"] == summary["accuracy"]  # percentages, as there
        for name in ("reference", "official", "corrected"):
            assert got[f"accuracy_{name}"] == summary[f"accuracy_{name}"]


def test_the_demo_finds_its_card_from_any_folder(tmp_path, monkeypatch):
    """`make demo` named its card by the checkout's path; the cards now ship in the package."""
    from ovlt_train import demo

    monkeypatch.chdir(tmp_path)
    card = load_card(LoopCard, demo.CARD)
    assert card.name == "demo" and card.base_model == "runs/tiny-model"
