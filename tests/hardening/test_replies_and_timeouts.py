"""Issue 10 items 4, 5 and part of 7: one odd server reply is one error item (eval and data
build alike), nothing waits forever on a server that never answers, and the endpoint flags
are checked in one line. Every server here is the real loopback server."""

import hashlib
import json
import time
from pathlib import Path

import pytest
import yaml

from ovlt_data.artifact import iter_config
from ovlt_data.cli import main as data_cli
from ovlt_eval.cli import main as eval_cli
from ovlt_eval.testing.openai_server import OpenAIServer
from tests.ovlt_data.helpers import demo_card

SAMPLE = Path(__file__).resolve().parents[2] / "ovlt_eval" / "demo_data" / "mathvision_sample"
BAD_ITEM = "4"  # its question: "How many different digits can you find in this picture?"
SECRET = "sk-hardening-0d9e7c41b2"

WRONG_SHAPES = {
    "choices of strings": ((200, '{"choices": ["abc"]}'), "choices[0] is a string"),
    "numeric content": (
        (200, '{"choices": [{"message": {"content": 5}, "finish_reason": "stop"}]}'),
        "content is a number",
    ),
    "null content": (
        (200, '{"choices": [{"message": {"content": null}, "finish_reason": "stop"}]}'),
        "content is null",
    ),
    "empty choices": ((200, '{"choices": []}'), "no choices"),
    "missing message": ((200, '{"choices": [{"finish_reason": "stop"}]}'), "no message"),
    "html with 200": (
        (200, "<html><body>502 Bad Gateway</body></html>", "text/html"),
        "body is not JSON (text/html",
    ),
    "not json": ((200, "upstream connect error"), "body is not JSON"),
    "json list": ((200, "[1, 2, 3]"), "JSON list"),
}


def _run_args(out, base_url, *extra):
    return [
        "run", "--bench", "mathvision", "--split", "testmini", "--data", str(SAMPLE),
        "--limit", "3", "--engine", "openai", "--model", "fake-model", "--base-url", base_url,
        "--out", str(out), "--no-progress", *extra,
    ]  # fmt: skip


