"""verify(gold, pred, kind) -> Verdict: is an extracted answer the gold answer?

Order of work, cheapest first (most items stop before step 4):
  1. normalised exact match (wrappers, case, spaces, \\text{}, trailing period);
  2. the kind's own rule in pure Python: option letter <-> option text, exact numbers
     (thousands separators, %, units, fractions, scientific notation, precision), lists;
  3. rules that settle what Math-Verify would settle, without it: closed-form numbers
     (\\sqrt, \\pi, \\frac, ^, a:b) evaluated in Python (closed_form.py), words or a
     polynomial in free variables against a number, several option letters at once;
  4. only then Math-Verify (sympy) for LaTeX expressions, intervals, sets, equations, in a
     killable worker process with a deadline (see timeout.py), after cheap complexity caps.
     Identical requests are answered from a bounded reply cache.

Decisions worth knowing:
  * Percent: "25%" equals 25 and 0.25 when the other side has no % sign (MathVista-style golds
    are plain numbers); "0.25" vs "25" is False; both with % compare the numbers as written.
  * Units: a trailing unit word ("5 cm", "40°", "12 square units", "$5") is dropped for numeric
    comparison; the unit itself is not checked. `unit=` strips a benchmark's own unit first.
  * precision: an int (or integral float) n rounds both sides to n decimals, like MathVista;
    a non-integral float (0.01) is an absolute tolerance. Without precision, numbers are
    equal exactly, or within 1e-6 relative when one side is inexact; a gold decimal with d
    places also accepts an exact non-decimal prediction (\\sqrt{3}, 1/3) rounding to it.
  * integer kind: the value must be that integer (5.0 is 5; 4.9 is not).
  * list kind: element-wise and order-sensitive; in auto mode a bare comma list ("2, 3")
    is compared as a multiset (solutions of an equation have no order); bracketed tuples
    keep their order through Math-Verify.
  * A letter that is not an option, an answer that matches no option, or text where a number
    is expected is wrong ("ok"/False or "unparseable"/False), never an exception.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence

from ovlt_eval.errors import UserError
from ovlt_eval.grading.closed_form import closed_form_tuple, closed_form_value
from ovlt_eval.grading.gold import Gold, letter_index, parse_gold
from ovlt_eval.grading.hedges import hedged
from ovlt_eval.grading.normalize import (
    MAX_ANSWER_CHARS,
    assigned_variable,
    latex_light,
    names_several_letters,
    parse_letter,
    parse_number,
    sanitize,
    split_top_level,
    strip_assignment,
    strip_wrappers,
    text_key,
    too_complex,
)
from ovlt_eval.grading.numbers import float_equal, numbers_equal, stable_float_equal
from ovlt_eval.grading.timeout import run_symbolic
from ovlt_eval.grading.types import KINDS, AnswerKind, Verdict

_log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
_MAX_LIST = 32

_OK_TRUE = Verdict(True, "ok")
_NO_ANSWER = Verdict(False, "no_answer", "empty answer")
_WORDS = re.compile(r"[A-Za-z][A-Za-z '\-]*")
_SINGLE_LETTER = re.compile(r"[A-Z]")
# Words only (an option letter, "None of the above", "No solution"): sympy would read them as
# a product of symbols, which is never a number; names it reads as numbers are kept out.
_PROSE = re.compile(r"\(?[A-Za-z][A-Za-z '\-,.?!()]*")
_MATH_NAMES = frozenset(
    "pi e oo inf infinity i sin cos tan cot sec csc log ln exp sqrt arcsin arccos arctan "
    "sinh cosh tanh nan zoo".split()
)
_ALPHA_RUN = re.compile(r"[A-Za-z]+")
_DIGIT = re.compile(r"\d")
_CMD = re.compile(r"\\[A-Za-z]+")
# Closed forms whose values differ by more than this are different answers to Math-Verify too
# (it compares numbers at 6 decimals); anything closer still goes to the worker.
_DIFFER_TOL = 1e-4


# ---------------------------------------------------------------- numbers


def _is_prose(body: str) -> bool:
    body = latex_light(body)  # "None \\ of \\ the \\ above", "\\text{No solution}"
    if not _PROSE.fullmatch(body):
        return False
    return not any(w in _MATH_NAMES for w in _ALPHA_RUN.findall(body))


_POLY_TERM = re.compile(r"(\d+(?:\.\d+)?)?\s*((?:[A-Za-z](?:\^\d)?)*)")
# Math-Verify's normaliser drops a trailing unit word ("8m" -> 8, "21 - c" -> "21 -"); these
# one-letter units (and any longer trailing run, "cm", "ab") keep the rule away from them.
_UNIT_LETTERS = frozenset("cdghlmostCDGHLMOST")
_TRAILING_RUN = re.compile(r"[A-Za-z]+$")
_POLY_SPLIT = re.compile(r"\s*[+-]\s*")
# letters sympy may read as constants (e, E -> Euler's number; i, I -> imaginary unit)
_CONSTANT_LETTERS = frozenset("eEiI")


def _has_free_symbols(body: str) -> bool:
    """`10a+20b`, `8x`, `44 + 4b`, `0.5x^2`: a polynomial with nonzero coefficients in which
    every letter occurs once, so nothing can cancel and it is not a number to any parser."""
    body = body.strip()
    if len(body) > 80 or not body or body[0] == "+" or body[-1] in "+-":
        return False
    tail = _TRAILING_RUN.search(body)
    if tail and (len(tail.group()) > 1 or tail.group() in _UNIT_LETTERS):
        return False
    letters: list[str] = []
    for term in _POLY_SPLIT.split(body.lstrip("-").strip()):
        m = _POLY_TERM.fullmatch(term)
        if not m or not term:
            return False
        coefficient, symbols = m.groups()
        if coefficient is not None and float(coefficient) == 0:
            return False
        letters += [c for c in symbols if c.isalpha()]
    return (
        bool(letters)
        and len(set(letters)) == len(letters)
        and not _CONSTANT_LETTERS.intersection(letters)
    )


def _values_differ(gold: str, pred: str) -> bool:
    """Both sides are closed-form numbers with clearly different values. Math-Verify calls
    two numbers equal when exact and equal, or, with a decimal on either side, when they agree
    to 6 decimals; a gap above _DIFFER_TOL (relative, at least absolute) is neither."""
    gv, pv = closed_form_value(gold), closed_form_value(pred)
    if gv is not None and pv is not None:
        return _far(gv, pv)
    # Tuples, points, intervals of closed forms: Math-Verify pairs items in some order (tuple
    # order, sorted sets, interval ends), so different lengths or different sorted values can
    # match under none of them. Same values in another order still go to the worker.
    gt, pt = closed_form_tuple(gold), closed_form_tuple(pred)
    if gt is None or pt is None:
        return False
    if len(gt) != len(pt):
        return True
    return any(_far(a, b) for a, b in zip(sorted(gt), sorted(pt), strict=True))


def _far(a: float, b: float) -> bool:
    return abs(a - b) > _DIFFER_TOL * max(1.0, abs(a), abs(b))


# Worker replies for identical requests (the same wrong answer against the same gold, the
# same option value evaluated twice by a benchmark's two passes). Only "ok" replies are kept:
# a timeout may not repeat on a less loaded machine.
_REPLY_CACHE: dict[str, dict] = {}
_REPLY_CACHE_MAX = 8192


def _symbolic(request: dict, deadline: float) -> dict:
    """One worker call within what is left of this verify call's time budget."""
    key = "\x00".join(str(request.get(k, "")) for k in ("op", "gold", "pred", "expr"))
    hit = _REPLY_CACHE.get(key)
    if hit is not None:
        return hit
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return {"status": "timeout", "detail": "budget spent"}
    reply = run_symbolic(request, remaining)
    if reply.get("status") == "ok":
        if len(_REPLY_CACHE) >= _REPLY_CACHE_MAX:
            _REPLY_CACHE.clear()  # crude, but bounded and lock-free (dict ops are atomic)
        _REPLY_CACHE[key] = reply
    return reply


