"""Answer policies: one named, versioned object per way of deciding "what is the answer in
this reply, and is it right".

Distillation checks, difficulty pass rates, the GRPO reward and each benchmark protocol are the
same operation, so each is a policy here rather than a private copy of the rules:

| policy            | which answer                                   | compare                        | reproduces |
|-------------------|------------------------------------------------|--------------------------------|------------|
| `reference`       | text after the last `<answer>`, before the next `</answer>`; only when the reply has `</answer>` | `gold.lower() == answer.lower()` or mathruler `grade_answer(gold, answer)` | eval_openvlthinker.py:379-396 |
| `reference_qwen`  | last `\\boxed{}` (mathruler), and the whole reply | as `reference`, on either         | eval_qwen.py:393-411 |
| `reference_qwen_v1.2` | mathruler's last `\\boxed{}` (the string "None" without one) and, when the lower-cased reply has "answer:", the text after its last one | as `reference`, correct if any candidate is | run_evaluation.py:221-238 |
| `reward`          | first `<answer>…</answer>` on one line, else the whole reply | mathruler `grade_answer(answer, gold)` or lower-case equality; −0.5 when nothing is written between `</think>` and `<answer>` | r1v.py:27-45 |
| `released_generation` | as `reference`, then `clean_answer` | lower-case equality, or mathruler unless the gold is a ≥5-char text with "-" | generate_reasoning_thinker.py:117-125,219-230; utils/clean_answer.py |
| `official`        | `final_text`, then the benchmark's own evaluator | the benchmark's own evaluator  | MATH-V evaluate.py, MathVista calculate_score.py, MathVerse quick match |
| `corrected`       | ovlt's extractor (tags, boxed, phrases, letters, option text) | ovlt's verifier | — |

(file:line refer to github.com/yihedeng9/OpenVLThinker at 6997b47; r1v.py is
train/easyr1/examples/reward_function/r1v.py.)

mathruler is the real PyPI package, never a re-implementation. Its comparison runs sympy on
model text, which can hang or eat memory, so it runs in the verifier's worker processes with a
deadline (grading/timeout.py); a cut-off comparison is an explicit `timeout` status, not a
silent False. Gold-to-letter mapping (`process_response`) is a benchmark concern
(`Benchmark.reference_gold`), because only the benchmark knows its choices.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from ovlt_eval.errors import UserError
from ovlt_eval.grading.tags import first_one_line_tag
from ovlt_eval.grading.types import AnswerKind, Extraction, Graded, Verdict

AnswerRule = Literal[
    "last_tag_if_closed",  # eval_openvlthinker.py:379-380
    "boxed_and_whole_reply",  # eval_qwen.py:393-395
    "boxed_or_answer_colon",  # run_evaluation.py:228-233
    "first_tag_one_line",  # r1v.py:29,35
    "benchmark_official",  # the benchmark's own evaluator reads the reply
    "general",  # ovlt's extractor
]
CompareRule = Literal["reference", "benchmark_official", "verifier"]

# mathruler's comparison deadline: far above its normal cost (ms), far below a hung simplify.
MATHRULER_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AnswerPolicy:
    name: str
    version: str
    answer: AnswerRule
    compare: CompareRule
    description: str
    reproduces: str = ""  # file:line of the code this policy follows
    empty_conclusion_penalty: float = 0.0  # subtracted from a correct reward (r1v.py:31-38)
    clean_answer: bool = False  # generation's utils/clean_answer.py after extraction

    # ------------------------------------------------------------------ reading

    def extract(self, response: str | None, choices: Sequence[str] | None = None) -> Extraction:
        """The answer this policy reads in `response`; never raises."""
        if response is None or not isinstance(response, str):
            return Extraction(None, "empty_response")
        try:
            if self.answer == "last_tag_if_closed":
                found = reference_answer(response)
                if found is None:
                    return Extraction(None, "failed_to_extract")
                if self.clean_answer:
                    found = clean_answer(found)
                return Extraction(found, "answer_tag")
            if self.answer == "first_tag_one_line":
                tagged = first_one_line_tag(response)
                if tagged is not None:
                    return Extraction(tagged.strip(), "answer_tag")
                return Extraction(response.strip(), "whole")
            if self.answer in ("boxed_and_whole_reply", "boxed_or_answer_colon"):
                if not response:
                    return Extraction(None, "empty_response")
                return Extraction(boxed_content(response), "boxed")
            if self.answer == "general":
                from ovlt_eval.grading.extract import extract_answer

                return extract_answer(response, choices)
        except Exception as err:  # noqa: BLE001 - model text never raises out of grading
            return Extraction(None, f"extraction_error:{type(err).__name__}")
        raise ValueError(f"policy {self.name}: the benchmark reads replies under {self.answer}")

    # ------------------------------------------------------------------ judging

    def grade(
        self,
        response: str | None,
        gold: str,
        kind: AnswerKind = "auto",
        *,
        choices: Sequence[str] | None = None,
        precision: int | float | None = None,
        timeout_s: float = MATHRULER_TIMEOUT_S,
    ) -> Graded:
        """Extract under this policy and compare; `gold` is already what the policy compares
        against (e.g. a benchmark's `reference_gold`)."""
        if self.compare == "verifier":
            from ovlt_eval.grading.grade import grade

            return grade(response, gold, kind, choices=choices, precision=precision)
        if self.compare != "reference":
            raise ValueError(f"policy {self.name} is graded by the benchmark's evaluator")
        found = self.extract(response, choices)
        if found.answer is None:
            return Graded(None, False, "no_answer", how=found.how)
        if self.answer == "boxed_and_whole_reply":
            # eval_qwen.py:395 lower-cases the reply and then splits on "Answer:", which can no
            # longer occur: the "direct answer" is the whole lower-cased reply.
            direct = response.lower().split("Answer:")[-1].strip()
            first = reference_match(gold, found.answer, timeout_s=timeout_s)
            if first.correct:
                return Graded(found.answer, True, "ok", how="boxed")
            second = reference_match(gold, direct, timeout_s=timeout_s)
            if second.correct:
                return Graded(direct, True, "ok", how="whole_reply")
            status = "timeout" if "timeout" in (first.status, second.status) else "ok"
            return Graded(found.answer, False, status, how=found.how)
        if self.answer == "boxed_or_answer_colon":
            return _any_candidate(gold, qwen_v12_candidates(response), timeout_s)
        if self.answer == "first_tag_one_line":
            # r1v.py:37 compares grade_answer(answer, gold.strip()) — the argument order of
            # mathruler's signature, unlike the evaluation scripts.
            verdict = reference_match(gold.strip(), found.answer, timeout_s=timeout_s, swap=True)
        elif self.clean_answer and "-" in gold and len(gold) >= 5:
            # generate_reasoning_thinker.py:220-225: dashed golds (dates, ranges) by string only
            verdict = Verdict(gold.lower() == found.answer.lower(), "ok")
        else:
            verdict = reference_match(gold, found.answer, timeout_s=timeout_s)
        return Graded(found.answer, verdict.correct, verdict.status, how=found.how)

    def reward(self, response: str, gold: str) -> float:
        """The scalar GRPO reward of r1v.py:27-45 under this policy."""
        g = self.grade(response, gold)
        if not g.correct:
            return 0.0
        return 1.0 - (self.empty_conclusion_penalty if has_empty_conclusion(response) else 0.0)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "answer": self.answer,
            "compare": self.compare,
            "reproduces": self.reproduces,
            "empty_conclusion_penalty": self.empty_conclusion_penalty,
            "clean_answer": self.clean_answer,
        }


