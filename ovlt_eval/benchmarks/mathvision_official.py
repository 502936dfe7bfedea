"""MATH-V's official evaluator (mathllm/MATH-V `evaluation/evaluate.py` + `utils.py`),
re-implemented for the `official` protocol, defects included.

From the raw `response`:
  1. a response ending " C." / " (C)." or starting "C\\n" / "(C)\\n" / "(C) C\\n" becomes "C";
  2. if the text after the last "is " (less a final ".") is a number, that is the answer;
  3. without "oxed{": each of "the final answer is", "the answer is", "the correct answer is",
     "the answer should be" (and the capitalised forms) in turn keeps the text after its last
     occurrence, cut at the first line break and the first ". "; with several boxes, only
     the last box is kept;
  4. `find_math_answer`: lower-cased; the span from the first "oxed{" to the last "}"; a
     stray "}" cuts; the value after the last "=" / "\\approx"; all spaces and a fixed list
     of LaTeX words and units removed (\\text, \\left, ^\\circ, km, units, m^3, $, %, ...);
     then "(a)" -> "a" ... "(e)" -> "e", "{a}" -> "a" ..., a trailing "." dropped.
Comparison `is_equal(x, y)` on lower-cased text: equal after stripping; else tuples "(a,b)"
and lists "[a,b]" compared element-wise after evaluating each element to 2 decimals; else both
sides parsed as LaTeX, evaluated as Python math and compared rounded to 2 decimals.
An item is correct when the model answer is_equal the gold letter or the gold option text.

The known consequences (which the `corrected` protocol fixes) are the point of keeping this:
"(D) 105" becomes "d105" and matches neither "D" nor "105"; an option written
"$8 \\mathrm{~kg}$" is never matched by "8 kg"; 1/300 and 1/900 are "equal" (both 0.0).
"""

from __future__ import annotations

import math
import re
import threading
from functools import lru_cache

from ovlt_eval.grading.timeout import run_symbolic

_FLAGS = ("the final answer is", "the answer is", "the correct answer is", "the answer should be")
# Strings beyond this length, or with big exponents / factorials, are not sent to the LaTeX
# parser: sympy would evaluate 2^{10^{10}} eagerly and hang. The official evaluator has no
# such guard; real model answers never come near it.
_MAX_EVAL_CHARS = 120
_EXPLOSIVE = re.compile(r"\^\s*\{?\s*[-+]?\(?\s*\d{3,}|\^\s*\{[^}]*\^|\d{3,}\s*!|\\binom")


# ------------------------------------------------------------------ extraction


def official_model_answer(response: str) -> str:
    """`model_answer` as MATH-V's evaluate.py derives it from a response."""
    s = response.strip()
    for c in "ABCDE":
        if (
            s.endswith(f" {c}.")
            or s.endswith(f" ({c}).")
            or s.startswith(f"{c}\n")
            or s.startswith(f"({c})\n")
            or s.startswith(f"({c}) {c}\n")
        ):
            s = c
    after_is = s.split("is ")[-1].rstrip(".")
    if _is_number(after_is):
        s = after_is
    if "oxed{" not in s:
        for flag in _FLAGS:
            for f in (flag, flag.replace("the", "The")):
                before = s
                s = s.split(f)[-1].strip()
                if f in before:
                    s = s.split("\n")[0].split(". ")[0]
    elif s.count("oxed{") > 1:
        s = "\\boxed{" + s.split("oxed{")[-1]
    s = find_math_answer(s)
    for c in "abcde":
        s = s.replace(f"({c})", c)
    for c in "abcde":
        s = s.replace("{" + c + "}", c)
    return s.rstrip(".").lstrip(":").strip()


def _is_number(s: str) -> bool:
    try:
        float(s)
    except (ValueError, OverflowError):
        return False
    return True