def _evaluate(
    pred: str, deadline: float, gold: Gold | None = None
) -> tuple[float | None, Verdict | None, bool | None]:
    """Numeric value of a LaTeX expression (\\sqrt{2}, 2\\pi) through the worker; with `gold`,
    also the symbolic verdict against it when the expression is not a real number."""
    why = too_complex(pred)
    if why:
        return None, Verdict(False, "unparseable", why), None
    request = {"op": "evaluate", "expr": pred}
    if gold is not None:
        request["gold"] = gold.symbolic
    reply = _symbolic(request, deadline)
    if reply.get("status") != "ok":
        failed = Verdict(False, reply.get("status", "unparseable"), reply.get("detail", ""))
        return None, failed, None
    correct = reply.get("correct")
    correct = None if correct is None else bool(correct)
    value = reply.get("value")
    if value is None:
        return None, None, correct
    try:
        return float(value), None, None
    except ValueError:
        return None, None, correct


def _verify_number(g: Gold, pred: str, deadline: float) -> Verdict:
    p_num = parse_number(pred, g.unit)
    if p_num is not None:
        if g.kind == "integer" and p_num.percent and not g.number.percent:
            return Verdict(p_num.value == g.number.value, "ok")
        return Verdict(numbers_equal(g.number, p_num, g.precision), "ok")
    body = strip_assignment(strip_wrappers(pred))
    if len(split_top_level(body)) > 1:
        return Verdict(False, "ok", "several values where one number was expected")
    if _is_prose(body) or _has_free_symbols(body):
        return Verdict(False, "unparseable", "not a number")
    local = closed_form_value(body)
    if local is not None:
        if g.kind == "integer":
            gold_value = float(g.number.value)
            if abs(local - gold_value) > 1e-6 * max(1.0, abs(gold_value)):
                return Verdict(False, "ok")
        else:
            same = stable_float_equal(g.number, local, g.precision)
            if same is not None:
                return Verdict(same, "ok")
    value, failed, _ = _evaluate(body, deadline)
    if failed is not None:
        return failed
    if value is None:
        return Verdict(False, "unparseable", "not a number")
    if g.kind == "integer":
        return Verdict(value == float(g.number.value), "ok")
    return Verdict(float_equal(g.number, value, g.precision), "ok")


