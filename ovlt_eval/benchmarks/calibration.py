"""Agreement of our per-item verdicts with the benchmark authors' published ones.

Used by `scripts/calibration_report.py` and the calibration test. A disagreement is put in
a category by a fixed rule, so that the cases where the *official* verdict is the wrong one
are named and counted instead of being copied into the scorer.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.mathvision import clean_gold
from ovlt_eval.benchmarks.mathvista import nearest_option
from ovlt_eval.benchmarks.scoring import score_predictions

# Categories in which the official verdict is wrong (checked by rule, examples in the report).
OFFICIAL_ERRORS = {
    "official: letter followed by option text not recognised ('(D) 105' read as 'd105')",
    "official: option written in LaTeX/units never matched ('$8 \\mathrm{~kg}$' vs '8 kg')",
    "official: gold annotation slip ('$\\boxed{..}$', form feed, '{degrees}')",
    "official: 2-decimal rounding equates different small numbers (1/300 = 1/900)",
    "official: option text '(b)' parsed as letter B",
    "official: non-answer credited through the nearest-option fallback",
    "official: GPT extraction names another option than the response states",
}


@dataclass
class Agreement:
    file: str
    n: int
    agree: int
    ours_correct: int
    official_correct: int
    categories: Counter = field(default_factory=Counter)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def agreement(self) -> float:
        return 100.0 * self.agree / self.n

    @property
    def agreement_excluding_official_errors(self) -> float:
        official_wrong = sum(v for k, v in self.categories.items() if k in OFFICIAL_ERRORS)
        return 100.0 * (self.agree + official_wrong) / self.n

    @property
    def ours(self) -> float:
        return 100.0 * self.ours_correct / self.n

    @property
    def official(self) -> float:
        return 100.0 * self.official_correct / self.n


def _agreement(name, bench, split, items, preds, official, classify) -> Agreement:
    samples, _ = score_predictions(bench, split, items, preds)
    by_id = {it.id: it for it in items}
    result = Agreement(name, 0, 0, 0, 0)
    for s in samples:
        if s["id"] not in official:
            continue
        off = official[s["id"]]
        result.n += 1
        result.ours_correct += s["correct"]
        result.official_correct += bool(off["correct"])
        if s["correct"] == bool(off["correct"]):
            result.agree += 1
            continue
        cat = classify(by_id[s["id"]], s, off)
        result.categories[cat] += 1
        ex = result.examples.setdefault(cat, [])
        if len(ex) < 3:
            ex.append(
                {
                    "id": s["id"],
                    "gold": by_id[s["id"]].gold,
                    "ours": s["extracted"],
                    "ours_correct": s["correct"],
                    "official": off.get("shown"),
                    "official_correct": bool(off["correct"]),
                    "response_tail": (off.get("response") or "")[-160:],
                }
            )
    return result


# ------------------------------------------------------------------ MathVision


def mathvision_agreement(bench: Benchmark, items, path: Path) -> Agreement:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    preds = {str(r["id"]): r["response"] for r in rows}
    official = {
        str(r["id"]): {
            "correct": r["correct"],
            "shown": r.get("model_answer"),
            "response": r["response"],
        }
        for r in rows
    }
    return _agreement(path.stem, bench, "test", items, preds, official, _classify_mathvision)


def _classify_mathvision(item, sample, off) -> str:
    model_answer = str(off.get("shown") or "")
    raw_gold = str(item.raw.get("answer", ""))
    if clean_gold(raw_gold) != raw_gold.strip():
        return "official: gold annotation slip ('$\\boxed{..}$', form feed, '{degrees}')"
    if sample["correct"] and item.choices:
        gold_letter = item.gold.lower()
        option = item.choices[ord(item.gold) - ord("A")]
        if (
            model_answer.startswith(gold_letter)
            and len(model_answer) > 1
            and sample["extracted"] == item.gold
        ):
            return (
                "official: letter followed by option text not recognised ('(D) 105' read as 'd105')"
            )
        if re.search(r"\$|\\mathrm|\\circ|\\frac", option):
            return "official: option written in LaTeX/units never matched ('$8 \\mathrm{~kg}$' vs '8 kg')"
    if not sample["correct"] and off["correct"]:
        if _small_rounding(model_answer, item):
            return "official: 2-decimal rounding equates different small numbers (1/300 = 1/900)"
        if sample["extracted"] and re.search(
            r"\([A-E]\).*\([A-E]\)|^[A-E](\s*(,|and)\s*[A-E])+", sample["extracted"]
        ):
            return "ours: several options named, official took one"
    if sample["status"] == "no_answer":
        return "ours: no answer found"
    return "other (extraction differs)"


def _small_rounding(model_answer: str, item) -> bool:
    from fractions import Fraction

    def value(s: str):
        m = re.fullmatch(
            r"\\frac\{(\d+)\}\{(\d+)\}|(\d+)/(\d+)|(-?\d*\.?\d+)", s.strip().strip("$")
        )
        if not m:
            return None
        if m.group(1):
            return Fraction(int(m.group(1)), int(m.group(2)))
        if m.group(3):
            return Fraction(int(m.group(3)), int(m.group(4)))
        return Fraction(m.group(5))

    gold = item.choices[ord(item.gold) - ord("A")] if item.choices else item.gold
    a, b = value(model_answer), value(clean_gold(gold))
    return (
        a is not None
        and b is not None
        and a != b
        and abs(a) < 1
        and round(float(a), 2) == round(float(b), 2)
    )


# ------------------------------------------------------------------ MathVista


def mathvista_agreement(bench: Benchmark, items, path: Path, field_name: str) -> Agreement:
    """`field_name` "response" (rules only, from the raw text) or "extraction" (the official
    GPT extraction fed in as the response: isolates normalisation and comparison)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    preds = {str(pid): rec[field_name] for pid, rec in data.items()}
    official = {
        str(pid): {
            "correct": rec["true_false"],
            "shown": rec.get("extraction"),
            "response": rec.get("response"),
        }
        for pid, rec in data.items()
    }
    name = f"{path.stem} ({field_name})"
    return _agreement(name, bench, "testmini", items, preds, official, _classify_mathvista)