# --------------------------------------------------------------------------- the rules

# r1v.py:29 reads `re.search(r"<answer>(.*?)</answer>", s)` without DOTALL: an answer that
# spans lines does not match there, and the whole reply is graded instead. That regex is
# quadratic on repeated open tags, so tags.first_one_line_tag finds the same span linearly.


def reference_answer(response: str) -> str | None:
    """eval_openvlthinker.py:379-380: only a reply containing `</answer>` has an answer: the
    text after the last `<answer>` and before the `</answer>` that follows it (with no
    `<answer>` at all, everything before the first `</answer>`)."""
    if not response or "</answer>" not in response:
        return None
    return response.split("<answer>")[-1].split("</answer>")[0].strip()


def reward_answer(response: str) -> str:
    """r1v.py:29,35: the first one-line `<answer>…</answer>`, else the whole reply."""
    found = first_one_line_tag(response)
    return found.strip() if found is not None else response.strip()


def has_empty_conclusion(response: str) -> bool:
    """r1v.py:31-33: `</think>` and `<answer>` present, nothing between the last `</think>`
    and the `<answer>` after it."""
    if "</think>" not in response or "<answer>" not in response:
        return False
    return not response.split("</think>")[-1].split("<answer>")[0].strip()


def boxed_content(response: str) -> str:
    """mathruler's `extract_boxed_content` (the last `\\boxed{…}`, or the string "None")."""
    from mathruler.grader import extract_boxed_content

    return extract_boxed_content(response)


