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
"$8 \\mathrm{~kg}$" is never matched by "8 kg"; 1/300 and 1/900 are "equal" (both 0.0); a gold
written "$\\boxed{\\frac{3}{4}}$" is never matched; "2π" never matches "$2\\pi$".

The LaTeX parser is MATH-V's own: latex2sympy2 1.9.1 on the ANTLR 4.7.2 runtime it pins. Both
clash with Math-Verify's ANTLR 4.13, so they are installed apart (`make setup`:
`pip install --no-deps --target .venv/mathv-latex2sympy2 latex2sympy2==1.9.1
antlr4-python3-runtime==4.7.2`; elsewhere name the folder in $OVLT_MATHV_LATEX2SYMPY2) and run
in worker processes of their own (symbolic_worker.py --mathv-latex2sympy2). Its quirks are the
official verdicts: it reads the longest parsable prefix ("5.so,even..." is 5,
"\\frac{1}{2}.theansweris\\boxed{d" is 1/2), rejects "π", "%", "\\!" and "\\boxed", keeps
"{4}" as 4, and evaluates "\\frac{3^{1008}-1}{3^{1009}}" (1/3 to 2 decimals). Another parser
(the Math-Verify fork) disagrees on about one item in two thousand, so without MATH-V's parser
there is no official MATH-V evaluator (`official_available()` is False).

Bounds the official code does not have (met only by hostile text, and reported as a status):
each parse + eval runs under a deadline in a killable process; strings over _MAX_EVAL_CHARS
characters and integer powers / factorials of over 100,000 digits are refused.
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from functools import lru_cache
from pathlib import Path

from ovlt_eval.grading.timeout import run_symbolic_mode

_FLAGS = ("the final answer is", "the answer is", "the correct answer is", "the answer should be")
# Longer strings are not sent to the parser (status "unparseable"). The official evaluator
# has no such limit; its model answers run to about 1,000 characters (run-on sentences).
_MAX_EVAL_CHARS = 4000
_PARSER_ENV = "OVLT_MATHV_LATEX2SYMPY2"


def parser_dir() -> Path | None:
    """The folder holding MATH-V's latex2sympy2 1.9.1 and its ANTLR 4.7.2 runtime, or None."""
    return _parser_dir(os.environ.get(_PARSER_ENV) or "")


@lru_cache(maxsize=8)
def _parser_dir(env: str) -> Path | None:
    # Looked up once per setting, not once per scored item (two stat calls each); a folder
    # installed while the process runs is seen by the next process.
    folder = Path(env) if env else Path(sys.prefix) / "mathv-latex2sympy2"
    if (folder / "latex2sympy2.py").is_file() and (folder / "antlr4").is_dir():
        return folder
    return None


def official_available() -> bool:
    """True when MATH-V's own LaTeX parser is installed (see the module docstring)."""
    return parser_dir() is not None


def parser_unusable() -> str | None:
    """Why the installed parser must not be used (fingerprint or self-test failed), or None;
    see mathvision_parser.py. Checked once per process and folder."""
    folder = parser_dir()
    if folder is None:
        return None
    from ovlt_eval.benchmarks.mathvision_parser import parser_problem

    return parser_problem(folder)


PARSER_PINS = ("latex2sympy2==1.9.1", "antlr4-python3-runtime==4.7.2")

INSTALL_HINT = (
    "MATH-V's official evaluator needs its own LaTeX parser: pip install --no-deps --target "
    f"{Path(sys.prefix) / 'mathv-latex2sympy2'} latex2sympy2==1.9.1 antlr4-python3-runtime==4.7.2 "
    f"(or name another folder in ${_PARSER_ENV})"
)


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
    """utils.py `is_equal(asw, gt_asw)`, called as is_equal(gold, model_answer)."""
    a, b = x.lower(), y.lower()
    if not a.replace(" ", "") or not b.replace(" ", ""):
        return False
    if a.strip() == b.strip():
        return True
    a, b = _eval_tuple(a), _eval_tuple(b)
    if a == b:
        return True
    # round(eval(str(latex2sympy(gt_asw))), 2) == round(eval(str(latex2sympy(asw))), 2) under
    # a bare except: the model's side first, as there (where it has no value, the gold's
    # evaluation is not needed).
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
    """utils.py `eval_tuple`: "(a,b)" / "[a,b]" with each element evaluated and rounded to 2
    decimals ("infty", "a", "-a" kept); the string unchanged where any element fails."""
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
# A parse + eval takes milliseconds, a long run-on sentence a second or two (ANTLR's
# prediction on letter runs); this stops a hostile string.
_EVAL_DEADLINE_S = 8.0


def _note(status: str) -> None:
    if getattr(_STATE, "status", "ok") != "timeout":
        _STATE.status = status


def _value(s: str):
    """eval(str(latex2sympy(s))) with math names in scope, or None where that raises.

    One deadline per verdict: once a parse of this verdict has timed out, its further parses
    are not tried (the verdict is `timeout` already, and each would wait out the deadline too:
    ~200 s a file of 2,500 hostile replies, issue 19)."""
    if getattr(_STATE, "status", "ok") == "timeout":
        return None
    v, status = _evaluate(s)
    if status != "ok":
        _note(status)
    return v


@lru_cache(maxsize=65536)
def _evaluate(s: str) -> tuple[object, str]:
    """(value, status): status "unparseable" where a bound refused the string (or the parser
    is missing), "timeout" where the parse ran past its deadline."""
    if len(s) > _MAX_EVAL_CHARS:
        return None, "unparseable"
    quick = _quick_value(s)
    if quick is not _UNKNOWN:
        return quick, "ok"
    if _leads_with_symbol(s) or _UNIT_TAIL.fullmatch(s):
        return None, "ok"
    return _parse_eval(s)