# ---------------------------------------------------------------- multiple choice


def _pred_option(g: Gold, pred: str, pred_key: str) -> int | None:
    n = len(g.choice_keys)
    if pred_key in g.choice_keys:
        return g.choice_keys.index(pred_key)
    form = parse_letter(pred)
    if form is not None:
        idx = letter_index(form.letter, n)
        if not form.loose:
            return idx
        if idx is not None and text_key(form.rest or "") == g.choice_keys[idx]:
            return idx
    p_num = parse_number(pred, g.unit)
    if p_num is not None:
        for i, c_num in enumerate(g.choice_numbers):
            if c_num is not None and numbers_equal(c_num, p_num, None):
                return i
    return None


def _verify_multi_choice(g: Gold, pred: str, pred_key: str, deadline: float) -> Verdict:
    if not g.choice_keys:
        return _verify_letter(g, pred, pred_key)
    if pred_key not in g.choice_keys and names_several_letters(pred):
        return Verdict(False, "ok", "several options named")
    idx = _pred_option(g, pred, pred_key)
    if g.option is not None:
        if idx is None:
            return Verdict(False, "ok", "matches no option")
        # compare option texts, not positions: some items list the same option twice
        return Verdict(g.choice_keys[idx] == g.choice_keys[g.option], "ok")
    # The gold is not among the options (a data problem): compare the answers themselves.
    if idx is not None:
        return Verdict(g.choice_keys[idx] == g.key, "ok", "gold not among options")
    return _verify_auto(g, pred, pred_key, deadline)


def _verify_letter(g: Gold, pred: str, pred_key: str) -> Verdict:
    if names_several_letters(pred):
        return Verdict(False, "ok", "several options named")
    form = parse_letter(pred)
    gold_letter = strip_wrappers(g.raw).upper()
    if form is not None and not form.loose:
        return Verdict(form.letter == gold_letter, "ok")
    return Verdict(pred_key == gold_letter.lower(), "ok", "no option letter found")


# ---------------------------------------------------------------- lists