def clean_answer(answer: str) -> str:
    """The reference generation's answer cleaning (utils/clean_answer.py:1-66), step by step."""
    s = answer.lower()
    if s.endswith("."):
        s = s[:-1]
    if any(p in s for p in ("yes,", "yes. ")):
        return "yes"
    if any(p in s for p in ("no,", "no. ")):
        return "no"
    if "(" in s and ")" in s and s.split("(")[0].strip() != "":
        s = s.split("(")[0].strip()
    if " or " in s:
        s = s.split(" or ")[0].strip()
    if " is " in s:
        s = s.split(" is ")[-1].strip()
    if " = " in s:
        s = s.split(" = ")[-1].strip()
    if " ≈ " in s:
        s = s.split(" ≈ ")[-1].strip()
    for unit in _CLEAN_UNITS:
        if unit in s:
            s = s.split(unit)[0].strip()
    return s


_CLEAN_UNITS = (
    "degree",
    "cm",
    "centimeter",
    "meter",
    "mile",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
    "foot",
    "feet",
    "inch",
    "yard",
    "liter",
    "gram",
    "kilogram",
    "ounce",
    "pound",
)


def qwen_v12_candidates(response: str) -> list[tuple[str, str]]:
    """run_evaluation.py:228-233 for the Qwen model: mathruler's boxed content — its "None"
    string is truthy, so it is a candidate even without a box — and, when the lower-cased reply
    contains "answer:", the lower-cased text after its last one. (how, candidate) pairs."""
    found = [("boxed", boxed_content(response))]
    lowered = response.lower()
    if "answer:" in lowered:
        found.append(("answer_colon", lowered.split("answer:")[-1].strip()))
    return found


def _any_candidate(gold: str, candidates: list[tuple[str, str]], timeout_s: float) -> Graded:
    """run_evaluation.py:236-238: correct if any candidate is (lower-case equality or mathruler,
    gold first)."""
    statuses = []
    for how, candidate in candidates:
        verdict = reference_match(gold, candidate, timeout_s=timeout_s)
        if verdict.correct:
            return Graded(candidate, True, "ok", how=how)
        statuses.append(verdict.status)
    how, first = candidates[0]
    return Graded(first, False, "timeout" if "timeout" in statuses else "ok", how=how)


def reference_match(
    gold: str, answer: str, *, timeout_s: float = MATHRULER_TIMEOUT_S, swap: bool = False
) -> Verdict:
    """`gold.lower() == answer.lower() or grade_answer(gold, answer)` (eval_openvlthinker.py:392).

    The evaluation scripts pass the gold first (mathruler's `given_answer` slot) and the
    model's answer second; `swap=True` gives the reward's order (r1v.py:37). mathruler is
    asymmetric (tuples, integers), so the order is kept as published.
    """
    if gold.lower() == answer.lower():
        return Verdict(True, "ok", "lower_equal")
    given, truth = (answer, gold) if swap else (gold, answer)
    return _mathruler(given, truth, float(timeout_s))


@lru_cache(maxsize=65536)
def _mathruler(given: str, truth: str, timeout_s: float) -> Verdict:
    decided = _mathruler_without_sympy(given, truth)
    if decided is not None:
        return Verdict(decided, "ok", "mathruler")
    from ovlt_eval.grading.normalize import too_large_value

    # sympy would spend the whole deadline (and a worker) building 10**10**7 or (9!)!: the
    # size guard every symbolic comparison has, as an explicit status
    huge = too_large_value(given) or too_large_value(truth)
    if huge:
        return Verdict(False, "unparseable", huge)
    from ovlt_eval.grading.timeout import run_symbolic

    reply = run_symbolic({"op": "mathruler_grade", "given": given, "truth": truth}, timeout_s)
    status = reply.get("status")
    if status == "ok":
        return Verdict(bool(reply.get("correct")), "ok", "mathruler")
    if status == "timeout":
        return Verdict(False, "timeout", "mathruler")
    # mathruler itself never raises (bare excepts); this is the worker failing (memory limit)
    return Verdict(False, "unparseable", str(reply.get("detail", "")))


# Past this length the string steps of grade_answer (pylatexenc, regexes) also go to a worker.
_IN_PROCESS_CHARS = 2000
_CANONICAL_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_LETTER = re.compile(r"[a-z]")


