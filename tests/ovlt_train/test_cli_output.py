"""What a person sees from `ovlt-train`: help for every option, one-line notes instead of
tracebacks, trainer logs in a file, the loop's table and plot in percentages."""

from __future__ import annotations

import argparse
import json

import pytest

from ovlt_train.cli import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_subcommand_and_option_has_help_and_shows_its_default():
    parser = build_parser()
    subs = _subparsers(parser)
    assert set(subs) == {"sft", "grpo", "loop", "cards"}
    for name, sub in [("ovlt-train", parser), *subs.items()]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction) or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings}: no help"
        text = sub.format_help()
        if name == "loop":
            assert "(default: cards/loop.yaml)" in text
        if name in ("sft", "grpo"):
            assert f"(default: cards/train/{name}.yaml)" in text
            assert f"checkpoints/{name}-<model name>" in text
        assert "(default: None)" not in text and "(default: False)" not in text


def test_a_launched_training_step_gets_the_same_arguments_as_the_in_process_call():
    from ovlt_train.loop import training_argv

    kwargs = dict(
        data="runs/r1/data@grpo_medium",
        model="runs/r1/sft",
        card_path="cards/train/grpo.yaml",
        overrides={"bf16": False, "curriculum": [{"config": "grpo_medium", "max_steps": 2}]},
        out_dir="runs/round1",
        curriculum="grpo_medium",
    )
    args = build_parser().parse_args(training_argv("grpo", progress=False, **kwargs))
    assert (args.command, args.data, args.model, args.card, args.out, args.curriculum) == (
        "grpo",
        kwargs["data"],
        kwargs["model"],
        kwargs["card_path"],
        kwargs["out_dir"],
        "grpo_medium",
    )
    assert args.no_progress
    from ovlt_train.cards import apply_overrides

    assert apply_overrides({}, args.overrides) == kwargs["overrides"]


def test_bf16_falls_back_to_float32_with_a_one_line_note_where_there_is_none(
    train_data, tiny_model_dir, tmp_path, capsys
):
    from ovlt_train.cards import SFTCard, load_card
    from ovlt_train.cli import main
    from ovlt_train.model_io import bf16_available, fit_precision

    card = load_card(SFTCard, "cards/train/sft.yaml")
    assert card.bf16  # the default card is the paper's GPUs
    fitted, note = fit_precision(card)
    assert fitted.bf16 == bf16_available() and (note is None) == bf16_available()
    off = load_card(SFTCard, "cards/train/sft.yaml", ["bf16=false"])
    assert fit_precision(off) == (off, None)
    if bf16_available():
        return
    # the default card (bf16) trains here, saying so in one line: no traceback, no refusal
    argv = ["sft", "--data", str(train_data["sft_file"]), "--model", str(tiny_model_dir)]
    argv += ["--out", str(tmp_path / "ckpt"), "--no-progress"]
    for setting in ("max_steps=1", "global_batch_size=2", "per_device_batch_size=2"):
        argv += ["--set", setting]
    argv += ["--set", "image_max_pixels=3136", "--set", "max_length=512"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "bf16" in line] == [f"ovlt-train sft: {note}"]
    record = json.loads((tmp_path / "ckpt" / "ovlt_train.json").read_text())
    assert record["card"]["bf16"] is False  # the record says what ran


def test_trainer_logs_go_to_a_file_not_stdout(sft_run):
    out = sft_run["out"]
    lines = (out / "train_log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    losses = [r for r in records if "loss" in r]
    assert losses and all(isinstance(r["step"], int) for r in losses)
    assert len(losses) == len(sft_run["record"]["loss_curve"])


class _Manifest:
    def __init__(self, work, steps):
        self.work_dir = work
        self._steps = steps

    def step(self, step_id):
        return self._steps.get(step_id, {})


def test_loop_summary_is_in_percent_says_n_and_k_and_when_the_model_is_random(
    tmp_path, tiny_model_dir
):
    pytest.importorskip("matplotlib")
    from ovlt_train.loop import Step
    from ovlt_train.summary import is_random_model, write_summary

    steps = [
        Step("r0.eval.base", 0, "eval", target="base"),
        Step("r1.eval.grpo", 1, "eval", target="r1.grpo_hard"),
    ]
    scores = {"mathvision": {"accuracy": 12.5, "n": 8}}
    manifest = _Manifest(
        tmp_path,
        {
            "r0.eval.base": {"status": "done", "result": {"label": "base", "scores": scores}},
            "r1.eval.grpo": {"status": "done", "result": {"label": "GRPO-Iter1", "scores": {}}},
        },
    )
    assert is_random_model(tiny_model_dir) and not is_random_model(tmp_path)
    table = write_summary(manifest, steps, ["mathvision"], k=1, random=True)
    assert "mathvision (n=8)" in table and "12.5 |" in table and "mean nothing" in table
    saved = json.loads((tmp_path / "loop_summary.json").read_text())
    assert saved["unit"] == "percent" and saved["random_model"] is True
    assert saved["rows"][0]["scores"]["mathvision"]["accuracy"] == 12.5
    assert (tmp_path / "loop_summary.png").stat().st_size > 1000


def test_the_loop_plot_is_a_percentage_axis_even_when_every_score_is_zero():
    """Issue 19 item 6: all-zero scores were drawn on an axis from -0.04 to 0.04 "accuracy (%)"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ovlt_train.summary import figure

    rows = [
        {"label": label, "scores": {"mathvision": {"accuracy": 0.0, "n": 6}}}
        for label in ("base", "r1.sft", "r1.grpo")
    ]
    fig = figure(plt, rows, ["mathvision"], random=True)
    ax = fig.axes[0]
    assert ax.get_ylim() == (-3.0, 105.0) and list(ax.get_yticks()) == [0, 20, 40, 60, 80, 100]
    assert ax.get_ylabel() == "accuracy (%)"
    assert [t.get_text() for t in ax.texts] == ["0.0", "0.0", "0.0"]  # each point's value
    plt.close(fig)
