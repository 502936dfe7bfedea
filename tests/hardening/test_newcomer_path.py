"""Issue 19: the path a new user walks — every `--help`, a command whose optional library is not
installed, a closed pipe, the default cards from any folder and from a wheel."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ovlt_eval.benchmarks import BENCHMARKS

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _parsers():
    from ovlt_data.cli import _parser as data_parser
    from ovlt_eval.cli import build_parser as eval_parser
    from ovlt_train.cli import build_parser as train_parser

    return {"ovlt-eval": eval_parser(), "ovlt-data": data_parser(), "ovlt-train": train_parser()}


def _walk(prog: str, parser: argparse.ArgumentParser):
    yield [prog], parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for rest, p in _walk(name, sub):
                    yield [prog, name, *rest[1:]], p


def test_every_help_page_renders_and_every_bench_option_lists_every_benchmark(capsys):
    pages = 0
    for prog, parser in _parsers().items():
        for path, sub in _walk(prog, parser):
            with pytest.raises(SystemExit) as done:
                parser.parse_args([*path[1:], "--help"])
            assert done.value.code == 0, path
            text = capsys.readouterr().out
            assert text.startswith("usage:"), path
            for noise in ("(default: None)", "(default: False)", "(default: [])"):
                assert noise not in text, f"{' '.join(path)} --help shows {noise}"
            pages += 1
            for action in sub._actions:
                if "--bench" in action.option_strings:
                    help_text = " ".join(sub.format_help().split())
                    missing = [b for b in BENCHMARKS if b not in help_text]
                    assert not missing, f"{' '.join(path)} --help does not list {missing}"
    assert pages >= 12  # 3 programs and their sub-commands


def _run_without(module: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The CLI as after a plain `pip install -e .`: importing `module` fails as it would when
    the package is not installed (sys.modules[name] = None makes Python raise
    ModuleNotFoundError for it)."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "import importlib\n"
        "prog, argv = sys.argv[1], sys.argv[2:]\n"
        "mod = {'ovlt-eval': 'ovlt_eval.cli', 'ovlt-train': 'ovlt_train.cli'}[prog]\n"
        "sys.exit(importlib.import_module(mod).main(argv))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.mark.parametrize(
    "module, argv, extra",
    [
        ("torch", ["ovlt-eval", "run", "--model", "M", "--bench", "mathvision"], "hf"),
        ("trl", ["ovlt-train", "sft", "--print-config"], "train"),
        ("trl", ["ovlt-train", "grpo", "--print-config"], "train"),
    ],
)
def test_a_command_whose_extra_is_missing_names_the_extra(module, argv, extra, tmp_path):
    (tmp_path / "M").mkdir()
    (tmp_path / "M" / "config.json").write_text("{}")
    (tmp_path / "D").mkdir()
    (tmp_path / "D" / "train.jsonl").write_text('{"messages": [], "images": []}\n')
    if argv[0] == "ovlt-eval":  # local benchmark files: nothing but the engine is missing
        argv = [*argv, "--data", str(REPO / "ovlt_eval/demo_data/mathvision_sample")]
    proc = _run_without(module, argv, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"needs {module}" in lines[0] and f"'.[{extra}]'" in lines[0], lines[0]


def test_flash_attention_and_deepspeed_cards_name_the_gpu_extra(tmp_path):
    import importlib.util

    from ovlt_eval.errors import UserError
    from ovlt_train.preflight import check_launcher, check_training_card

    class Card:
        attn_implementation = "flash_attention_2"
        deepspeed = None

    if importlib.util.find_spec("flash_attn") is None:
        with pytest.raises(
            UserError, match=r"flash_attention_2: this command needs flash_attn.*\[gpu\]"
        ):
            check_training_card(Card(), "card x")
    if importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(UserError, match=r"DeepSpeed.*needs deepspeed.*\[gpu\]"):
            check_launcher(
                ["accelerate", "launch", "--config_file", "cards/train/accelerate_8gpu_zero3.yaml"]
            )


def test_a_closed_stdout_is_not_a_traceback(tmp_path):
    """`ovlt-train cards | head -1`, made deterministic: the reading end is closed before the
    command writes, so every write meets EPIPE."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [str(BIN / "ovlt-train"), "cards"], stdout=write, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()[-2000:]