def _verify_list(g: Gold, pred: str, deadline: float) -> Verdict:
    gold_items = split_top_level(strip_assignment(strip_wrappers(g.raw)))
    pred_items = split_top_level(strip_assignment(strip_wrappers(pred)))
    if len(pred_items) > _MAX_LIST or len(gold_items) > _MAX_LIST:
        return Verdict(False, "unparseable", "list too long")
    if len(gold_items) != len(pred_items):
        return Verdict(False, "ok", f"{len(pred_items)} items, expected {len(gold_items)}")
    for gi, pi in zip(gold_items, pred_items, strict=True):
        v = _verify_item(gi, pi, g.precision, g.unit, deadline)
        if not v.correct:
            return v
    return _OK_TRUE


def _verify_item(gold: str, pred: str, precision, unit, deadline: float) -> Verdict:
    sub = parse_gold(gold, "auto", None, precision, unit)
    key = text_key(pred)
    if key == sub.key:
        return _OK_TRUE
    if not key:
        return Verdict(False, "ok", "empty item")
    return _verify_auto(sub, pred, key, deadline, allow_list=False)


def _verify_bag(gold_items: list[str], pred_items: list[str], g: Gold, deadline) -> Verdict:
    """Bare comma lists in auto mode: same multiset of values, any order."""
    if len(gold_items) != len(pred_items):
        return Verdict(False, "ok", f"{len(pred_items)} items, expected {len(gold_items)}")
    if len(gold_items) > _MAX_LIST:
        return Verdict(False, "unparseable", "list too long")
    unused = list(range(len(gold_items)))
    for p in pred_items:
        hit = None
        for j in unused:
            v = _verify_item(gold_items[j], p, g.precision, g.unit, deadline)
            if v.status == "timeout":
                return v
            if v.correct:
                hit = j
                break
        if hit is None:
            return Verdict(False, "ok", "item not in gold")
        unused.remove(hit)
    return _OK_TRUE


# ---------------------------------------------------------------- auto / symbolic


def _verify_auto(
    g: Gold, pred: str, pred_key: str, deadline: float, allow_list: bool = True
) -> Verdict:
    g_var, p_var = assigned_variable(g.raw), assigned_variable(pred)
    if g_var and p_var and g_var != p_var:
        return Verdict(False, "ok", f"answers {p_var}, not {g_var}")
    if g.number is not None:
        p_num = parse_number(pred, g.unit)
        if p_num is not None:
            return Verdict(numbers_equal(g.number, p_num, g.precision), "ok")
    if g.kind == "letter":
        return _verify_letter(g, pred, pred_key)
    body = strip_wrappers(pred)
    if allow_list:
        gold_items = split_top_level(g.symbolic)
        pred_items = split_top_level(strip_assignment(body))
        is_interval = _looks_like_interval(g.symbolic) or _looks_like_interval(body)
        plus_minus = "\\pm" in g.symbolic or "\\pm" in body or "±" in g.symbolic + body
        if (len(gold_items) > 1 or len(pred_items) > 1) and not is_interval and not plus_minus:
            return _verify_bag(gold_items, pred_items, g, deadline)
    if _WORDS.fullmatch(g.key) and (_WORDS.fullmatch(pred_key) or not _DIGIT.search(pred_key)):
        # Plain words on both sides (or a word-only gold against non-math text): Math-Verify
        # would read "A" as a symbol and could match it to something else.
        return Verdict(False, "ok", "text differs")
    if _is_prose(body) and (g.number is not None or _DIGIT.search(g.symbolic)):
        # words against a numeric gold: no reading of the words makes them that number
        return Verdict(False, "ok", "text where a value was expected")
    if (
        _WORDS.fullmatch(g.symbolic)
        and _is_prose(g.symbolic)
        and _DIGIT.search(body)
        and not _ALPHA_RUN.search(_CMD.sub("", body))
    ):
        # a number (5, 2\sqrt{3}, 40^\circ) against a word answer ("Friday"): sympy reads the
        # words as a product of symbols, which no constant equals
        return Verdict(False, "ok", "a value where words were expected")
    interval = _interval_brackets(g.symbolic), _interval_brackets(body)
    if interval[0] and interval[1] and interval[0] != interval[1]:
        return Verdict(False, "ok", "interval ends differ")
    why = too_complex(body)
    if why:
        return Verdict(False, "unparseable", why)
    if g.number is not None and not g.number.percent:
        # A numeric gold against an expression (\sqrt{2}, 2\pi): compare values, so that a
        # gold rounded to d decimals accepts the exact form (Math-Verify rounds differently).
        local = closed_form_value(body)
        if local is not None:
            same = stable_float_equal(g.number, local, g.precision)
            if same is not None:
                return Verdict(same, "ok", "evaluated")
        if _has_free_symbols(body):
            return Verdict(False, "ok", "free variables where a number was expected")
        # One round trip: the value, and when it is not a number the symbolic verdict.
        value, failed, correct = _evaluate(body, deadline, None if too_complex(g.symbolic) else g)
        if failed is not None:
            return failed
        if value is not None:
            return Verdict(float_equal(g.number, value, g.precision), "ok", "evaluated")
        if correct is not None:
            return Verdict(correct, "ok", "symbolic")
    if too_complex(g.symbolic):
        return Verdict(False, "unparseable", "gold " + too_complex(g.symbolic))
    if _values_differ(g.symbolic, body):
        return Verdict(False, "ok", "values differ")
    reply = _symbolic({"op": "verify", "gold": g.symbolic, "pred": body}, deadline)
    status = reply.get("status", "unparseable")
    if status == "ok":
        return Verdict(bool(reply.get("correct")), "ok", "symbolic")
    return Verdict(False, status, reply.get("detail", ""))


