import json

import pytest

from ovlt_eval.errors import UserError
from ovlt_eval.runs import card as C


def _settings(**over):
    base = dict(
        model="m",
        benchmark="mathvision",
        benchmark_version="1",
        split="testmini",
        data_fingerprint="d" * 64,
        images_fingerprint="i" * 64,
        profile="openvlthinker",
        prompt_sha256="p" * 64,
        engine={"engine": "hf", "dtype": "bfloat16"},
        sampling={"max_tokens": 2048, "temperature": 0.01},
        n=1,
    )
    return C.RunSettings(**(base | over))


def test_engine_identity_drops_speed_knobs_and_secrets_but_keeps_what_moves_numbers():
    describe = {
        "engine": "openai",
        "model": "m",
        "dtype": None,
        "base_urls": ["http://a/v1"],
        "api_key": "sk-should-never-appear",
        "options": {"concurrency": 64, "max_pixels": 1000, "hf_token": "x", "api_key_env": "K"},
        "stats": {"http_calls": 3},
    }
    ident = C.engine_identity(describe)
    assert ident == {
        "engine": "openai",
        "model": "m",
        "dtype": None,
        "options": {"max_pixels": 1000, "api_key_env": "K"},
    }


def test_settings_diff_names_the_fields():
    old = _settings()
    new = _settings(sampling={"max_tokens": 64, "temperature": 0.01}, profile="qwen")
    diff = C.settings_diff(old, new)
    assert diff == ["profile", "sampling.max_tokens"]
    text = C.describe_diff(old, new, diff)
    assert "'openvlthinker' -> 'qwen'" in text and "2048 -> 64" in text


def test_a_refused_resume_shows_both_model_paths_whole():
    old = _settings(model="runs/loop-demo/round1/sft")
    new = _settings(model="runs/loop-demo/round2/sft")
    text = C.describe_diff(old, new, C.settings_diff(old, new))
    assert "'runs/loop-demo/round1/sft' -> 'runs/loop-demo/round2/sft'" in text
    digest = _settings(prompt_sha256="a" * 64), _settings(prompt_sha256="b" * 64)
    assert "'aaaaaaaaaaaa…' -> 'bbbbbbbbbbbb…'" in C.describe_diff(*digest, ["prompt_sha256"])


def test_card_round_trip_keeps_max_tokens_and_never_writes_secret_env_values(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "sk-secret-value-123456")
    card = C.EvalCard(settings=_settings(), engine={"note": "key sk-secret-value-123456 leaked"})
    C.write_card(tmp_path, card)
    text = (tmp_path / C.CARD_NAME).read_text()
    assert "sk-secret-value-123456" not in text
    again = C.read_card(tmp_path)
    assert again.settings == card.settings
    assert json.loads(text)["settings"]["sampling"]["max_tokens"] == 2048


def test_unreadable_card_is_a_user_error(tmp_path):
    (tmp_path / C.CARD_NAME).write_text("{not json")
    with pytest.raises(UserError, match="--overwrite"):
        C.read_card(tmp_path)


def test_card_generation_block_is_derived_from_the_engine_on_every_write(tmp_path):
    hf = {
        "engine": "hf",
        "dtype": "bfloat16",
        "device": "cuda",
        "options": {
            "batch_size": 16,
            "reproducible": False,
            "pixels": {"min_pixels": 3136, "max_pixels": 12845056, "source": "base processor X"},
        },
    }
    card = C.EvalCard(settings=_settings(), engine=hf)
    C.write_card(tmp_path, card)
    gen = json.loads((tmp_path / C.CARD_NAME).read_text())["generation"]
    assert (gen["dtype"], gen["batch_size"], gen["reproducible"]) == ("bfloat16", 16, False)
    assert (gen["min_pixels"], gen["max_pixels"]) == (3136, 12845056)
    assert gen["pixel_limits_source"] == "base processor X"
    # a server decides dtype and batching itself: unknown, not guessed
    card.engine = {"engine": "openai", "dtype": None, "options": {"concurrency": 64}}
    C.write_card(tmp_path, card)
    gen = C.read_card(tmp_path).generation
    assert gen["engine"] == "openai" and gen["dtype"] is None and gen["batch_size"] is None
