"""Numeric value of simple closed-form LaTeX (`2\\sqrt{3}`, `\\frac{\\pi}{4}+1`) in pure Python.

Most answers that used to reach the symbolic worker are numbers written with roots, pi and
fractions; evaluating those here saves an inter-process round trip and a sympy parse each.
The grammar is deliberately narrow: anything it is not sure to read the way Math-Verify's
LaTeX parser does (letters, `\\frac123`, `^10`, `/` mixed with implicit products, a mixed
number inside an expression, brackets, %, degrees, commas) gives None, and the caller falls
back to the worker. A None is never a verdict. What it does read the way Math-Verify does:
`a:b` as a/b, `11\\frac{1}{2}` alone as 11.5, `n!` for small n, `\\frac12`, `\\frac{\\pi}7`.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from ovlt_eval.grading.normalize import latex_light

_MAX_LEN = 200
_MAX_EXPONENT = 64.0
_MAX_FACTORIAL = 20
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<cmd>\\[A-Za-z]+)|(?P<sym>[-+*/^(){}!]|π|×|·|÷))"
)
_MUL_CMDS = {"\\cdot": "*", "\\times": "*", "\\div": "/"}
_OPS = {"×": "*", "·": "*", "÷": "/"}


class _Reject(Exception):
    """Outside the grammar: let the symbolic worker decide."""


def _tokens(s: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    s = s.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise _Reject
        pos = m.end()
        if m.group("num") is not None:
            out.append(("num", m.group("num")))
        elif m.group("cmd") is not None:
            cmd = m.group("cmd")
            if cmd in _MUL_CMDS:
                out.append(("op", _MUL_CMDS[cmd]))
            elif cmd in ("\\pi", "\\sqrt", "\\frac"):
                out.append(("cmd", cmd))
            else:
                raise _Reject
        else:
            sym = m.group("sym")
            if sym == "π":
                out.append(("cmd", "\\pi"))
            else:
                out.append(("op", _OPS.get(sym, sym)))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise _Reject
        self.i += 1
        return tok[1]

    def at(self, kind: str, value: str) -> bool:
        return self.peek() == (kind, value)

    def expr(self) -> float:
        value = self.term()
        while self.at("op", "+") or self.at("op", "-"):
            op = self.take("op")
            right = self.term()
            value = value + right if op == "+" else value - right
        return value

    def term(self) -> float:
        value = self.unary()
        divided = implicit = False
        while True:
            tok = self.peek()
            if tok in (("op", "*"), ("op", "/")):
                self.i += 1
                right = self.unary()
                if tok[1] == "/":
                    divided = True
                    if right == 0:
                        raise _Reject
                    value /= right
                else:
                    value *= right
            elif tok is not None and (
                tok[0] == "cmd"
                or tok == ("op", "(")
                or (tok[0] == "num" and self.t[self.i - 1] in (("op", ")"), ("op", "}")))
            ):
                # implicit product: 2\pi, 2\sqrt{3}, \sqrt{2}(1+x), 2^{12} 13^2. A number
                # directly before \frac is a mixed number (6\frac{1}{2} = 6.5), see atom().
                if tok == ("cmd", "\\frac") and self.t[self.i - 1][0] == "num":
                    raise _Reject
                implicit = True
                value *= self.power()
            else:
                break
            if divided and implicit:
                raise _Reject  # 1/2\pi: which grouping the parser picks is not ours to guess
        return value

    def unary(self) -> float:
        if self.at("op", "-"):
            self.i += 1
            return -self.unary()
        if self.at("op", "+"):
            self.i += 1
            return self.unary()
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if not self.at("op", "^"):
            return base
        self.i += 1
        if self.at("op", "{"):
            self.i += 1
            exp = self.expr()
            self.take("op", "}")
        else:
            tok = self.take("num")
            if len(tok) != 1:
                raise _Reject  # 2^10 is 2^1·0 in LaTeX; leave it to the real parser
            exp = float(tok)
        if self.at("op", "^") or abs(exp) > _MAX_EXPONENT:
            raise _Reject
        if base < 0 and not float(exp).is_integer():
            raise _Reject
        if base == 0 and exp <= 0:
            raise _Reject
        try:
            return math.pow(base, exp)
        except (OverflowError, ValueError):
            raise _Reject from None

    def mixed_number(self, whole: float) -> float:
        """`11\\frac{1}{2}` at the start of the answer: 11.5, as Math-Verify reads it; only
        digits in the fraction, and nothing may follow."""
        start = self.i
        self.take("cmd", "\\frac")
        parts = []
        for _ in range(2):
            self.take("op", "{")
            parts.append(self.take("num"))
            self.take("op", "}")
        if self.i != len(self.t) or not all(p.isdigit() for p in parts) or int(parts[1]) == 0:
            self.i = start
            raise _Reject
        return whole + int(parts[0]) / int(parts[1])

    def single_digit_or_group(self) -> float:
        """`\\frac{\\pi}7`: a bare one-digit argument is that digit."""
        tok = self.peek()
        if tok is not None and tok[0] == "num":
            if len(tok[1]) != 1:
                raise _Reject
            self.i += 1
            return float(tok[1])
        return self.group()

    def group(self) -> float:
        self.take("op", "{")
        value = self.expr()
        self.take("op", "}")
        return value

    def atom(self) -> float:
        tok = self.peek()
        if tok is None:
            raise _Reject
        kind, value = tok
        if kind == "num":
            self.i += 1
            nxt = self.peek()
            if nxt is not None and nxt[0] == "num":
                raise _Reject  # "2 3": two numbers side by side
            if nxt == ("op", "!"):
                self.i += 1
                if "." in value or int(value) > _MAX_FACTORIAL:
                    raise _Reject
                return float(math.factorial(int(value)))
            if nxt == ("cmd", "\\frac") and value.isdigit() and self.i == 1:
                return self.mixed_number(float(value))
            return float(value)
        if kind == "cmd":
            self.i += 1
            if value == "\\pi":
                return math.pi
            if value == "\\sqrt":
                radicand = self.group()
                if radicand < 0:
                    raise _Reject
                return math.sqrt(radicand)
            if value == "\\frac":
                nxt = self.peek()
                if nxt is not None and nxt[0] == "num" and len(nxt[1]) == 2 and nxt[1].isdigit():
                    self.i += 1  # \frac12: one digit each, as TeX reads it
                    num, den = float(nxt[1][0]), float(nxt[1][1])
                else:
                    num = self.group()
                    den = self.single_digit_or_group()
                if den == 0:
                    raise _Reject
                return num / den
        if tok == ("op", "("):
            self.i += 1
            inner = self.expr()
            self.take("op", ")")
            return inner
        if tok == ("op", "{"):
            return self.group()
        raise _Reject


@lru_cache(maxsize=16384)
def closed_form_value(s: str) -> float | None:
    """The real value of `s` when it is a closed-form number in the narrow grammar, else None."""
    if len(s) > _MAX_LEN or "\\sqrt[" in s:
        return None
    t = latex_light(s).strip().strip("$").strip()
    if not t:
        return None
    if t.count(":") == 1:
        # a ratio "a:b" is the number a/b to Math-Verify
        left, right = (closed_form_value(x) for x in t.split(":"))
        if left is None or right is None or right == 0:
            return None
        return left / right
    try:
        p = _Parser(_tokens(t))
        value = p.expr()
        if p.i != len(p.t):
            return None
    except (_Reject, RecursionError, OverflowError, ZeroDivisionError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    return value


def closed_form_tuple(s: str) -> list[float] | None:
    """Values of `(a, b, …)` / `[a, b, …]` whose items are all closed forms, else None."""
    t = latex_light(s).strip()
    if len(t) < 5 or t[0] not in "([" or t[-1] not in ")]" or len(t) > 4 * _MAX_LEN:
        return None
    from ovlt_eval.grading.normalize import split_top_level

    items = split_top_level(t[1:-1], ",")
    if len(items) < 2:
        return None
    values = [closed_form_value(x) for x in items]
    if any(v is None for v in values):
        return None
    return values
