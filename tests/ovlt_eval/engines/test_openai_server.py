"""The one OpenAI-compatible test server: teacher replies pinned, scripted replies and faults."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from ovlt_eval.testing.openai_server import OpenAIServer, teacher_reply

# The data factory's cache, fingerprints and demo depend on these exact texts (they were the
# replies of the former ovlt_data/loopback.py, which this server replaced).
TEACHER_SHA256 = "44ca220ed05976e95efd1052d6da0847badf24b2cba1ad0ebba35b7461af3aa9"


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]


def _chat(server: OpenAIServer, messages: list, **fields) -> tuple[int, dict]:
    body = json.dumps({"model": server.model, "messages": messages, **fields}).encode()
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions", body, {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_teacher_replies_are_the_pinned_texts_over_the_wire():
    prompts = [
        "Give a detailed description of the image.",
        "How many? Choices: (A) 1 (B) 2 (C) 3",
        "What is x?",
    ]
    texts = [teacher_reply(_user(p), i, s) for p in prompts for i in range(2) for s in (None, 0)]
    assert hashlib.sha256("\n".join(texts).encode()).hexdigest() == TEACHER_SHA256
    assert texts[5].endswith("<answer>C</answer>") and "\\boxed{C}" in texts[5]
    with OpenAIServer(replies="teacher", model="loopback") as server:
        status, reply = _chat(server, _user(prompts[1]), n=2, seed=0)
    assert status == 200
    assert [c["message"]["content"] for c in reply["choices"]] == [
        teacher_reply(_user(prompts[1]), i, 0) for i in range(2)
    ]


def test_scripted_replies_and_scripted_failures():
    def replies(prompt: str) -> str:
        if "boom" in prompt:
            raise RuntimeError("a bug in the script")
        return prompt.upper()

    def fail(prompt: str) -> int | None:
        return 503 if "busy" in prompt else None

    with OpenAIServer(replies=replies, fail=fail) as server:
        assert _chat(server, _user("hi"))[1]["choices"][0]["message"]["content"] == "HI"
        assert _chat(server, _user("busy"))[0] == 503
        status, reply = _chat(server, _user("boom"))
        assert status == 400 and "a bug in the script" in reply["error"]["message"]
        assert server.prompts == ["hi"]


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match="replies"):
        OpenAIServer(replies="oracle")
    with pytest.raises(ValueError, match="fault kinds"):
        OpenAIServer(fault_kinds=("teapot",))


def test_command_line_prints_the_url_first():
    proc = subprocess.Popen(
        [sys.executable, "-m", "ovlt_eval.testing.openai_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        with urllib.request.urlopen(f"{url}/models", timeout=10) as resp:
            assert json.load(resp)["data"][0]["id"] == "loopback"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
