"""Check `--protocol reference` against the reference rules, derived independently.

Published output files (MATH-V's `model_answer`, MathVista's GPT `extraction`) are turned into
OpenVLThinker-style replies in several shapes — the answer in a closed tag, an unclosed tag,
the option text instead of the letter, LaTeX, two answer blocks, a `</answer>` without an
opening tag — and each reply gets two verdicts:

* ovlt's, through `Benchmark.score(..., protocol="reference")` (policy.py, worker processes);
* the reference's, derived here line by line from eval_openvlthinker.py:296-309 and 379-392
  with mathruler called in-process — no ovlt grading code involved.

`scripts/reference_agreement.py` runs it over any such files; a test runs it on ../shared.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.types import BenchItem

SHAPES = (
    "closed_tag",
    "unclosed_tag",
    "option_text",
    "letter",
    "latex",
    "two_blocks_last_right",
    "two_blocks_first_right",
    "close_without_open",
    "empty_tag",
)


@dataclass(frozen=True)
class Case:
    item_id: str
    shape: str
    reply: str


def derived_verdict(reply: str, item: BenchItem) -> bool:
    """eval_openvlthinker.py:379-392, written out as the script has it."""
    from mathruler.grader import grade_answer

    if not (reply and "</answer>" in reply):
        return False  # "Failed to extract."
    answer = reply.split("<answer>")[-1].split("</answer>")[0].strip()
    response = str(item.raw.get("answer", item.gold))
    processed = _process_response(response, item.raw.get("choices"), item.raw.get("options"))
    return processed.lower() == answer.lower() or bool(grade_answer(processed, answer))


def _process_response(response: str, choices: Any, options: Any) -> str:
    """eval_openvlthinker.py:296-309."""
    letters = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]
    if choices is not None:
        try:
            return letters[list(choices).index(response)]
        except (ValueError, TypeError):
            pass
    if options is not None and len(options) > 0:
        try:
            return letters[list(options).index(response)]
        except ValueError:
            pass
    return response


def cases_for(item: BenchItem, answer: str, response: str) -> Iterator[Case]:
    """Reply shapes for one published (response, extracted answer) pair."""
    think = f"<think>\n{response}\n</think>\n"
    tag = f"<answer>{answer}</answer>"
    yield Case(item.id, "closed_tag", f"{think}So the answer follows.\n{tag}")
    yield Case(item.id, "unclosed_tag", f"{think}<answer>{answer}")
    options = [str(o) for o in (item.raw.get("options") or item.raw.get("choices") or [])]
    letter = answer.strip().strip("()").upper()
    if options and len(letter) == 1 and "A" <= letter < chr(65 + len(options)):
        text = options[ord(letter) - 65]
        yield Case(item.id, "option_text", f"{think}<answer>{text}</answer>")
    elif options and answer in options:
        yield Case(
            item.id, "letter", f"{think}<answer>({chr(65 + options.index(answer))})</answer>"
        )
    yield Case(item.id, "latex", f"{think}<answer>${_latex(answer)}$</answer>")
    yield Case(item.id, "two_blocks_last_right", f"<answer>0</answer>\n{think}{tag}")
    yield Case(item.id, "two_blocks_first_right", f"{tag}\n{think}<answer>none</answer>")
    yield Case(item.id, "close_without_open", f"{response}\nFinal: {answer}</answer>")
    yield Case(item.id, "empty_tag", f"{think}<answer></answer>")


def _latex(answer: str) -> str:
    a = answer.strip()
    if "/" in a and a.replace("/", "").replace("-", "").isdigit() and a.count("/") == 1:
        num, den = a.split("/")
        return f"\\frac{{{num}}}{{{den}}}"
    return f"\\text{{{a}}}" if a.isalpha() else a


def agreement(
    bench: Benchmark, items: Sequence[BenchItem], pairs: Iterable[tuple[str, str, str]]
) -> dict[str, Any]:
    """`pairs` = (item id, published response, published extracted answer). Returns counts
    per shape and the disagreeing cases."""
    by_id = {it.id: it for it in items}
    total: Counter[str] = Counter()
    agree: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    mismatches: list[dict[str, Any]] = []
    for item_id, response, answer in pairs:
        item = by_id.get(item_id)
        if item is None:
            continue
        for case in cases_for(item, answer, response):
            ours = bench.score(item, case.reply, protocol="reference")
            theirs = derived_verdict(case.reply, item)
            total[case.shape] += 1
            correct[case.shape] += theirs
            if bool(ours.correct) == theirs:
                agree[case.shape] += 1
            else:
                mismatches.append(
                    {
                        "id": item.id,
                        "shape": case.shape,
                        "ours": ours.correct,
                        "status": ours.status,
                        "reference": theirs,
                        "extracted": ours.extracted,
                    }
                )
    n = sum(total.values())
    return {
        "cases": n,
        "agreement": round(100.0 * sum(agree.values()) / n, 3) if n else None,
        "by_shape": {
            s: {"n": total[s], "agree": agree[s], "reference_correct": correct[s]}
            for s in SHAPES
            if total[s]
        },
        "mismatches": mismatches,
    }


def published_pairs(path: str | Path) -> list[tuple[str, str, str]]:
    """(id, response, extracted answer) from a MATH-V output .jsonl (`model_answer`) or a
    MathVista output .json keyed by pid (`extraction`)."""
    p = Path(path)
    if p.suffix == ".jsonl":
        rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line]
        return [
            (str(r["id"]), str(r.get("response") or ""), str(r.get("model_answer") or ""))
            for r in rows
        ]
    data = json.loads(p.read_text(encoding="utf-8"))
    return [
        (str(pid), str(r.get("response") or ""), str(r.get("extraction") or ""))
        for pid, r in data.items()
    ]
