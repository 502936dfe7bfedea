"""What a card or a launcher needs installed, checked before any data is read or model loaded:
`flash_attention_2` needs flash-attn, a DeepSpeed card or accelerate config needs deepspeed (the
`[gpu]` extra), a launcher needs accelerate. Each missing one is one line naming the extra, not
accelerate's `ImportError: DeepSpeed is not installed` after minutes of set-up."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ovlt_eval.errors import require_module


def check_training_card(card: Any, what: str) -> None:
    if getattr(card, "attn_implementation", None) == "flash_attention_2":
        require_module("flash_attn", f"{what}: attn_implementation flash_attention_2")
    if getattr(card, "deepspeed", None):
        require_module("deepspeed", f"{what}: deepspeed {card.deepspeed}")


def launcher_command(launcher: list[str]) -> list[str]:
    """The launcher as it will run: `python` is this interpreter, `accelerate` this
    environment's accelerate (an inactive venv has no `accelerate` on PATH), and every
    `cards/...` argument the card it names (bundled unless the file exists here)."""
    from ovlt_cards import find_card

    head, *rest = launcher
    if head == "python":
        prefix = [sys.executable]
    elif head == "accelerate" and rest[:1] == ["launch"]:
        prefix, rest = [sys.executable, "-m", "accelerate.commands.launch"], rest[1:]
    else:
        prefix = [head]
    args = [str(find_card(a)) if a.startswith("cards/") else a for a in rest]
    return [*prefix, *args]


def check_launcher(launcher: list[str] | None) -> None:
    if not launcher:
        return
    if launcher[0] == "accelerate":
        require_module("accelerate", "launcher accelerate")
    cmd = launcher_command(launcher)
    for flag in ("--config_file", "--config-file"):
        if flag in cmd[:-1]:
            config = Path(cmd[cmd.index(flag) + 1])
            text = config.read_text(errors="replace") if config.is_file() else ""
            if "DEEPSPEED" in text:
                require_module("deepspeed", f"launcher config {config} (DeepSpeed)")