def _looks_like_interval(s: str) -> bool:
    return len(s) >= 5 and s[0] in "[(" and s[-1] in "])" and "," in s


def _interval_brackets(s: str) -> str | None:
    t = s.replace("\\left", "").replace("\\right", "").strip()
    if len(t) >= 5 and t[0] in "[(" and t[-1] in "])" and len(split_top_level(t[1:-1])) == 2:
        if t[0] == "(" and t[-1] == ")":
            return None  # (1, 2) may be a point; let Math-Verify decide
        return t[0] + t[-1]
    return None


# ---------------------------------------------------------------- entry point


def verify(
    gold: str,
    pred: str | None,
    kind: AnswerKind = "auto",
    *,
    choices: Sequence[str] | None = None,
    precision: int | float | None = None,
    unit: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Verdict:
    """Compare an extracted answer with the gold answer. Never raises on model output."""
    if kind not in KINDS:
        raise UserError(f"unknown answer kind {kind!r}; expected one of {', '.join(KINDS)}")
    if pred is None:
        return _NO_ANSWER
    if gold is None or (isinstance(gold, str) and not gold.strip()):
        return Verdict(False, "unparseable", "no gold answer")
    try:
        pred_text = sanitize(pred)
        if not pred_text.strip():
            return _NO_ANSWER
        if len(pred_text) > MAX_ANSWER_CHARS:
            return Verdict(False, "unparseable", f"answer longer than {MAX_ANSWER_CHARS} chars")
        deadline = time.monotonic() + max(0.01, float(timeout_s))
        choice_tuple = tuple(sanitize(c) for c in choices) if choices else None
        g = parse_gold(sanitize(gold), kind, choice_tuple, precision, unit)
        pred_key = text_key(pred_text)
        if not pred_key:
            return _NO_ANSWER
        if g.kind == "multi_choice":  # before the fast path: "C" is wrong when there is no C
            if choice_tuple and hedged(pred_text, choice_tuple, gold):
                return Verdict(False, "ok", "hedged: several options named")
            return _verify_multi_choice(g, pred_text, pred_key, deadline)
        if pred_key == g.key:
            return _OK_TRUE
        if hedged(pred_text, None, gold):
            return Verdict(False, "ok", "hedged: several candidate answers")
        if g.kind == "text":
            return Verdict(False, "ok", "text differs")
        if g.kind == "list":
            return _verify_list(g, pred_text, deadline)
        if g.kind in ("integer", "float") and g.number is not None:
            return _verify_number(g, pred_text, deadline)
        return _verify_auto(g, pred_text, pred_key, deadline)
    except RecursionError:
        return Verdict(False, "unparseable", "recursion limit")
    except Exception as e:  # noqa: BLE001 - model output must never raise out of verify
        _log.debug("verify failed on %.200r", pred, exc_info=True)
        return Verdict(False, "unparseable", f"{type(e).__name__}")
