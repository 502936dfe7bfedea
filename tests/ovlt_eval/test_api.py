"""`ovlt_eval.evaluate(...)`: the Python API the CLI is thin over, on the bundled MATH-Vision
sample against the real test server (offline, no ../shared)."""

from __future__ import annotations

import dataclasses
import json

import pytest

import ovlt_eval
from ovlt_eval.demo import SAMPLE
from ovlt_eval.errors import UserError
from ovlt_eval.testing.openai_server import OpenAIServer
from tests.ovlt_eval.runs.scripted import Script

LIMIT = 6


@pytest.fixture(scope="module")
def script():
    from ovlt_eval.benchmarks import get_benchmark

    return Script(get_benchmark("mathvision").load("testmini", str(SAMPLE)))


def _evaluate(server, out, **options):
    return ovlt_eval.evaluate(
        server.model,
        "mathvision",
        engine="openai",
        base_urls=[server.base_url],
        out=out,
        split="testmini",
        data=SAMPLE,
        limit=LIMIT,
        progress=False,
        **options,
    )


def test_evaluate_returns_results_and_resumes(script, tmp_path, capsys):
    out = tmp_path / "run"
    with OpenAIServer(replies=script) as server:
        results = _evaluate(server, out, protocol="reference")
        asked = len(server.prompts)
        again = _evaluate(server, out, protocol="reference")
        assert len(server.prompts) == asked == LIMIT  # the second call generated nothing
    result = results["mathvision"]
    assert list(results) == ["mathvision"] and dataclasses.is_dataclass(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.accuracy = 0.0
    summary = json.loads((out / "summary.json").read_text())
    assert result.run_dir == out and result.summary == summary and result.complete
    # Script answers items 0, 3 right (i % 3 == 0) of the first six: 2 of 6
    assert result.n == LIMIT and result.accuracy == pytest.approx(100 * 2 / 6, abs=0.01)
    assert result.protocol == "reference" and set(result.by_protocol) == {
        "reference",
        "official",
        "corrected",
    }
    assert result.by_protocol["reference"] == summary["accuracy_reference"]
    assert again["mathvision"].summary == summary
    assert "mathvision testmini: accuracy 33.33% on 6 items" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "tgi"}, "unknown engine 'tgi'; known engines: hf, openai, vllm"),
        ({"engine": "openai"}, "--engine openai needs --base-url"),
        ({"base_urls": ["http://127.0.0.1:9/v1"]}, "--base-url is for --engine openai"),
        ({"n": 0}, "--n must be at least 1"),
        (
            {"engine": "openai", "base_urls": "http://127.0.0.1:9/v1", "dtype": "float32"},
            "--dtype is for --engine hf/vllm, not 'openai'",
        ),
        ({"concurrency": 8}, "--concurrency is for --engine openai, not 'hf'"),
        ({"judge": {"model": "j"}}, "the judge needs both"),
    ],
)
def test_user_mistakes_are_user_errors(options, message, tmp_path):
    with pytest.raises(UserError, match=message):
        ovlt_eval.evaluate("x/y", "mathvision", data=SAMPLE, out=tmp_path, **options)
    assert not any(tmp_path.iterdir())


def test_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError):
        ovlt_eval.no_such_thing  # noqa: B018