# Tokens of latex2sympy2's lexer (PS.g4) that start with a letter, besides single letters:
# "d" + letter is a differential, "e" Euler's number, "E" an exponent mark.
_LETTER_WORDS = (
    "arccosh arcosh arcsinh arctanh arsinh artanh bmatrix ceil cols floor gcd hstack lcm "
    "matrix norm nullspace ones pmatrix rank rows rref vmatrix vstack zeros tr orth svd SVD"
).split()


def _leads_with_symbol(s: str) -> bool:
    """True when latex2sympy2's first token is a plain letter (a Symbol): then the official
    value is None. In the state an official run is in (symbolic_worker.py, `_main_mathv`),
    converting any Symbol raises, and a syntax error raises too. Run-on sentences
    ("thequestioncannotbeanswered...") cost the parser seconds each; this answers at once."""
    if s[:1] == "<":  # "<image2>": a relation with no left side, a syntax error
        return True
    # "d92", "d\\sqrt{7}", "d)": a "d" not followed by a letter is no differential but the
    # symbol d; "d"/"e" followed by letters ("dbeetle…", "eitdepends…") multiply symbols.
    # ("ee" is e*e, a number: a second e/E/d keeps the string for the parser.)
    if s[:1] in "de" and s[:1] and s[1:2].isascii() and s[1:2].isalpha():
        return s[1] not in "deE" and not s.startswith(tuple(_LETTER_WORDS))
    if s[:1] == "d" and not s[1:2].isalpha():
        return True
    # "{noneoftheabove}", "(a,b)", "$x$": an opening bracket or dollar, then a plain letter
    lead = s.lstrip("{([$ ")
    if lead is not s and lead[:1].isascii() and lead[:1].isalpha() and lead[0] not in "deE":
        return not lead.startswith(tuple(_LETTER_WORDS))
    return (
        s[:1].isascii()
        and s[:1].isalpha()
        and s[0] not in "deE"
        and not s.startswith(tuple(_LETTER_WORDS))
    )


# A number followed by a unit the grammar reads as a symbol ("12\\mathrm{~cm}^{2}",
# "$30^{\\circ}$", "5{cm}", "90\\degree"): the whole string parses, so the longest-prefix
# quirk does not apply, and the symbol raises: no value. (Not "\\%": "$20\\%$" is 0.2.)
_UNIT_TAIL = re.compile(
    r"\$?[ ]*-?(?:[0-9]+(?:\.[0-9]+)?|\\frac\{[0-9]+\}\{[0-9]+\})[ ]*"
    r"(?:\\mathrm\{[~ ]*[A-Za-z][A-Za-z~ ]*\}|\{[a-z]+\}|\^\{?\\circ\}?|\\degree)"
    r"(?:\^\{?[0-9]+\}?)?[ ]*\$?"
)

_UNKNOWN = object()
# ASCII digits only: int("٣") is 3, but the parser rejects it.
_INT = re.compile(r"[ \t\n]*[-+]?[0-9]+[ \t\n]*")
_DECIMAL = re.compile(r"[ \t\n]*([-+]?)([0-9]{0,12})\.([0-9]{1,12})[ \t\n]*")
_INT_FRAC = re.compile(r"\\frac\{([0-9]+)\}\{([0-9]+)\}|([0-9]+) *[:/] *([0-9]+)")
# "6\sqrt{2}", "\sqrt{17}", "14\pi": printed "6*sqrt(2)", "sqrt(17)", "14*pi"
_INT_ROOT_PI = re.compile(r"([0-9]*) *\\(?:sqrt\{([0-9]+)\}|(pi))")


def _quick_value(s: str):
    """What latex2sympy2 + eval give for the commonest forms, without a parser round trip
    (tests/ovlt_eval/benchmarks/test_official_fast_paths.py checks each against the parser).
    The printed type matters to tuples ("2" vs "2.0"): an integer stays an int; a decimal is
    read as a Rational, so an integral one ("2.0") is an int and others a float; a fraction
    is printed unevaluated ("4/2"), so eval gives a float."""
    if len(s) > 2 and s[0] == "$" and s[-1] == "$" and "$" not in s[1:-1]:
        s = s[1:-1]  # the parser drops dollars
    if _INT.fullmatch(s):
        return int(s)
    m = _DECIMAL.fullmatch(s)
    if m:
        sign, whole, frac = m.groups()
        if frac.strip("0") == "":
            return int(sign + (whole or "0"))
        return float(s)
    m = _INT_FRAC.fullmatch(s)
    if m:
        a, b = int(m.group(1) or m.group(3)), int(m.group(2) or m.group(4))
        return None if b == 0 else a / b  # ZeroDivisionError under the bare except
    m = _INT_ROOT_PI.fullmatch(s)
    if m:
        base = math.pi if m.group(3) else math.sqrt(int(m.group(2)))
        return int(m.group(1)) * base if m.group(1) else base
    return _UNKNOWN


def _parse_eval(s: str) -> tuple[object, str]:
    """(value, status) of eval(str(latex2sympy(s))) in MATH-V's parser's worker processes,
    under a hard deadline: sympy on model text can block in C (huge powers), which no thread
    can interrupt."""
    folder = parser_dir()
    if folder is None:
        return None, "unparseable"
    reply = run_symbolic_mode(
        ("--mathv-latex2sympy2", str(folder)),
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
    refused by a bound or cut off by the deadline (the official evaluator, unbounded, would
    have gone on)."""
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