def test_the_default_cards_resolve_from_any_folder_and_a_users_card_wins(tmp_path, monkeypatch):
    from ovlt_cards import CARDS_DIR, find_card

    monkeypatch.chdir(tmp_path)
    assert find_card("cards/loop.yaml") == CARDS_DIR / "loop.yaml"
    assert find_card("cards/rounds/round1.yaml") == CARDS_DIR / "rounds" / "round1.yaml"
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "loop.yaml").write_text("kind: loop\n")
    assert find_card("cards/loop.yaml") == Path("cards/loop.yaml")  # the user's own file
    assert find_card("cards/nope.yaml") == Path("cards/nope.yaml")  # missing: said by the reader


def test_a_wheel_ships_the_cards_and_dry_runs_from_an_empty_folder(tmp_path):
    """Build the wheel, install it (no dependencies: they are this environment's, reached by a
    .pth file) into a fresh venv, and dry-run the data factory and the loop from an empty
    folder: the cards come from the installed package, not from this checkout."""
    import shutil

    # a copy of what the wheel is built from: setuptools leaves build/ behind in the tree it
    # builds, and a stale build/lib would ship files the checkout no longer has
    src = tmp_path / "src"
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ovlt_eval", "ovlt_data", "ovlt_train", "ovlt_cards"):
        shutil.copytree(REPO / name, src / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(src)],
        capture_output=True, text=True, timeout=300,
        cwd=tmp_path,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("ovlt-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for card in ("loop.yaml", "loop_demo.yaml", "rounds/round1.yaml", "train/sft.yaml",
                 "train/ds_zero3.json", "train/accelerate_8gpu_zero3.yaml"):  # fmt: skip
        assert f"ovlt_cards/{card}" in names, card
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    site = subprocess.run(
        [str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(vpy), "install", "-q", "--no-deps",
         "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    import sysconfig

    # the dependencies: this environment's site-packages, after the wheel's (a plain path line;
    # the editable install's own .pth there is not processed, so ovlt comes from the wheel)
    Path(site, "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(vpy), "-c", "import ovlt_cards, ovlt_data; print(ovlt_cards.CARDS_DIR, ovlt_data.__file__)"],
        capture_output=True, text=True, cwd=empty, env=env,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr[-2000:]
    assert all(p.startswith(str(venv)) for p in where.stdout.split()), where.stdout
    for argv in (["ovlt-data", "build", "--round", "1", "--dry-run"],
                 ["ovlt-train", "loop", "--dry-run"]):  # fmt: skip
        proc = subprocess.run(
            [str(venv / "bin" / argv[0]), *argv[1:]],
            capture_output=True, text=True, cwd=empty, env=env, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, f"{argv}: {proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr
    assert list(empty.iterdir()) == []  # a dry run writes nothing


@pytest.mark.parametrize(
    "script, args, says",
    [
        ("scripts/reference_agreement.py", ["--bench", "mathvision", "--data", "/nonexistent", "x.jsonl"], "data not found"),
        ("scripts/reference_agreement.py", ["--bench", "nope", "--data", ".", "x.jsonl"], "unknown benchmark"),
        ("bench/score_throughput.py", ["--shared", "/nonexistent"], "data not found"),
        ("bench/hf_batching.py", ["--items", "0"], "--items: 0 is below 1"),
    ],
)  # fmt: skip
def test_scripts_and_benches_say_a_users_mistake_in_one_line(script, args, says, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and says in proc.stderr.strip().splitlines()[-1]
