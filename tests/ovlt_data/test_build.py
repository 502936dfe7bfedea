"""End to end on the demo card against the loopback OpenAI-compatible server (real HTTP)."""

import json

import datasets
import pytest

from ovlt_data.artifact import iter_config, read_manifest
from ovlt_data.build import build
from ovlt_data.cli import main as cli
from ovlt_data.export import export_dataset
from ovlt_data.merge import merge
from ovlt_data.schema import CONFIGS

from .helpers import demo_card


def _ids(d, config):
    return [r["id"] for r in iter_config(d, config, ["id"])]


@pytest.fixture(scope="module")
def built(loopback, tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    d = build(_card(loopback), out=out)
    return out, d


def _card(url):
    card = demo_card(url, sft=24, grpo=12, decontaminate=True)
    for st in card["stages"]:
        if st["stage"] == "difficulty":  # 0/4 -> hard, 1-2/4 -> medium: both configs get rows
            st.update(hard_at_most=0.0, easy_at_least=0.75)
    return card


def test_demo_build_writes_every_config_and_a_card(built):
    out, d = built
    m = read_manifest(d)
    counts = m["stats"]["counts"]
    assert sum(counts.values()) == 36 and counts["sft"] > 0 and counts["rejected"] > 0
    assert counts["grpo_medium"] > 0 and counts["grpo_hard"] > 0
    for c in CONFIGS:
        assert list((d / "data" / c).glob("*.parquet"))
    all_ids = [i for c in CONFIGS for i in _ids(d, c)]
    assert len(all_ids) == len(set(all_ids)) == 36  # every row exactly once
    for r in iter_config(d, "sft"):
        assert r["response"].startswith("<think>\n") and r["response"].rstrip().endswith(
            "</answer>"
        )
        assert "Wait," not in r["response"] and len(r["response"].split()) <= 500
        assert any(r["sample_correct"]) and r["pass_rate"] == sum(r["sample_correct"]) / 4
    for r in iter_config(d, "rejected"):
        assert r["reject_stage"] and r["reject_reason"]
    assert m["models"]["reasoner"]["sampling"]["temperature"] == 0.6 and m["card_sha256"]
    readme = (d / "README.md").read_text()
    assert readme.startswith("---\n") and "config_name: grpo_hard" in readme
    assert ("config_name: grpo_medium" in readme) == (counts["grpo_medium"] > 0)
    assert (d / "figures" / "reasoning_length.png").stat().st_size > 1000
    assert (d / "figures" / "pass_rate_by_source.png").stat().st_size > 1000
    # the folder itself loads by config name through the README's YAML front matter
    hard = datasets.load_dataset(str(d), "grpo_hard", split="train", cache_dir=str(out / "hf"))
    assert len(hard) == counts["grpo_hard"] and hard[0]["images"][0].size == (224, 224)
    stages = {s["stage"]: s for s in m["stages"]}
    assert (
        stages["verify"]["in"] == 24 and stages["verify"]["dropped"].get("no_correct_sample", 0) > 0
    )


def test_rebuild_on_warm_cache_calls_no_model_and_keeps_fingerprint(built, loopback):
    out, d = built
    first = read_manifest(d)
    again = build(_card(loopback), out=out)
    m = read_manifest(again)
    assert m["fingerprint"] == first["fingerprint"]
    assert m["cache"]["misses"] == 0 and sum(m["cache"]["engine_requests"].values()) == 0
    # a changed sampling parameter is a different cache key: the fingerprint is allowed to move
    card = _card(loopback)
    card["version"] = "v2"
    card["models"]["reasoner"]["sampling"]["seed"] = 7
    v2 = build(card, out=out)
    assert read_manifest(v2)["cache"]["engine_requests"]["reasoner"] > 0


def test_exports_load_with_datasets(built, tmp_path):
    _, d = built

    def load(kind, path):
        return datasets.load_dataset(
            kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
        )

    n_sft = len(_ids(d, "sft"))
    n_med, n_hard = len(_ids(d, "grpo_medium")), len(_ids(d, "grpo_hard"))
    sft = export_dataset(d, "trl-sft", tmp_path / "sft")
    ds = load("parquet", sft[0])
    assert len(ds) == n_sft and ds[0]["messages"][0]["content"][0]["type"] == "image"
    assert ds[0]["messages"][1]["content"][0]["text"].startswith("<think>")
    assert ds[0]["images"][0].size == (224, 224)
    grpo = export_dataset(d, "trl-grpo", tmp_path / "grpo")
    assert [p.name for p in grpo] == ["grpo_medium.parquet", "grpo_hard.parquet"]
    assert [len(load("parquet", p)) for p in grpo] == [n_med, n_hard]
    g = load("parquet", grpo[1])
    assert set(g.column_names) >= {"prompt", "images", "solution"}
    r1 = export_dataset(d, "easyr1", tmp_path / "easyr1")
    e = load("parquet", r1[1])
    assert e[0]["problem"].startswith("<image>") and set(e.column_names) == {
        "problem",
        "answer",
        "images",
    }
    lf = export_dataset(d, "llamafactory", tmp_path / "lf")
    info = json.loads(lf[1].read_text())
    ((name, entry),) = info.items()
    assert entry["formatting"] == "sharegpt"
    rows = load("json", tmp_path / "lf" / entry["file_name"])
    assert len(rows) == n_sft and rows[0]["messages"][0]["content"].count("<image>") == len(
        rows[0]["images"]
    )
    assert (tmp_path / "lf" / rows[0]["images"][0]).exists()


def test_shards_merge_to_the_same_fingerprint(built, loopback, tmp_path):
    out, d = built
    full = read_manifest(d)
    card = _card(loopback)
    shards = [build(card, out=out, shard=f"{i}/3") for i in range(3)]
    assert (
        sum(read_manifest(s)["stats"]["counts"]["sft"] for s in shards)
        == full["stats"]["counts"]["sft"]
    )
    merged = merge(shards, tmp_path / "merged")
    m = read_manifest(merged)
    assert m["fingerprint"] == full["fingerprint"]
    assert m["stages"][3]["in"] == full["stages"][3]["in"]


def test_cli_inspect_diff_and_errors(built, loopback, capsys, tmp_path):
    out, d = built
    card = _card(loopback)
    card["version"] = "v2"
    card["models"]["reasoner"]["sampling"]["seed"] = 7
    build(card, out=out, force=True)
    assert cli(["inspect", str(d)]) == 0
    text = capsys.readouterr().out
    assert "fingerprint" in text and "verify" in text and "sft" in text
    assert cli(["diff", str(d), str(out / "demo" / "v2")]) == 0
    text = capsys.readouterr().out
    assert "model reasoner" in text and "changed" in text
    # the card fields that changed, and nothing about the fields that did not
    assert 'version: "v1" -> "v2"' in text and "models.reasoner.sampling.seed: 0 -> 7" in text
    assert "card fields changed (2)" in text and "models.policy" not in text
    assert cli(["diff", str(d), str(d)]) == 0
    same = capsys.readouterr().out
    assert "identical data" in same and "no row added, removed or changed" in same
    assert "card fields" not in same and "code:" not in same
    assert cli(["export", str(d), "--format", "easyr1", "--out", str(tmp_path / "e")]) == 0
    assert "grpo_hard.parquet" in capsys.readouterr().out
    assert cli(["build", "--card", str(tmp_path / "nope.yaml")]) == 2
    assert "card not found" in capsys.readouterr().err
    assert cli(["inspect", str(tmp_path)]) == 2
    assert "not a built version" in capsys.readouterr().err
    assert cli(["build", "--round", "2", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    # the `released` preset (generate_reasoning_thinker.py): one near-greedy attempt per item
    assert "distill       pools=sft model=checkpoints/grpo-iter1 samples/row=1" in plan
    assert "against mathvista/testmini (Hub)" in plan and "caption" not in plan
    assert cli(["build", "--round", "9", "--dry-run"]) == 2
    assert "no card for round 9" in capsys.readouterr().err
    assert cli(["build", "--round", "1", "--push-to-hub", "--repo-id", "bad"]) == 2
    assert "OWNER/NAME" in capsys.readouterr().err


def test_cli_build_ends_with_a_summary(built, loopback, capsys, tmp_path):
    import yaml

    out, d = built
    card = tmp_path / "demo.yaml"
    card.write_text(yaml.safe_dump(_card(loopback)))
    argv = ["build", "--card", str(card), "--out", str(tmp_path / "o"), "--no-progress"]
    assert cli([*argv, "--cache", str(out / "cache.sqlite")]) == 0  # the built one's cache
    lines = capsys.readouterr().out.strip().splitlines()
    counts = read_manifest(d)["stats"]["counts"]
    assert lines[0].startswith("demo v1 (round 1): reused from the cache (no model call) in ")
    for config, n in counts.items():
        assert any(line.split() == [config, str(n), "rows"] for line in lines), (config, lines)
    assert "0 made" in "\n".join(lines)
    assert lines[-1] == str(tmp_path / "o" / "demo" / "v1")  # the folder, alone, last
    assert cli([*argv, "--force", "--cache", str(tmp_path / "fresh.sqlite")]) == 0
    assert ": built in " in capsys.readouterr().out


def test_bad_rows_are_rejected_and_the_build_goes_on(loopback, tmp_path):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 40), "blue").save(buf, format="PNG")
    (tmp_path / "ok.png").write_bytes(buf.getvalue())
    (tmp_path / "bad.png").write_bytes(b"not an image")
    rows = [
        {"id": "a", "question": "How many squares?", "answer": "1", "image": "ok.png"},
        {"id": "b", "question": "How many squares?", "answer": "1", "image": "bad.png"},
        {"id": "c", "question": "How many squares?", "answer": "", "image": "ok.png"},
        {"id": "d", "question": "How many squares?", "answer": "2", "image": "gone.png"},
    ]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    card = demo_card(loopback, sft=4, grpo=4)
    card["sources"].append(
        {
            "name": "mine",
            "kind": "local",
            "pool": "sft",
            "path": str(tmp_path / "rows.jsonl"),
            "fields": {"id": "id"},
        }
    )
    d = build(card, out=tmp_path / "out")
    m = read_manifest(d)
    assert m["stages"][0]["dropped"] == {"corrupt_image": 1, "empty_answer": 1, "missing_image": 1}
    rej = {
        r["id"]: r["reject_reason"]
        for r in iter_config(d, "rejected")
        if r["reject_stage"] == "source"
    }
    assert rej == {"mine:b": "corrupt_image", "mine:c": "empty_answer", "mine:d": "missing_image"}
    assert m["stats"]["by_source"]["mine"].get("rejected", 0) >= 3