_FMA_REPLACE = (
    (" ", ""),
    ("\\,", ""),
    ("∞", "\\infty"),
    ("+\\infty", "\\infty"),
    ("\\\\", "\\"),
    ("\n", ""),
    ("\\text", ""),
    ("\\mbox", ""),
    ("bmatrix", "pmatrix"),
    ("\\left", ""),
    ("\\right", ""),
    ("^{\\circ}", ""),
    ("^\\circ", ""),
    ("{m}^3", ""),
    ("m^3", ""),
    ("{units}", ""),
    ("units", ""),
    ("{km}", ""),
    ("km", ""),
)


def find_math_answer(s: str) -> str:
    s = s.lower().replace("{}", "")
    # Official: re.findall('oxed{(.*)}', s, re.S)[-1]: a greedy span from the first "oxed{"
    # to the last "}" after it (computed without regex backtracking on long text).
    start = s.find("oxed{")
    end = s.rfind("}")
    ans = s[start + 5 : end] if start != -1 and end >= start + 5 else s
    close, open_ = ans.find("}"), ans.find("{")
    if close != -1 and (open_ == -1 or close < open_):
        ans = ans.split("}")[0]
    ans = ans.split("=")[-1].split("\\approx")[-1]
    for old, new in _FMA_REPLACE:
        ans = ans.replace(old, new)
    return _strip_string(ans)


_STRIP_REPLACE = (
    ("\n", ""),
    ("\\!", ""),
    ("\\\\", "\\"),
    ("tfrac", "frac"),
    ("dfrac", "frac"),
    ("\\left", ""),
    ("\\right", ""),
    ("^{\\circ}", ""),
    ("^\\circ", ""),
    ("\\$", ""),
    ("$", ""),
)


