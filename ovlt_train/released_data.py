"""The authors' released training sets in trl's format: LLaMA-Factory sharegpt (SFT) and EasyR1
`problem` / `answer` / `images` (GRPO) become conversational `messages` / `prompt` + `solution`;
EasyR1's format prompt is appended once, as its trainer renders it."""

from __future__ import annotations

import logging
from typing import Any

from ovlt_data.released_formats import (
    IMAGE_PLACEHOLDER,
    render_format_prompt,
    split_placeholders,
)
from ovlt_eval.errors import UserError

log = logging.getLogger(__name__)


def clean_content(content: Any) -> Any:
    # Arrow structs fill missing keys with None; chat templates expect absent keys.
    if isinstance(content, list):
        return [{k: v for k, v in block.items() if v is not None} for block in content]
    return content


_ROLES = {"human": "user", "gpt": "assistant", "user": "user", "assistant": "assistant"}


def _n_images(example: dict[str, Any]) -> int:
    return len(example.get("images") or [])


def _sharegpt_to_trl(example: dict[str, Any]) -> dict[str, Any]:
    """LLaMA-Factory sharegpt turns -> trl messages with typed parts; the `<image>` placeholders
    of all turns together must number the images (LLaMA-Factory counts over all turns)."""
    turns = example["messages"]
    total = sum(str(t.get("content", t.get("value")) or "").count(IMAGE_PLACEHOLDER) for t in turns)
    n = _n_images(example)
    if total != n:
        return {
            "messages": None,
            "_bad": f"{total} {IMAGE_PLACEHOLDER} placeholder(s) for {n} image(s)",
        }
    out = []
    for t in turns:
        role = t.get("role", t.get("from"))
        if role not in _ROLES:
            # LLaMA-Factory keeps a system prompt in its own column and has no tool turns in
            # this data: such a turn inside the conversation is a malformed row
            return {"messages": None, "_bad": f"a {str(role)[:20]!r} turn (expected human/gpt)"}
        text = t.get("content", t.get("value"))
        out.append({"role": _ROLES.get(role, role), "content": split_placeholders(text or "")})
    return {"messages": out, "_bad": None}


def _easyr1_to_trl(example: dict[str, Any]) -> dict[str, Any]:
    """EasyR1 `problem` / `answer` -> trl `prompt` / `solution` (dataset.py:132-148); the format
    prompt is applied afterwards, by the GRPO card (`with_format_prompt`)."""
    try:
        parts = split_placeholders(str(example["problem"] or ""), _n_images(example))
    except ValueError as err:
        return {"prompt": None, "solution": None, "_bad": str(err)}
    answer = example["answer"]
    if (
        isinstance(answer, bool)
        or not isinstance(answer, str | int | float)
        or not str(answer).strip()
    ):
        # a list or null gold would train against "['a']" / None (EasyR1 reads a string)
        shown = "null" if answer is None else type(answer).__name__
        return {"prompt": None, "solution": None, "_bad": f"answer is {shown}, not text"}
    return {
        "prompt": [{"role": "user", "content": parts}],
        "solution": None if answer is None else str(answer),
        "_bad": None,
    }


def drop_bad_rows(ds, where: str):
    bad = [i for i, b in enumerate(ds["_bad"]) if b]
    if bad:
        log.warning(
            "--data %s: %d/%d rows dropped (first: row %d, %s)",
            where,
            len(bad),
            len(ds),
            bad[0],
            ds[bad[0]]["_bad"],
        )
        keep = sorted(set(range(len(ds))) - set(bad))
        ds = ds.select(keep)
        if len(ds) == 0:
            raise UserError(f"--data {where}: every row was malformed ({len(bad)} dropped)")
    return ds.remove_columns("_bad")


def released_to_trl(ds, fmt: str, *, where: str = "data"):
    """Read LLaMA-Factory (for trl-sft) or EasyR1 (for trl-grpo) rows into the trl columns;
    anything else is returned as it is."""
    if (
        fmt == "trl-grpo"
        and "prompt" not in ds.column_names
        and {"problem", "answer"} <= set(ds.column_names)
    ):
        ds = ds.map(_easyr1_to_trl, remove_columns=["problem", "answer"])
        return drop_bad_rows(ds, where)
    if fmt == "trl-sft" and "messages" in ds.column_names and len(ds):
        feature = ds.features["messages"]
        turn = getattr(feature, "feature", None)
        content = turn.get("content", turn.get("value")) if isinstance(turn, dict) else None
        if type(content).__name__ == "Value" and any(
            IMAGE_PLACEHOLDER in str(t.get("content", t.get("value")) or "")
            for row in ds["messages"]
            for t in row
        ):
            ds = ds.map(_sharegpt_to_trl)
            return drop_bad_rows(ds, where)
    return ds


def _with_suffix(content: Any, suffix: str) -> Any:
    if isinstance(content, str):
        return render_format_prompt(content, suffix)
    parts = [dict(p) for p in content]
    texts = [i for i, p in enumerate(parts) if p.get("type") == "text"]
    if texts and (parts[texts[-1]].get("text") or "").rstrip().endswith(suffix.strip()):
        return parts
    if texts and texts[0] == 0:  # `{{ content | trim }}`: the whole prompt's ends are trimmed
        parts[0]["text"] = (parts[0].get("text") or "").lstrip()
    if parts and parts[-1].get("type") == "text":
        parts[-1]["text"] = (parts[-1].get("text") or "").rstrip() + suffix
    else:
        parts.append({"type": "text", "text": suffix})
    return parts


def with_format_prompt(ds, suffix: str | None):
    """EasyR1's math_format.jinja on every GRPO prompt: the last user turn ends with `suffix`,
    added once (a prompt that already carries it, e.g. from the trl-grpo export, is kept)."""
    if not suffix or len(ds) == 0:
        return ds

    def apply(example):
        turns = [dict(t) for t in example["prompt"]]
        users = [i for i, t in enumerate(turns) if t["role"] == "user"]
        if users:
            last = turns[users[-1]]
            last["content"] = _with_suffix(last["content"], suffix)
        return {"prompt": turns}

    return ds.map(apply)


_TRL_ROLES = frozenset(("system", "user", "assistant"))


def turns_problem(turns: Any) -> str | None:
    """Why `turns` is not a conversation (a list of {role, content} turns), or None."""
    if not isinstance(turns, list) or not turns:
        return f"{type(turns).__name__ if turns is not None else 'null'}, not a list of turns"
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or not isinstance(t.get("role"), str):
            return "a turn without a role"
        if t["role"] not in _TRL_ROLES or (t["role"] == "system" and i > 0):
            return f"a {t['role'][:20]!r} turn (expected user/assistant, system first)"
        content = t.get("content")
        if not isinstance(content, str) and not (
            isinstance(content, list) and all(isinstance(p, dict) for p in content)
        ):
            return "a turn whose content is neither text nor a list of parts"
    return None