def _records(out) -> dict[str, dict]:
    lines = (out / "samples.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines) if r}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ----- item 4: one bad reply is one bad item -----


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_a_wrong_shape_reply_is_one_error_item_that_a_rerun_retries(shape, tmp_path, capsys):
    body, reason = WRONG_SHAPES[shape]
    broken = {"on": True}
    asked = []

    def raw(prompt):
        if "different digits" in prompt and broken["on"]:
            asked.append(prompt)
            return body
        return None

    out = tmp_path / "run"
    with OpenAIServer(raw=raw) as server:
        assert eval_cli(_run_args(out, server.base_url)) == 1  # incomplete, not aborted
        records = _records(out)
        assert len(records) == 3
        assert records[BAD_ITEM]["status"] == "error" and reason in records[BAD_ITEM]["error"]
        assert all(r["status"] != "error" for i, r in records.items() if i != BAD_ITEM)
        assert len(asked) == 2  # one retry, not seven attempts with 30 s of back-off
        assert "run the same command again" in capsys.readouterr().err

        broken["on"] = False  # the server is fixed: the rerun retries only that item
        assert eval_cli(_run_args(out, server.base_url)) == 0
    records = _records(out)
    assert all(r["status"] != "error" for r in records.values())
    assert "<answer>" in records[BAD_ITEM]["response"]


def _bad_prompt(prompt: str) -> bool:  # a fixed third of the build's prompts
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 3 == 0


def _write_card(tmp_path, base_url, **model_fields) -> Path:
    card = demo_card(base_url, sft=3, grpo=3)
    for spec in card["models"].values():
        spec.update(model_fields)
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def _reject_reasons(version_dir: Path) -> list[str]:
    return [r["reject_reason"] for r in iter_config(version_dir, "rejected", ["reject_reason"])]


@pytest.mark.parametrize("shape", ["choices of strings", "missing message"])
def test_a_wrong_shape_reply_in_a_build_is_a_model_error_row(shape, tmp_path, capsys):
    body, _ = WRONG_SHAPES[shape]
    broken = {"on": True}

    def raw(prompt):
        return body if broken["on"] and _bad_prompt(prompt) else None

    out = tmp_path / "out"
    with OpenAIServer(replies="teacher", model="loopback", raw=raw) as server:
        card = _write_card(tmp_path, server.base_url)
        argv = ["build", "--card", str(card), "--out", str(out), "--no-progress"]
        # the build goes on; accepting the failed rows here lets the test look at them
        assert data_cli([*argv, "--max-error-rate", "1"]) == 0, capsys.readouterr().err
        version = out / "demo" / "v1"
        assert "model_error" in _reject_reasons(version)

        broken["on"] = False  # failures are never cached: the next build asks again
        assert data_cli([*argv, "--force"]) == 0, capsys.readouterr().err
    assert "model_error" not in _reject_reasons(version)


# ----- item 5: nothing waits forever -----


def test_a_server_that_never_answers_ends_as_error_items_in_bounded_time(tmp_path, capsys):
    out = tmp_path / "run"
    with OpenAIServer(never_answer=True) as wedged, OpenAIServer() as healthy:
        started = time.monotonic()
        assert eval_cli(_run_args(out, wedged.base_url, "--request-timeout", "1")) == 1
        took = time.monotonic() - started
        assert wedged.stats.held >= 3  # every item was sent and held, none answered
        records = _records(out)
        assert len(records) == 3
        for r in records.values():
            assert r["status"] == "error", r
            assert "retry budget 3 s" in r["error"] and "timeout after" in r["error"], r
        # budget 3 x 1 s per item, items in parallel; the old default was 600 s x 7 attempts
        assert took < 30, took
        capsys.readouterr()

        assert eval_cli(_run_args(out, healthy.base_url)) == 0  # the resume retries them
    assert all(r["status"] != "error" for r in _records(out).values())


def test_a_server_that_stopped_answering_is_not_waited_on_item_after_item(tmp_path, capsys):
    """Once a whole wave of attempts got no reply, the requests not yet sent fail at once:
    at the default timeout, 1,000 items would otherwise each wait out their own budget."""
    out = tmp_path / "run"
    argv = _run_args(out, "URL", "--request-timeout", "1", "--concurrency", "2", "--limit", "20")
    with OpenAIServer(never_answer=True) as wedged:
        argv[argv.index("URL")] = wedged.base_url
        assert eval_cli(argv) == 1
        sent = wedged.stats.held
    records = _records(out)
    assert len(records) == 20 and all(r["status"] == "error" for r in records.values())
    stopped = [r for r in records.values() if "the server stopped answering" in r["error"]]
    assert stopped, records
    # 8 attempts in a row without a reply trip it (max(8, concurrency)); 2 more may be in
    # flight. Without it: 20 items x 2 attempts each (1 s timeout, 3 s budget) = 40.
    assert sent <= 8 + 2, sent
    assert "run the same command again" in capsys.readouterr().err


def test_a_build_against_a_server_that_never_answers_ends_and_resumes(tmp_path, capsys):
    out = tmp_path / "out"
    with (
        OpenAIServer(replies="teacher", model="loopback", never_answer=True) as wedged,
        OpenAIServer(replies="teacher", model="loopback") as healthy,
    ):
        card = _write_card(tmp_path, wedged.base_url, request_timeout=1)
        argv = ["build", "--card", str(card), "--out", str(out), "--no-progress"]
        started = time.monotonic()
        assert data_cli(argv) == 2  # every call failed: a one-line refusal, nothing written
        took = time.monotonic() - started
        err = _one_line_error(capsys)
        # the last attempt may get less than 1 s (what is left of the retry budget), and
        # which item failed first depends on scheduling: only the kind of failure is fixed
        assert "timeout after" in err and wedged.stats.held > 0, err
        assert took < 30, took

        _write_card(tmp_path, healthy.base_url, request_timeout=1)
        assert data_cli(argv) == 0, capsys.readouterr().err
    assert "model_error" not in _reject_reasons(out / "demo" / "v1")


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_request_timeout_must_be_positive(value, tmp_path, capsys):
    argv = _run_args(tmp_path / "run", "http://127.0.0.1:9/v1", "--request-timeout", value)
    assert eval_cli(argv) == 2
    assert "--request-timeout must be a positive number" in _one_line_error(capsys)


def test_card_request_timeout_is_checked(tmp_path, capsys):
    card = _write_card(tmp_path, "http://127.0.0.1:9/v1", request_timeout=-5)
    assert data_cli(["build", "--card", str(card), "--out", str(tmp_path / "o")]) == 2
    assert "request_timeout: Input should be greater than 0" in _one_line_error(capsys)


# ----- item 7: pixel limits and base URLs -----


@pytest.mark.parametrize("flag", ["--max-pixels", "--min-pixels"])
@pytest.mark.parametrize("value", ["-5", "0"])
def test_pixel_limits_must_be_positive(flag, value, tmp_path, capsys):
    argv = _run_args(tmp_path / "run", "http://127.0.0.1:9/v1", flag, value)
    assert eval_cli(argv) == 2
    assert f"{flag} must be at least 1" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "tail",
    [f"?api_key={SECRET}", "#frag", f"?key={SECRET}#x", "?"],
    ids=["query", "frag", "both", "bare?"],
)
def test_a_base_url_with_a_query_string_is_refused(tail, tmp_path, capsys):
    with OpenAIServer() as server:
        assert eval_cli(_run_args(tmp_path / "run", server.base_url + tail)) == 2
        assert server.stats.requests == 0
    err = _one_line_error(capsys)
    assert "query string or fragment" in err and "OPENAI_API_KEY" in err
    assert SECRET not in err


def test_credentials_in_a_base_url_are_never_printed(tmp_path, capsys):
    with OpenAIServer() as server:
        url = server.base_url.replace("http://", f"http://user:{SECRET}@") + "/wrong"
        assert eval_cli(_run_args(tmp_path / "run", url)) == 2
    err = _one_line_error(capsys)
    assert "GET /models" in err and SECRET not in err


def test_url_credentials_and_an_api_key_together_are_one_line(tmp_path, capsys, monkeypatch):
    """aiohttp cannot send both; without the check every item failed with its message."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other")
    with OpenAIServer() as server:
        url = server.base_url.replace("http://", f"http://user:{SECRET}@")
        assert eval_cli(_run_args(tmp_path / "run", url)) == 2
        assert server.stats.requests == 0
    err = _one_line_error(capsys)
    assert "are both set" in err and SECRET not in err and "sk-other" not in err


def test_the_python_api_takes_the_request_timeout(tmp_path):
    import ovlt_eval
    from ovlt_eval.errors import UserError

    with OpenAIServer(never_answer=True) as wedged:
        results = ovlt_eval.evaluate(
            "fake-model",
            "mathvision",
            engine="openai",
            base_urls=[wedged.base_url],
            data=SAMPLE,
            limit=2,
            out=tmp_path / "run",
            progress=False,
            request_timeout=0.5,
        )
    assert (
        not results["mathvision"].complete and results["mathvision"].summary["run"]["errors"] == 2
    )
    with pytest.raises(UserError, match="--request-timeout must be a positive number"):
        ovlt_eval.evaluate(
            "m", "mathvision", engine="openai", base_urls=["http://h/v1"], request_timeout=-1
        )