def _strip_string(s: str) -> str:
    for old, new in _STRIP_REPLACE:
        s = s.replace(old, new)
    s = s.split("\\text{ ")[0]  # "units on the right"
    s = s.replace("\\%", "").replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    if len(s.split("=")) == 2:
        s = s.split("=")[-1]
    if len(s.split("\\approx")) == 2:
        s = s.split("\\approx")[-1]
    if "sqrt" in s:
        s = _fix_sqrt(s)
    s = s.replace(" ", "")
    if "sqrt" in s:  # sic: fractions are only repaired next to a square root
        s = _fix_fracs(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    return _fix_a_slash_b(s)


def _fix_sqrt(s: str) -> str:
    head, *rest = s.split("\\sqrt")
    out = [head]
    for part in rest:
        if part and part[0] != "{":
            out.append("\\sqrt{" + part[0] + "}" + part[1:])
        else:
            out.append("\\sqrt" + part)
    return "".join(out)


def _fix_fracs(s: str) -> str:
    head, *rest = s.split("\\frac")
    out = head
    for part in rest:
        out += "\\frac"
        if part and part[0] == "{":
            out += part
            continue
        if len(part) < 2:
            return s
        a, b, tail = part[0], part[1], part[2:]
        out += "{" + a + "}" + ("{" + b + "}" if b != "{" else b) + tail
    return out


def _fix_a_slash_b(s: str) -> str:
    parts = s.split("/")
    if len(parts) != 2:
        return s
    try:
        a, b = int(parts[0]), int(parts[1])
    except ValueError:
        return s
    if s != f"{a}/{b}":
        return s
    return "\\frac{" + str(a) + "}{" + str(b) + "}"


# ------------------------------------------------------------------ comparison


def official_is_equal(x: str, y: str) -> bool:
    a, b = x.lower(), y.lower()
    if not a.replace(" ", "") or not b.replace(" ", ""):
        return False
    if a.strip() == b.strip():
        return True
    a, b = _eval_tuple(a), _eval_tuple(b)
    if a == b:
        return True
    # The model's side first: where it has no value the gold's is not needed (most
    # answers are letters or words), and evaluating a gold costs a parser call.
    vb = _value(b)
    if vb is None:
        return False
    va = _value(a)
    if va is None:
        return False
    try:
        return round(va, 2) == round(vb, 2)
    except (TypeError, ValueError, OverflowError):
        return False


def _eval_tuple(s: str) -> str:
    if len(s) < 2:
        return s
    parts = s[1:-1].split(",")
    brackets = {"(": ")", "[": "]"}
    if s[0] not in brackets or s[-1] != brackets[s[0]] or len(parts) <= 1:
        return s
    out = []
    for p in parts:
        if "infty" in p or p in ("a", "-a"):
            out.append(p)
            continue
        v = _value(p)
        if v is None:
            return s
        try:
            out.append(str(round(v, 2)))
        except (TypeError, ValueError, OverflowError):
            return s
    return s[0] + ",".join(out) + s[-1]


# Per thread: the worst evaluation status met since the last `official_verdict` began, so a
# verdict that rests on a skipped or timed-out evaluation says so.
_STATE = threading.local()
# A latex2sympy parse plus eval takes milliseconds; this only stops a hostile string.
_EVAL_DEADLINE_S = 3.0


def _note(status: str) -> None:
    if getattr(_STATE, "status", "ok") != "timeout":
        _STATE.status = status


def _value(s: str):
    """eval(str(latex2sympy(s))) with math names in scope, or None where that raises."""
    v, status = _evaluate(s)
    if status != "ok":
        _note(status)
    return v


@lru_cache(maxsize=65536)
def _evaluate(s: str) -> tuple[object, str]:
    """(value, status): status "unparseable" where a guard refused the string, "timeout"
    where the parser ran past its deadline (the official evaluator would hang there)."""
    if len(s) > _MAX_EVAL_CHARS or _EXPLOSIVE.search(s):
        return None, "unparseable"
    if _OLD_PARSER_REJECTS.search(s):
        return None, "ok"
    quick = _quick_value(s)
    if quick is not _UNKNOWN:
        return quick, "ok"
    v, status = _parse_eval(s)
    if v is None and status == "ok":
        # MATH-V's latex2sympy2 parses the longest valid prefix and ignores trailing junk
        # ("\frac{3\pi}{2}}{cm"); latex2sympy2_extended rejects the whole string.
        cut = _unbalanced_close(s)
        if cut is not None and cut > 0:
            head = s[:cut]
            quick = _quick_value(head)
            v, status = (quick, "ok") if quick is not _UNKNOWN else _parse_eval(head)
    return v, status


# latex2sympy2 (which MATH-V uses) fails on "\circ"; the extended fork we have reads it
# as degrees, so it is refused here to keep the official verdicts.
_OLD_PARSER_REJECTS = re.compile(r"\\circ")


_UNKNOWN = object()
# ASCII digits only: int("٣") is 3, but the LaTeX parser rejects it.
_INT = re.compile(r"[ \t\n]*[-+]?[0-9]+[ \t\n]*")
_DECIMAL = re.compile(r"[ \t\n]*[-+]?[0-9]*\.[0-9]+[ \t\n]*")
_INT_FRAC = re.compile(r"\\frac\{([0-9]+)\}\{([0-9]+)\}|([0-9]+) *[:/] *([0-9]+)")
# "6\sqrt{2}", "\sqrt{17}", "14\pi": printed "6*sqrt(2)", "sqrt(17)", "14*pi"
_INT_ROOT_PI = re.compile(r"([0-9]*) *\\(?:sqrt\{([0-9]+)\}|(pi))")


def _quick_value(s: str):
    """What the LaTeX parser + eval give for the commonest forms, without the parser (a few
    ms a call, 70+ ms for some sentences): integers stay ints and decimals floats (the
    printed type matters to tuples), a fraction of integers is a Rational printed "a/b"."""
    if len(s) > 2 and s[0] == "$" and s[-1] == "$" and "$" not in s[1:-1]:
        s = s[1:-1]  # the parser drops the math-mode dollars
    if _INT.fullmatch(s):
        return int(s)
    if _DECIMAL.fullmatch(s):
        return float(s) + 0.0  # the parser prints -0.0 as 0.0
    m = _INT_FRAC.fullmatch(s)
    if m:
        a, b = int(m.group(1) or m.group(3)), int(m.group(2) or m.group(4))
        if b == 0:
            return math.nan if a == 0 else None  # printed "nan" / "zoo"
        return a // b if a % b == 0 else a / b
    m = _INT_ROOT_PI.fullmatch(s)
    if m:
        base = math.pi if m.group(3) else math.sqrt(int(m.group(2)))
        return int(m.group(1)) * base if m.group(1) else base
    return _UNKNOWN


# Commands that latex2sympy2_extended turns into plain sympy operations or constants; none
# of them binds a variable (\sum, \int, \lim, d/dx do) or drops its argument, so a letter
# under them is still a Symbol in the printout.
_PLAIN_COMMANDS = frozenset(
    "frac dfrac tfrac sqrt cdot times div pi left right sin cos tan cot sec csc "
    "alpha beta gamma delta theta phi mu sigma omega quad".split()
)
_TEXT_GROUP = re.compile(r"\\(?:mathrm|text|textbf|mathit|mbox)\{([^{}\\]*)\}")
_COMMAND = re.compile(r"\\([a-zA-Z]+)")
# Names that eval would find in `math`: a \text{pi} or \mathrm{e} is a number there.
_MATH_CONSTANTS = ("e", "pi", "tau", "inf", "nan")


def _leaves_free_symbol(s: str) -> bool:
    """True when latex2sympy's printout of `s` must name a Symbol that eval does not know
    (so the official value is None), decided without parsing: a lower-case letter other than
    e (which is Euler's number) outside a command name, or a \\text{…}/\\mathrm{…} word that is
    no `math` constant. The parser never simplifies (x-x stays "-x + x"), so a symbol once
    written is printed. False means "parse it"."""
    found = False

    def text_group(m: re.Match) -> str:
        nonlocal found
        body = m.group(1)
        if any(c in body for c in _MATH_CONSTANTS):
            raise _Undecided
        if any(c.isalpha() for c in body):
            found = True
        return " "

    try:
        rest = _TEXT_GROUP.sub(text_group, s)
    except _Undecided:
        return False
    for m in _COMMAND.finditer(rest):
        if m.group(1) not in _PLAIN_COMMANDS:
            return False
    rest = _COMMAND.sub(" ", rest)
    if any(c.isalpha() and not ("a" <= c <= "z") for c in rest):
        return False  # upper case, other scripts: let the parser decide
    return found or any(c.isalpha() and c != "e" for c in rest)


class _Undecided(Exception):
    pass


def _unbalanced_close(s: str) -> int | None:
    depth = 0
    for i, ch in enumerate(s):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return i
    return None


def _parse_eval(s: str) -> tuple[object, str]:
    """(value, status) of eval(str(latex2sympy(s))), or a free-symbol shortcut. The parse and
    eval run in the verifier's symbolic worker processes under a hard deadline: sympy on
    model text can block in C (huge powers), which no thread can interrupt."""
    if _leaves_free_symbol(s):
        return None, "ok"
    reply = run_symbolic(
        {"op": "official_latex_value", "expr": s, "max_printed": 4 * _MAX_EVAL_CHARS},
        _EVAL_DEADLINE_S,
    )
    if reply.get("status") != "ok":
        return None, reply.get("status", "unparseable")
    v = reply.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None, "ok"
    return v, "ok"


def official_verdict(raw_gold: str, options: tuple[str, ...], response: str) -> tuple[str, bool]:
    """(model_answer, correct) as MATH-V reports them, from the raw (uncleaned) gold."""
    answer, ok, _ = official_verdict_status(raw_gold, options, response)
    return answer, ok


def official_verdict_status(
    raw_gold: str, options: tuple[str, ...], response: str
) -> tuple[str, bool, str]:
    """As `official_verdict`, plus "ok", or "unparseable" / "timeout" where a comparison was
    refused by a guard or cut off by the deadline (the official evaluator, unguarded, would
    have tried and possibly hung)."""
    _STATE.status = "ok"
    answer = official_model_answer(response)
    gold_value = ""
    if options:
        idx = ord(raw_gold[:1] or "A") - ord("A")
        gold_value = options[idx] if 0 <= idx < len(options) else ""
    ok = official_is_equal(raw_gold, answer) or official_is_equal(gold_value, answer)
    return answer, ok, "ok" if ok else _STATE.status


def official_value(s: str):
    """The number the official evaluator sees in `s` (None where it sees none)."""
    return _value(s)