def _states(response: str, option_text: str, letter: str) -> bool:
    """The response's last line names this option (by text or by "(X)")."""
    lines = [ln for ln in response.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    return f"({letter})" in last or (len(option_text) > 0 and option_text in last)


_NON_ANSWER = re.compile(
    r"^(n/?a|none|null|unknown|not (?:applicable|available|possible|determinable)|cannot be determined|"
    r"impossible|insufficient|no answer)|sorry|cannot|can't|unable|not enough|insufficient|impossible|"
    r"not provided|without (?:the|specific|more|additional)|please provide",
    re.IGNORECASE,
)


def _classify_mathvista(item, sample, off) -> str:
    extraction = str(off.get("shown") or "").strip()
    if item.kind == "multi_choice" and item.choices:
        letters = [chr(ord("A") + i) for i in range(len(item.choices))]
        paren = re.findall(r"\(([a-zA-Z])\)", extraction)
        if paren and extraction in item.choices and paren[0].upper() in letters:
            return "official: option text '(b)' parsed as letter B"
        named = extraction in item.choices or extraction in letters or bool(paren)
        ours = sample["extracted"]
        if (
            ours in letters
            and extraction in letters
            and ours != extraction
            and sample["how"]
            in ("answer_is", "boxed", "option_letter", "option_text", "answer_tag")
            and _states(off.get("response") or "", item.choices[letters.index(ours)], ours)
        ):
            return "official: GPT extraction names another option than the response states"
        if off["correct"] and not named and nearest_option(extraction, item.choices) == item.gold:
            if _NON_ANSWER.search(extraction) or not extraction:
                return "official: non-answer credited through the nearest-option fallback"
            return "official nearest-option fallback on a non-option answer"
    if sample["status"] == "no_answer":
        return "ours: no answer found"
    if sample["how"].startswith("last_number"):
        return "ours: last-number fallback picked another number"
    return "other (extraction differs)"
