"""Issue 10 items 5 and 7 (cards): a YAML alias bomb and a card that is not UTF-8 are one line,
exit 2, through every command that reads a card — never a minute of CPU, gigabytes of memory or
a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ovlt_data.card_io import MAX_CARD_NODES, read_yaml
from ovlt_eval.errors import UserError

# 9 levels of 9 aliases: 9**9 (387 million) strings once expanded, from 9 lines of text.
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
# The CLIs, each reading only its card: none gets as far as data, a model or a server.
COMMANDS = {
    "data build": ["ovlt_data.cli", "build", "--no-progress", "--card"],
    "train sft": ["ovlt_train.cli", "sft", "--print-config", "--card"],
    "train loop": ["ovlt_train.cli", "loop", "--dry-run", "--card"],
}
# The child reports its own peak memory in KiB after the command returns: VmHWM, which exec
# resets (ru_maxrss would carry the forking pytest's size over).
RUN = (
    "import runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__')\n"
    "except SystemExit as e:\n"
    "    code = e.code\n"
    "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM')]\n"
    "print(hwm[0].split()[1])\n"
    "sys.exit(code)\n"
)


def _run(command: str, card) -> tuple[int, str, int]:
    """(exit code, stderr, peak KiB); the old code ran past 60 s, so 30 s is a failure."""
    argv = [sys.executable, "-c", RUN, *COMMANDS[command], str(card)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return out.returncode, out.stderr.strip(), int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform != "linux", reason="peak memory read from /proc")
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_alias_bomb_is_one_line_without_the_memory(tmp_path, command):
    card = tmp_path / "bomb.yaml"
    card.write_text(BOMB)
    assert len(BOMB.splitlines()) == 9 and card.stat().st_size < 1000
    rc, err, peak_kib = _run(command, card)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "YAML aliases" in err and str(card) in err
    assert peak_kib < 600 * 1024  # the imports alone; the bomb took 1.8 GB in 60 s


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    "content", [b"\xff\xfen\x00a\x00m\x00e\x00", "name: caf\xe9\n".encode("latin-1")]
)
def test_a_card_that_is_not_utf8_is_one_line(tmp_path, command, content):
    card = tmp_path / "card.yaml"
    card.write_bytes(content)
    rc, err, _ = _run(command, card)
    assert rc == 2 and err.endswith("not UTF-8 text") and len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    "text, what",
    [
        ("a: &a [1, *a]\n", "refers to its own anchor"),
        ("[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ],
)
def test_recursive_and_deep_cards_are_one_line(tmp_path, text, what):
    card = tmp_path / "card.yaml"
    card.write_text(text)
    with pytest.raises(UserError, match=what):
        read_yaml(card)


def test_a_card_may_still_use_a_few_aliases(tmp_path):
    card = tmp_path / "card.yaml"
    card.write_text("s: &s {temperature: 0.6, top_p: 0.95}\nm: {a: *s, b: *s}\n")
    assert read_yaml(card)["m"]["b"] == {"temperature": 0.6, "top_p": 0.95}
    wide = tmp_path / "wide.yaml"  # just under the bound: loads
    wide.write_text("a: &a [" + ",".join(["1"] * 999) + "]\nb: [" + ",".join(["*a"] * 99) + "]\n")
    assert len(read_yaml(wide)["b"]) == 99 and 99 * 1000 < MAX_CARD_NODES
