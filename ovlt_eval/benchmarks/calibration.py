"""Agreement of our `official` protocol with the benchmark authors' published verdicts.

Used by `scripts/calibration_report.py` and the calibration tests. For each official output
file: how often our official-protocol verdict equals the published one (the reproduction
check), our accuracy under both protocols beside the published accuracy, and
  * `protocol_categories`: items where the official verdict and our corrected verdict differ,
    by the scorer's own `disagreement` category (where the official evaluator is itself
    wrong: a letter followed by its option text, options in LaTeX, 2-decimal rounding, ...);
  * `residual_categories`: items where our official protocol still disagrees with the
    published verdict, put in a category by a fixed rule (for MathVista mostly the GPT-4
    extraction reading a response differently from any rule);
  * `disagreements`: every such item, with its category; a published verdict that MATH-V's
    current code no longer gives (`STALE_VERDICTS`) is named as stale, not fitted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.scoring import score_predictions
from ovlt_eval.predictions import load_predictions

_EXAMPLES = 3

# Published MATH-V verdicts that the current official code (evaluation/evaluate.py + utils.py
# at mathllm/MATH-V a1f5cc3, with latex2sympy2 1.9.1) does not give: each was checked by
# running that code unchanged on the published file. Keyed by (file stem, item id).
STALE_VERDICTS: dict[tuple[str, str], str] = {
    ("Gemini-Pro", "3013"): (
        "published False for model_answer '4/3' against gold '\\frac{4}{3}'; the current "
        "is_equal evaluates both to 1.33 and says True (the stored verdict predates it)"
    ),
}
STALE = "stale published verdict"


@dataclass
class Agreement:
    file: str
    n: int = 0
    agree: int = 0
    official_correct: int = 0  # the published verdicts
    ours_official_correct: int = 0
    ours_corrected_correct: int = 0
    protocol_categories: Counter = field(default_factory=Counter)
    protocol_examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    residual_categories: Counter = field(default_factory=Counter)
    residual_examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    disagreements: list[dict[str, Any]] = field(default_factory=list)  # each, with its reason

    @property
    def stale(self) -> int:
        return self.residual_categories[STALE]

    @property
    def agreement_without_stale(self) -> float:
        return 100.0 * (self.agree + self.stale) / self.n

    @property
    def agreement(self) -> float:
        return 100.0 * self.agree / self.n

    @property
    def official(self) -> float:
        return 100.0 * self.official_correct / self.n

    @property
    def ours_official(self) -> float:
        return 100.0 * self.ours_official_correct / self.n

    @property
    def ours_corrected(self) -> float:
        return 100.0 * self.ours_corrected_correct / self.n


def _example(item, sample, off) -> dict[str, Any]:
    return {
        "id": sample["id"],
        "gold": item.gold,
        "official_extracted": sample["extracted_official"],
        "official_verdict": sample["correct_official"],
        "corrected_extracted": sample["extracted_corrected"],
        "corrected_verdict": sample["correct_corrected"],
        "published": off.get("shown"),
        "published_verdict": bool(off["correct"]),
        "response_tail": (off.get("response") or "")[-160:],
    }


def _agreement(name, bench, split, items, preds, official, classify) -> Agreement:
    samples, _ = score_predictions(bench, split, items, preds, protocol="official")
    by_id = {it.id: it for it in items}
    result = Agreement(name)
    for s in samples:
        if s["id"] not in official:
            continue
        off, item = official[s["id"]], by_id[s["id"]]
        result.n += 1
        result.official_correct += bool(off["correct"])
        result.ours_official_correct += bool(s["correct_official"])
        result.ours_corrected_correct += bool(s["correct_corrected"])
        if s["disagreement"]:
            cat = s["disagreement"]
            result.protocol_categories[cat] += 1
            ex = result.protocol_examples.setdefault(cat, [])
            if len(ex) < _EXAMPLES:
                ex.append(_example(item, s, off))
        if bool(s["correct_official"]) == bool(off["correct"]):
            result.agree += 1
            continue
        stale = STALE_VERDICTS.get((name, s["id"]))
        cat = STALE if stale else classify(item, s, off)
        result.residual_categories[cat] += 1
        result.disagreements.append(dict(_example(item, s, off), reason=stale or cat))
        ex = result.residual_examples.setdefault(cat, [])
        if len(ex) < _EXAMPLES:
            ex.append(_example(item, s, off))
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
    if sample["extracted_official"] != off.get("shown"):
        return "model_answer differs (extraction)"
    return "same model_answer, is_equal differs"


# ------------------------------------------------------------------ MathVista


def mathvista_agreement(bench: Benchmark, items, path: Path, field_name: str) -> Agreement:
    """`field_name` "response": rules only, from the raw text (the published extraction is
    dropped); "extraction": the file read as `ovlt-eval score` reads it, so each row's
    published GPT `extraction` is normalised verbatim (isolates normalisation and
    comparison). Rows without a published `true_false` are left out."""
    data = json.loads(path.read_text(encoding="utf-8"))
    preds = load_predictions(path, id_fields=(bench.id_field,))
    if field_name != "extraction":
        preds = {pid: replace(p, extraction=None) for pid, p in preds.items()}
    official = {
        str(pid): {
            "correct": rec["true_false"],
            "shown": rec.get("extraction"),
            "response": rec.get("response"),
        }
        for pid, rec in data.items()
        if "true_false" in rec
    }
    name = f"{path.stem} ({field_name})"
    return _agreement(name, bench, "testmini", items, preds, official, _classify_mathvista)


def _states(response: str, option_text: str, letter: str) -> bool:
    """The response's last line names this option (by text or by "(X)")."""
    lines = [ln for ln in response.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    return f"({letter})" in last or (len(option_text) > 0 and option_text in last)


def _stale_integer_verdict(item, published: str, published_verdict: bool) -> bool:
    """A published False that today's `calculate_score.py` (`str(int(float(x)))`) turns True
    and an older `str(int(x))` left False ("5.0", "1.5" for gold 5, 1): a stale verdict."""
    if published_verdict or item.raw.get("answer_type") != "integer":
        return False
    try:
        int(published)
    except ValueError:
        try:
            return str(int(float(published))) == item.gold
        except (ValueError, OverflowError):
            return False
    return False


def _classify_mathvista(item, sample, off) -> str:
    published = str(off.get("shown") or "").strip()
    ours = (sample["extracted_official"] or "").strip()
    if _stale_integer_verdict(item, published, bool(off["correct"])):
        return "stale published verdict (integer normalised before today's int(float(x)))"
    if off.get("response") == "" and published:
        return "published extraction not from this response (response empty)"
    if item.kind == "multi_choice" and item.choices:
        letters = [chr(ord("A") + i) for i in range(len(item.choices))]
        published_names = (
            published in item.choices or published in letters or re.search(r"\([A-Z]\)", published)
        )
        ours_names = ours in item.choices or ours in letters
        if (
            ours in letters
            and published in letters
            and _states(off.get("response") or "", item.choices[letters.index(ours)], ours)
        ):
            return "published GPT extraction names another option than the response states"
        if not published_names and not ours_names:
            return "non-answer: GPT wrote another non-option string (nearest option differs)"
        if not published_names:
            return "GPT read a non-answer where the rules read an option"
        if not ours_names:
            return "GPT read an option where the rules found none"
        return "GPT and the rules read different options"
    if ours and published and ours != published:
        return "numeric: GPT and the rules took different numbers"
    return "other"