def _mathruler_without_sympy(given: str, truth: str) -> bool | None:
    """mathruler's `grade_answer(given, truth)` where it is decided before sympy; None where
    sympy (`are_equal_under_sympy`) would run, which only a worker process may do.

    The steps are mathruler's own functions, called in grade_answer's order
    (mathruler/grader.py:255-301 in mathruler 0.1.0, pinned); only the sympy call is replaced,
    by the outcomes that need no sympy: its own `should_allow_eval` refusal (False), and two
    different canonical integers or two different single letters (False).
    tests/ovlt_eval/grading/test_policy.py checks this against grade_answer itself."""
    if len(given) + len(truth) > _IN_PROCESS_CHARS:
        return None
    try:
        from mathruler import grader
        from mathruler.math_normalize import normalize_answer

        if normalize_answer(truth) == normalize_answer(given):
            return True
        truth_n = grader._normalize(truth)
        given_n = grader._normalize(given)
        if truth_n is None:
            return False
        if truth_n == given_n:
            return True
        if len(given_n) == 0:
            return False
        truth_elems = grader.split_tuple(truth_n)
        given_elems = grader.split_tuple(given_n)
        if len(truth_elems) > 1 and (truth_n[0] != given_n[0] or truth_n[-1] != given_n[-1]):
            return False
        if len(truth_elems) != len(given_elems):
            return False
        for t, g in zip(truth_elems, given_elems, strict=True):
            if grader._is_frac(t) and grader._is_frac(g):
                ok = t == g
            elif grader._str_is_int(t) != grader._str_is_int(g):
                ok = False
            elif not grader.should_allow_eval(f"({t})-({g})"):
                ok = False  # are_equal_under_sympy refuses before parsing: False
            elif _CANONICAL_INT.fullmatch(t) and _CANONICAL_INT.fullmatch(g):
                ok = t == g  # sympy: (t)-(g) is a nonzero integer unless the same
            elif _LETTER.fullmatch(t) and _LETTER.fullmatch(g):
                ok = t == g  # sympy: c - a, two free symbols, never simplifies to 0
            else:
                return None
            if not ok:
                return False
        return True
    except Exception:  # noqa: BLE001 - let the worker give the published behaviour
        return None


# --------------------------------------------------------------------------- registry

POLICIES: dict[str, AnswerPolicy] = {
    p.name: p
    for p in (
        AnswerPolicy(
            name="reference",
            version="1",
            answer="last_tag_if_closed",
            compare="reference",
            description="OpenVLThinker evaluation: last <answer> of a reply with </answer>; "
            "lower-case equality or mathruler",
            reproduces="evaluation/eval_openvlthinker.py:379-396",
        ),
        AnswerPolicy(
            name="reference_qwen",
            version="1",
            answer="boxed_and_whole_reply",
            compare="reference",
            description="Qwen2.5-VL baseline evaluation: last \\boxed{} or the whole reply; "
            "lower-case equality or mathruler",
            reproduces="evaluation/eval_qwen.py:393-411",
        ),
        AnswerPolicy(
            name="reference_qwen_v1.2",
            version="1",
            answer="boxed_or_answer_colon",
            compare="reference",
            description="v1.2 unified evaluation, Qwen: last \\boxed{} and the text after the "
            "last 'answer:'; correct if either is (lower-case equality or mathruler)",
            reproduces="evaluation/run_evaluation.py:221-238",
        ),
        AnswerPolicy(
            name="reward",
            version="1",
            answer="first_tag_one_line",
            compare="reference",
            description="EasyR1 GRPO reward: first one-line <answer>, else the whole reply; "
            "mathruler or lower-case equality; -0.5 for an empty conclusion",
            reproduces="train/easyr1/examples/reward_function/r1v.py:27-45",
            empty_conclusion_penalty=0.5,
        ),
        AnswerPolicy(
            name="released_generation",
            version="1",
            answer="last_tag_if_closed",
            compare="reference",
            description="round-2/3 SFT data check: last <answer>, clean_answer, lower-case "
            "equality or mathruler (dashed golds by string)",
            reproduces="generation/generate_reasoning_thinker.py:117-125,219-230",
            clean_answer=True,
        ),
        AnswerPolicy(
            name="official",
            version="1",
            answer="benchmark_official",
            compare="benchmark_official",
            description="the benchmark's own evaluator on the reply's final text",
        ),
        AnswerPolicy(
            name="corrected",
            version="1",
            answer="general",
            compare="verifier",
            description="ovlt's extractor (answer tag, boxed, phrases, letters, option text) "
            "and verifier",
        ),
    )
}


def get_policy(name: str) -> AnswerPolicy:
    try:
        return POLICIES[name]
    except KeyError:
        raise UserError(
            f"unknown answer policy {name!r}; known: {', '.join(sorted(POLICIES))}"
        ) from None
