"""Issue 10 item 2: secrets planted in the environment, a card and URLs never land in a file.

Each scenario runs the real thing (a build and an eval run against the loopback server, the push
plan, the loop manifest, a checkpoint's record), checks that the secrets did reach the server or
the code (the test is not vacuous), then reads every byte of every file written, SQLite caches
and parquet included, and expects none of the planted values.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ovlt_data.cli import main as data_cli
from ovlt_data.hub import plan_push
from ovlt_eval.cli import main as eval_cli
from ovlt_eval.redact import redact, redact_text, redact_url
from ovlt_eval.testing.openai_server import serve
from tests.ovlt_data.helpers import demo_card
from tests.ovlt_train.conftest import REPO

DEMO_DATA = REPO / "ovlt_eval" / "demo_data" / "mathvision_sample"
ENV_SECRET = "sk-PLANTED-123"  # OVLT_TEST_SECRET, referenced as ${OVLT_TEST_SECRET} in cards
URL_PASSWORD = "PLANTEDPW"  # http://u:PLANTEDPW@host
URL_QUERY = "PLANTEDQ"  # ?api_key=PLANTEDQ
OPENAI_KEY = "sk-PLANTEDKEY-456"  # OPENAI_API_KEY
HF_KEY = "hf_PLANTEDHF789"  # HF_TOKEN
FILE_SECRET = "PLANTEDFILE-000"  # a file outside a version folder, linked from inside it
SECRETS = (ENV_SECRET, URL_PASSWORD, URL_QUERY, OPENAI_KEY, HF_KEY, FILE_SECRET)


@pytest.fixture
def planted(monkeypatch):
    monkeypatch.setenv("OVLT_TEST_SECRET", ENV_SECRET)
    monkeypatch.setenv("HF_TOKEN", HF_KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture(scope="module")
def server():
    srv, _ = serve()
    yield srv
    srv.stop()


def leaks(*roots: Path) -> tuple[int, dict[str, list[str]]]:
    """(files read, secret -> files holding it) over every regular file under `roots`; links
    are not followed (the push-plan test plants one on purpose)."""
    n, hits = 0, {}
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                p = Path(folder, name)
                if p.is_symlink():
                    continue
                n += 1
                data = p.read_bytes()
                for s in SECRETS:
                    if s.encode() in data:
                        hits.setdefault(s, []).append(str(p.relative_to(root)))
    print(f"walked {n} files under {', '.join(str(r) for r in roots)}: {len(hits)} secrets found")
    return n, hits


def _build_card(server_url: str) -> dict:
    card = demo_card(server_url, sft=2, grpo=2)
    with_password = server_url.replace("http://", "http://u:${OVLT_TEST_SECRET}@")
    for spec in card["models"].values():
        spec["options"]["base_urls"] = [with_password]
    # a role no stage uses is never opened, but is recorded: a query-string key and an env value
    card["models"]["spare"] = {
        "engine": "openai",
        "model": "loopback",
        "revision": "${OVLT_TEST_SECRET}",
        "options": {"base_url": f"http://u:{URL_PASSWORD}@127.0.0.1:9/v1?api_key={URL_QUERY}"},
    }
    card["description"] = "built with key ${OVLT_TEST_SECRET}"
    return card


def test_a_build_writes_no_secret(planted, server, tmp_path, capsys):
    card_path = tmp_path / "card.yaml"
    card_path.write_text(yaml.safe_dump(_build_card(server.base_url)))
    out = tmp_path / "out"
    argv = ["build", "--card", str(card_path), "--out", str(out), "--no-progress"]
    assert data_cli(argv) == 0
    # not vacuous: the key from ${OVLT_TEST_SECRET} went to the server as the URL's password
    assert any("Basic" in a for a in server.stats.authorization)
    version = out / "demo" / "v1"
    assert (version / "manifest.json").is_file() and (out / "cache.sqlite").is_file()
    assert list(version.rglob("*.parquet"))
    n, hits = leaks(out)
    assert n >= 8 and hits == {}, hits
    manifest = (version / "manifest.json").read_text()
    assert "built with key ${OVLT_TEST_SECRET}" in manifest  # the template is what is recorded
    assert "${OVLT_TEST_SECRET}" in (version / "README.md").read_text()
    printed = capsys.readouterr()
    assert not [s for s in SECRETS if s in printed.out + printed.err]


@pytest.mark.parametrize("how", ["env-key", "url-password"])
def test_an_eval_run_writes_no_secret(planted, server, tmp_path, monkeypatch, capsys, how):
    base = server.base_url
    if how == "env-key":
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    else:
        base = base.replace("http://", f"http://u:{URL_PASSWORD}@")
    out = tmp_path / "run"
    argv = ["run", "--engine", "openai", "--model", "loopback", "--base-url", base]
    argv += ["--bench", "mathvision", "--data", str(DEMO_DATA), "--limit", "2"]
    argv += ["--max-tokens", "16", "--out", str(out), "--no-progress"]
    assert eval_cli(argv) == 0
    seen = server.stats.authorization
    assert (f"Bearer {OPENAI_KEY}" in seen) if how == "env-key" else any("Basic" in a for a in seen)
    n, hits = leaks(out)
    assert n >= 3 and hits == {}, hits
    printed = capsys.readouterr()
    assert not [s for s in SECRETS if s in printed.out + printed.err]


def test_the_push_plan_takes_no_link_and_nothing_outside(planted, server, tmp_path):
    out = tmp_path / "out"
    assert data_cli(["build", "--card", _write(tmp_path, server), "--out", str(out)]) == 0
    version = out / "demo" / "v1"
    secret = tmp_path / "secret.txt"
    secret.write_text(FILE_SECRET)
    (tmp_path / "secret_dir").mkdir()
    (tmp_path / "secret_dir" / "token").write_text(FILE_SECRET)
    (version / "data" / "leak.txt").symlink_to(secret)
    (version / "figures" / "dir").symlink_to(tmp_path / "secret_dir")
    (version / "escape.txt").symlink_to("../../../secret.txt")
    plan = plan_push(version, "me/demo")
    pushed = {repo_path for _, repo_path in plan.files}
    assert "manifest.json" in pushed and "README.md" in pushed
    assert not pushed & {"data/leak.txt", "figures/dir/token", "escape.txt"}
    assert set(plan.skipped) == {"data/leak.txt", "figures/dir", "escape.txt"}
    uploaded = b"".join(Path(local).read_bytes() for local, _ in plan.files)
    assert not [s for s in SECRETS if s.encode() in uploaded]
    n, hits = leaks(out)
    assert n >= 8 and hits == {}, hits


def _write(tmp_path: Path, server) -> str:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(_build_card(server.base_url)))
    return str(path)


def test_the_loop_manifest_records_card_templates(planted, tmp_path):
    """A loop runs for hours on a GPU; its manifest writer is what records the card, so the
    loop card is loaded and recorded the way `run_loop` does it, without training."""
    from ovlt_cards import find_card
    from ovlt_train.cards import card_dict
    from ovlt_train.loop import load_loop_card
    from ovlt_train.manifest import Manifest, digest

    raw = yaml.safe_load((REPO / "ovlt_cards" / "loop_demo.yaml").read_text())
    for key in ("data_card", "sft_card", "grpo_card"):
        raw[key] = str(find_card(raw[key]))  # `cards/...`: the bundled card
    work = tmp_path / "loop"
    raw["work_dir"] = str(work)
    url = f"http://u:${{OVLT_TEST_SECRET}}@127.0.0.1:9/v1?api_key={URL_QUERY}"
    raw["eval_options"] = {"engine": "openai", "base_url": url}
    raw["data_overrides"]["models.policy.revision"] = "${OVLT_TEST_SECRET}"
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(raw))
    card = load_loop_card(path, None)
    assert ENV_SECRET in card.eval_options["base_url"]  # not vacuous: the code sees the value
    m = Manifest.open(work, name=card.name, card=card_dict(card), card_digest=digest({}))
    m.start("r1.data", {"round": 1, "base_url": card.eval_options["base_url"]})
    m.fail("r1.data", f"cannot reach {card.eval_options['base_url']} with {ENV_SECRET}")
    n, hits = leaks(work)
    assert n >= 1 and hits == {}, hits
    text = (work / "loop_manifest.json").read_text()
    assert "${OVLT_TEST_SECRET}" in text and "api_key=***" in text


def test_a_checkpoint_record_keeps_the_card_template(planted, tmp_path):
    """`save_checkpoint` writes `ovlt_train.json` beside the weights (pushed with them)."""
    from ovlt_train.cards import SFTCard, card_dict, load_card
    from ovlt_train.model_io import save_checkpoint

    path = tmp_path / "sft.yaml"
    raw = yaml.safe_load((REPO / "ovlt_cards" / "train" / "sft.yaml").read_text())
    raw["attn_implementation"] = "${OVLT_TEST_SECRET}"
    path.write_text(yaml.safe_dump(raw))
    card = load_card(SFTCard, path)
    assert card.attn_implementation == ENV_SECRET
    nothing = SimpleNamespace(save_model=lambda _: None, save_pretrained=lambda _: None)
    trainer = SimpleNamespace(
        save_model=nothing.save_model,
        accelerator=SimpleNamespace(is_main_process=True, unwrap_model=lambda m: m),
        model=SimpleNamespace(),
    )
    out = tmp_path / "ckpt"
    out.mkdir()
    save_checkpoint(trainer, nothing, out, {"card": card_dict(card), "note": ENV_SECRET})
    n, hits = leaks(out)
    assert n == 1 and hits == {}, hits
    assert '"attn_implementation": "${OVLT_TEST_SECRET}"' in (out / "ovlt_train.json").read_text()


@pytest.mark.parametrize(
    "url, want",
    [
        ("http://u:KEY@host:8000/v1", "http://***@host:8000/v1"),
        ("https://h/v1?api_key=K&x=1", "https://h/v1?api_key=***&x=***"),
        ("http://h/v1?token=T", "http://h/v1?token=***"),
        ("http://h:1/v1", "http://h:1/v1"),
    ],
)
def test_redact_url(url, want):
    assert redact_url(url) == want
    assert redact_text(f"cannot reach {url}: refused") == f"cannot reach {want}: refused"


def test_redact_masks_secret_keys_and_env_values(planted):
    got = redact({"api_key": "x", "hf_token": None, "max_tokens": 5, "note": f"k={HF_KEY}"})
    assert got == {"api_key": "***", "hf_token": None, "max_tokens": 5, "note": "k=***"}
