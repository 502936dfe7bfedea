"""The one card loader (files, environment, `--set`, one-line errors), paths inside a card, the
one atomic writer, and `ovlt-data`'s help."""

import argparse
import json
import shutil

import pytest

from ovlt_data.build import make_stages, plan
from ovlt_data.card import load_card
from ovlt_data.card_io import apply_overrides, read_card, resolve_card_path
from ovlt_data.stages import BuildContext
from ovlt_eval.atomic import atomic_open, write_atomic, write_json_atomic
from ovlt_eval.errors import UserError
from ovlt_train.cards import SFTCard
from ovlt_train.cards import load_card as load_train_card

from .helpers import DEMO


def test_a_copied_demo_card_works_from_any_folder(tmp_path, monkeypatch):
    """Relative paths resolve against the card's folder or the bundled data, never the cwd."""
    elsewhere, cwd = tmp_path / "my_cards", tmp_path / "somewhere_else"
    elsewhere.mkdir()
    cwd.mkdir()
    copied = elsewhere / "demo.yaml"
    shutil.copy(DEMO, copied)
    (elsewhere / "items.jsonl").write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": "2+2?", "answer": "4"}) + "\n" for i in range(3)
        )
    )
    text = copied.read_text().replace(
        "sources:\n",
        "sources:\n  - {name: mine, kind: local, pool: sft, path: items.jsonl}\n",
    )
    copied.write_text(text)
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("OVLT_DEMO_MATHVISION", raising=False)
    p = plan(copied)
    assert {s["name"]: s["rows"] for s in p["sources"]}["mine"] == 3  # next to the card
    card = load_card(copied)
    decon = make_stages(card, BuildContext(card, None, {}, elsewhere))[0]
    assert decon.name == "decontaminate"
    decon.prepare()  # the bundled MathVision sample, though the card moved
    assert decon.loaded["mathvision/testmini"] > 0


def test_card_paths_prefer_the_cards_folder_then_bundled_data(tmp_path):
    bundled = "ovlt_eval/demo_data/mathvision_sample"
    assert resolve_card_path(bundled, tmp_path).is_dir()  # nothing next to the card: bundled
    (tmp_path / "ovlt_eval" / "demo_data" / "mathvision_sample").mkdir(parents=True)
    assert resolve_card_path(bundled, tmp_path) == tmp_path / bundled  # the card's own wins
    assert resolve_card_path("missing.jsonl", tmp_path) == tmp_path / "missing.jsonl"
    assert resolve_card_path("/abs/x.jsonl", tmp_path).as_posix() == "/abs/x.jsonl"


def test_overrides_environment_and_limits(tmp_path, monkeypatch):
    card = tmp_path / "c.yaml"
    card.write_text("a: {b: [1, {c: x}]}\nd: ${OVLT_TEST_D:-fallback}\n")
    raw = read_card(card, ["a.b.1.c=y", "e=[1, 2]"])
    assert raw == {"a": {"b": [1, {"c": "y"}]}, "d": "fallback", "e": [1, 2]}
    monkeypatch.setenv("OVLT_TEST_D", "set")
    assert read_card(card)["d"] == "set"
    with pytest.raises(UserError, match="not an index"):
        apply_overrides({"a": [1]}, ["a.5=2"])
    with pytest.raises(UserError, match="key=value"):
        apply_overrides({}, ["novalue"])
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "y" * (2 << 20))
    with pytest.raises(UserError, match="is this a card"):
        read_card(big)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping"):
        read_card(listed)


def test_data_and_training_cards_fail_in_the_same_words(tmp_path):
    with pytest.raises(UserError) as data_err:
        load_card(DEMO, ["batch_size=0"])
    with pytest.raises(UserError) as train_err:
        load_train_card(SFTCard, None, ["per_device_batch_size=0"])
    assert f"card {DEMO}: field batch_size: " in str(data_err.value)
    assert "SFTCard: field per_device_batch_size: " in str(train_err.value)
    with pytest.raises(UserError, match=r"field stages\[5\]\.max_words: "):
        load_card(DEMO, ["stages.5.max_words=-1"])
    assert load_card(DEMO, ["version=v9"]).version == "v9"


def test_the_atomic_writer_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "f.json"
    write_json_atomic(path, {"k": 1})
    with pytest.raises(RuntimeError), atomic_open(path) as fh:
        fh.write('{"k": 2, "half')
        raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"k": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left
    write_atomic(path, "\udcff", errors="backslashreplace")
    assert path.read_text() == "\\udcff"


def _actions(parser: argparse.ArgumentParser, where: str = "ovlt-data"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{where} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield where, action


def test_every_ovlt_data_option_has_help_defaults_and_choices(capsys):
    from ovlt_data.cli import _parser

    parser = _parser()
    for where, action in _actions(parser):
        assert action.help, f"{where} {action.dest}: no help text"
    for name in ("build", "merge", "export", "inspect", "diff"):
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        text = capsys.readouterr().out
        assert "usage: ovlt-data " + name in text
        if name == "build":
            assert "(default: out/data)" in text and "--set KEY=VALUE" in text
        if name == "export":
            assert "{trl-sft,trl-grpo,llamafactory,easyr1}" in text


def test_dry_run_takes_overrides(capsys):
    from ovlt_data.cli import main

    assert main(["build", "--card", str(DEMO), "--dry-run", "--set", "version=v7"]) == 0
    assert "plan: demo v7" in capsys.readouterr().out
    assert main(["build", "--card", str(DEMO), "--dry-run", "--set", "sources.0.n=zero"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "field sources[0].n" in err[0]
