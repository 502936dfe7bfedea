"""`ovlt-eval run` end to end: real engines, real servers on loopback, real MATH-Vision items."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ovlt_eval.cli import main
from ovlt_eval.testing.openai_server import OpenAIServer
from tests.ovlt_eval.runs.scripted import MATHVERSE_TEXT_ONLY, MATHVISION_TESTMINI, Script

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(
    not MATHVISION_TESTMINI.exists(), reason="../shared benchmarks missing"
)
SECRET = "sk-ovlt-test-7f3a9c51e2d84b06"


def mathvision_items():
    from ovlt_eval.benchmarks import get_benchmark

    return get_benchmark("mathvision").load("testmini", str(MATHVISION_TESTMINI))


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_id(lines: list[dict]) -> dict[str, dict]:
    return {rec["id"]: rec for rec in lines}


def run_args(out, *extra) -> list[str]:
    return [
        "run", "--bench", "mathvision", "--split", "testmini", "--data", str(MATHVISION_TESTMINI),
        "--out", str(out), "--no-progress", *extra,
    ]  # fmt: skip


# ---------------------------------------------------------------- real engines, tiny model


def test_openai_engine_through_transformers_serve(tiny_server, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--engine", "openai", "--base-url", tiny_server.base_url, "--model", tiny_server.model]
    rc = main(run_args(out, *args, "--limit", "3", "--max-tokens", "8", "--concurrency", "3"))
    assert rc == 0, capsys.readouterr().err
    lines = read_lines(out / "samples.jsonl")
    assert sorted(r["id"] for r in lines) == sorted(it.id for it in mathvision_items()[:3])
    assert all(r["status"] != "error" and isinstance(r["response"], str) for r in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 3 and summary["run"]["complete"] and summary["run"]["errors"] == 0
    card = json.loads((out / "eval_card.json").read_text())
    assert card["status"] == "complete"
    assert card["settings"]["engine"]["engine"] == "openai"
    assert card["settings"]["sampling"]["max_tokens"] == 8
    assert card["counts"] == summary["run"]["status_counts"]


def test_hf_engine_in_process(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--engine", "hf", "--model", str(tiny_model_dir), "--dtype", "float32"]
    rc = main(run_args(out, *args, "--limit", "3", "--max-tokens", "8", "--batch-size", "3"))
    assert rc == 0, capsys.readouterr().err
    lines = read_lines(out / "samples.jsonl")
    assert len(lines) == 3 and all(r["status"] != "error" for r in lines)
    assert all(isinstance(r["tokens"], int) and 0 < r["tokens"] <= 8 for r in lines)
    card = json.loads((out / "eval_card.json").read_text())
    assert card["settings"]["engine"]["dtype"] == "float32"
    assert card["settings"]["model"] == str(tiny_model_dir)
    assert len(card["image_hashes"]) == 304  # the data identity covers the whole split
    assert card["benchmark"]["items_evaluated"] == 3


# ---------------------------------------------------------------- kill, resume, errors, secrets


class GatedScript:
    """Answers like `Script`, but only `allowed` requests in all; later ones stall.

    A stalled request belongs to the process that sent it: once `allow` opens a new phase
    (after that process was killed) it is dropped instead of eating the new phase's budget.
    """

    def __init__(self, script: Script):
        self.script = script
        self.allowed = 10**9
        self.served = 0
        self.phase = 0
        self.cond = threading.Condition()

    def __call__(self, prompt: str) -> str:
        with self.cond:
            phase = self.phase
            while self.served >= self.allowed:
                self.cond.wait(timeout=5)
                if self.phase != phase:
                    raise ConnectionAbortedError("stalled request of a killed run")
            self.served += 1
        return self.script(prompt)

    def allow(self, n: int) -> None:
        with self.cond:
            self.allowed = n
            self.phase += 1
            self.cond.notify_all()


def _wait_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = len(path.read_bytes().splitlines()) if path.exists() else 0
        if count >= n:
            return count
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    raise AssertionError(f"{path}: fewer than {n} lines after {timeout}s")


def test_sigkill_twice_then_resume_equals_one_uninterrupted_run(tmp_path):
    limit = 18
    gate = GatedScript(Script(mathvision_items()))
    with OpenAIServer(replies=gate, latency=0.01) as server:
        base = ["--engine", "openai", "--base-url", server.base_url, "--model", server.model]
        base += ["--limit", str(limit), "--concurrency", "2", "--max-tokens", "64"]
        env = dict(os.environ, OPENAI_API_KEY=SECRET, OMP_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "ovlt_eval.cli", *run_args(tmp_path / "killed", *base)]

        def start():
            return subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )

        samples = tmp_path / "killed" / "samples.jsonl"
        done_before_kill = []
        for budget in (5, 11):  # the server stalls after `budget` answers: kill mid-run
            gate.allow(budget)
            proc = start()
            done_before_kill.append(_wait_lines(samples, budget, proc))
            time.sleep(0.3)  # requests beyond the budget are in flight, stalled
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if budget == 5:  # and a line torn mid-write by the kill
                with open(samples, "ab") as fh:
                    fh.write(b'{"id": "torn", "resp')
        assert done_before_kill[0] < done_before_kill[1] < limit
        print(f"kill/resume: {done_before_kill} lines on disk at the two SIGKILLs, limit {limit}")

        gate.allow(10**9)
        final = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=120)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        assert b"resuming" in final.stderr

        rc = main(run_args(tmp_path / "straight", *base))
        assert rc == 0
        # (the in-process run has no key set: no Authorization header, or "Bearer EMPTY")
        assert {f"Bearer {SECRET}"} == server.stats.authorization - {"", "Bearer EMPTY"}

    killed = read_lines(samples)
    straight = read_lines(tmp_path / "straight" / "samples.jsonl")
    ids = [r["id"] for r in killed]
    assert len(ids) == len(set(ids)) == limit  # nothing lost, nothing repeated
    assert by_id(killed) == by_id(straight)
    s_killed = json.loads((tmp_path / "killed" / "summary.json").read_text())
    s_straight = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert s_killed == s_straight
    card = json.loads((tmp_path / "killed" / "eval_card.json").read_text())
    assert [s["to_generate"] for s in card["sessions"]][0] == limit
    assert len(card["sessions"]) == 3 and card["status"] == "complete"
    assert [s["outcome"] for s in card["sessions"]] == ["killed", "killed", "complete"]

    # The API key reached the server but no file the run wrote.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_ctrl_c_leaves_a_resumable_run(tmp_path):
    gate = GatedScript(Script(mathvision_items()))
    with OpenAIServer(replies=gate) as server:
        base = [
            "--engine",
            "openai",
            "--base-url",
            server.base_url,
            "--model",
            server.model,
            "--limit",
            "6",
        ]
        cmd = [sys.executable, "-m", "ovlt_eval.cli", *run_args(tmp_path, *base)]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        gate.allow(3)
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        _wait_lines(tmp_path / "samples.jsonl", 3, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err.decode()[-2000:]
        assert b"resumable" in err
        card = json.loads((tmp_path / "eval_card.json").read_text())
        assert card["status"] == "interrupted" and sum(card["counts"].values()) == 3
        gate.allow(10**9)
        assert main(run_args(tmp_path, *base)) == 0
    assert len(read_lines(tmp_path / "samples.jsonl")) == 6


def test_failed_requests_are_error_items_and_are_retried_on_resume(tmp_path, capsys):
    items = mathvision_items()
    poisoned = {items[1].question, items[4].question}
    broken = {"on": True}

    def fail(prompt: str):
        return 400 if broken["on"] and prompt in poisoned else None

    with OpenAIServer(replies=Script(items), fail=fail) as server:
        args = [
            "--engine",
            "openai",
            "--base-url",
            server.base_url,
            "--model",
            server.model,
            "--limit",
            "6",
        ]
        out = tmp_path / "run"
        assert main(run_args(out, *args)) == 1
        err = capsys.readouterr().err
        assert "2 items failed" in err and "run the same command again" in err
        summary = json.loads((out / "summary.json").read_text())
        assert summary["run"]["errors"] == 2 and not summary["run"]["complete"]
        assert summary["run"]["status_counts"]["error"] == 2
        errors = {r["id"] for r in read_lines(out / "samples.jsonl") if r["status"] == "error"}
        assert errors == {items[1].id, items[4].id}

        broken["on"] = False
        assert main(run_args(out, *args)) == 0
    lines = read_lines(out / "samples.jsonl")
    assert len(lines) == 8  # 6 + the 2 retried, appended
    latest = by_id(lines)
    assert len(latest) == 6 and all(r["status"] != "error" for r in latest.values())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["errors"] == 0 and summary["run"]["complete"]
    assert json.loads((out / "eval_card.json").read_text())["status"] == "complete"


def test_resume_with_other_settings_refuses_unless_overwrite(tmp_path, capsys):
    with OpenAIServer(replies=Script(mathvision_items())) as server:
        args = [
            "--engine",
            "openai",
            "--base-url",
            server.base_url,
            "--model",
            server.model,
            "--limit",
            "2",
        ]
        out = tmp_path / "run"
        assert main(run_args(out, *args)) == 0
        capsys.readouterr()
        assert main(run_args(out, *args, "--max-tokens", "99")) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "sampling.max_tokens" in err and "--overwrite" in err
        assert main(run_args(out, *args, "--profile", "qwen")) == 2
        assert "profile" in capsys.readouterr().err
        assert main(run_args(out, *args, "--max-tokens", "99", "--overwrite")) == 0
    card = json.loads((out / "eval_card.json").read_text())
    assert card["settings"]["sampling"]["max_tokens"] == 99 and len(card["sessions"]) == 1


def test_several_benches_and_pass_at_k(tmp_path, capsys):
    items = mathvision_items()

    with OpenAIServer(replies=Script(items)) as server:
        args = ["run", "--engine", "openai", "--base-url", server.base_url, "--model", server.model]
        args += ["--bench", "mathvision", "--data", f"mathvision={MATHVISION_TESTMINI}"]
        args += ["--bench", "mathverse", "--data", f"mathverse={MATHVERSE_TEXT_ONLY}"]
        args += [
            "--limit",
            "3",
            "--n",
            "2",
            "--temperature",
            "0.7",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
        assert main(args) == 0, capsys.readouterr().err
    vision = json.loads((tmp_path / "mathvision-testmini" / "summary.json").read_text())
    assert vision["run"]["pass_at_k"] == {
        "pass@1": pytest.approx(100 / 3, abs=0.01),
        "pass@2": pytest.approx(100 / 3, abs=0.01),
    }
    rec = read_lines(tmp_path / "mathvision-testmini" / "samples.jsonl")[0]
    assert len(rec["extra_samples"]) == 1
    # no --split: the Text Only file is run, and labelled, as its own split
    verse = json.loads((tmp_path / "mathverse-testmini_text_only" / "summary.json").read_text())
    assert verse["n"] == 3 and verse["run"]["complete"]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (
            ["--engine", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
            "cannot reach",
        ),
        (["--engine", "hf", "--model", "/no/such/checkpoint"], "no such folder"),
        (["--engine", "hf", "--model", "x/y", "--bench", "mathfoo"], "mathfoo"),
        (["--engine", "hf", "--model", "x/y", "--profile", "nope"], "nope"),
    ],
    ids=["unreachable-endpoint", "bad-model-path", "unknown-benchmark", "unknown-profile"],
)
def test_user_errors_are_one_actionable_line(extra, needle, tmp_path, capsys):
    argv = run_args(tmp_path / "run", *extra)
    if "--bench" in extra:  # the unknown benchmark replaces mathvision
        i = argv.index("--bench")
        del argv[i : i + 2]
    rc = main(argv[1:])  # `ovlt-eval --model … --bench …` means `ovlt-eval run …`
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ovlt-eval run: error:") and needle in err
    assert not (tmp_path / "run" / "samples.jsonl").exists()


@pytest.mark.slow
def test_sigkill_twice_with_the_hf_engine_gives_the_same_greedy_run(tiny_model_dir, tmp_path):
    """The same evidence with the real in-process engine (batches differ after a resume)."""
    from ovlt_eval.demo import SAMPLE

    def cmd(out):
        return [
            sys.executable, "-m", "ovlt_eval.cli", "--model", str(tiny_model_dir), "--engine", "hf",
            "--dtype", "float32", "--bench", "mathvision", "--data", str(SAMPLE), "--max-tokens", "32",
            "--batch-size", "4", "--out", str(out), "--no-progress",
        ]  # fmt: skip

    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(cmd(tmp_path / "straight"), cwd=REPO, env=env, check=True, capture_output=True)
    samples = tmp_path / "killed" / "samples.jsonl"
    for n in (8, 24):
        proc = subprocess.Popen(
            cmd(tmp_path / "killed"),
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_lines(samples, n, proc, timeout=300)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    subprocess.run(cmd(tmp_path / "killed"), cwd=REPO, env=env, check=True, capture_output=True)
    killed, straight = read_lines(samples), read_lines(tmp_path / "straight" / "samples.jsonl")
    assert len(killed) == len({r["id"] for r in killed}) == len(straight)
    assert by_id(killed) == by_id(straight)
    assert json.loads((tmp_path / "killed" / "summary.json").read_text()) == json.loads(
        (tmp_path / "straight" / "summary.json").read_text()
    )


def test_run_records_both_protocols_and_summarises_them_side_by_side(tmp_path):
    """A run's summary shows official and corrected accuracy from the per-item verdicts: a reply
    naming the right option as "(A) red" is wrong for MATH-V's evaluator, right for ours."""
    items = mathvision_items()
    text_options = [it for it in items if it.choices and it.choices[0] not in "ABCDE"][:4]
    letters = "ABCDE"

    def respond(prompt: str) -> str:
        for it in text_options:
            if it.question in prompt:
                option = it.choices[letters.index(it.gold)]
                return f"The answer is ({it.gold}) {option}"
        return "The answer is 987654."

    with OpenAIServer(replies=respond, model="m") as server:
        argv = run_args(tmp_path, "--engine", "openai", "--base-url", server.base_url)
        rc = main([*argv, "--model", "m", "--limit", "12"])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    records = by_id(read_lines(tmp_path / "samples.jsonl"))
    evaluated = [it for it in text_options if it.id in records]
    assert evaluated, "the first 12 testmini items include text options"
    for it in evaluated:
        rec = records[it.id]
        assert rec["correct_corrected"] is True
        assert rec["correct"] == rec["correct_official"]
        if rec["correct_official"] is False:
            assert rec["disagreement"]
    n_corrected = sum(bool(r.get("correct_corrected")) for r in records.values())
    n_official = sum(bool(r.get("correct_official")) for r in records.values())
    assert summary["accuracy_corrected"] == pytest.approx(
        100 * n_corrected / summary["n"], abs=0.01
    )
    assert summary["accuracy_official"] == pytest.approx(100 * n_official / summary["n"], abs=0.01)


def test_run_protocol_flag_picks_the_headline_and_is_part_of_the_run_identity(tmp_path, capsys):
    items = mathvision_items()
    text_options = [it for it in items if it.choices and it.choices[0] not in "ABCDE"]

    def respond(prompt: str) -> str:
        for it in text_options:
            if it.question in prompt:
                return f"The answer is ({it.gold}) {it.choices['ABCDE'.index(it.gold)]}"
        return "The answer is 987654."

    with OpenAIServer(replies=respond, model="m") as server:
        argv = [*run_args(tmp_path, "--engine", "openai", "--base-url", server.base_url)]
        argv += ["--model", "m", "--limit", "12"]
        assert main([*argv, "--protocol", "corrected"]) == 0
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["protocol"] == "corrected"
        assert summary["accuracy"] == summary["accuracy_corrected"]
        for rec in read_lines(tmp_path / "samples.jsonl"):
            assert rec["correct"] == rec["correct_corrected"]
        capsys.readouterr()
        assert main([*argv, "--protocol", "official"]) == 2  # resume with another headline
        assert "protocol" in capsys.readouterr().err
