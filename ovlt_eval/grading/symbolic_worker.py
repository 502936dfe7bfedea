"""Child-process side of the symbolic comparison: Math-Verify behind a line-JSON pipe.

Run as a script (``python symbolic_worker.py``), not imported by the parent, so it needs
nothing from ovlt. Sympy work is untrusted-input work (sympy's expression parser evals,
big-integer powers block in C), so it lives here, where the parent can kill it on a deadline
and an address-space limit turns runaway memory into MemoryError.

Protocol: one JSON request per stdin line, one JSON reply per stdout line.
  {"op": "verify", "gold": str, "pred": str, "t": seconds} -> {"status": "ok", "correct": bool}
  {"op": "evaluate", "expr": str, "t": seconds}            -> {"status": "ok", "value": str|None}
  {"op": "evaluate", "expr": str, "gold": str, "t": s}     -> as above, plus "correct": bool
      (the "verify" verdict) when the expression is not a real number
  statuses: "ok", "timeout", "unparseable"
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from functools import lru_cache


class _SoftTimeout(BaseException):
    """Raised from SIGALRM; BaseException so Math-Verify's `except Exception` lets it through."""


# Set when the alarm fired during a request: mathruler's grader wraps sympy in bare
# `except:` clauses that swallow the timeout exception and answer False, so the parent is
# told "timeout" from this flag rather than from the exception.
_ALARM_FIRED = False


def _on_alarm(signum, frame):
    global _ALARM_FIRED
    _ALARM_FIRED = True
    raise _SoftTimeout()


def _limit_memory() -> None:
    limit_mb = int(os.environ.get("OVLT_VERIFY_WORKER_MEM_MB", "3072"))
    try:
        import resource

        soft_hard = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (soft_hard, soft_hard))
    except (ImportError, ValueError, OSError):
        pass


# Typical answer shapes. The LaTeX parser (ANTLR) builds its prediction tables lazily, so
# the first answers of each shape cost several times more than later ones; parsing these at
# start-up (before "ready", so outside every caller's deadline) moves that one-time cost out
# of the first real requests. Worth about half the time of early symbolic calls.
_WARM_UP = (
    ("\\frac{1}{2}", "\\sqrt{2}"),
    ("2\\pi", "x^2+1"),
    ("(a+b)", "\\frac{a}{b}"),
    ("3x", "\\tan^{-1}(x)"),
    ("\\sin \\theta", "(1, 2)"),
    ("[0, 1]", "a+2b"),
    ("\\frac{\\sqrt{3}}{2}", "10^{3}"),
    ("x = 2", "2 \\mathrm{~cm}"),
    ("\\pi r^2", "45^\\circ"),
    ("1:2", "50\\%"),
)


def _warm_up(handle) -> None:
    signal.setitimer(signal.ITIMER_REAL, 10.0)  # never let the warm-up itself hang a start
    try:
        for gold, pred in _WARM_UP:
            handle({"op": "verify", "gold": gold, "pred": pred})
            handle({"op": "evaluate", "expr": pred, "gold": gold})
    except BaseException:  # noqa: BLE001 - a failed warm-up only means a slower first call
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


# MATH-V's official evaluator evals sympy's printout of the parsed LaTeX with
# `from math import *` in scope (see ovlt_eval/benchmarks/mathvision_official.py).
_BIG_POWER = None


def _official_latex_value(expr: str, max_printed: int) -> dict:
    """{"status": "ok", "value": int | float | None}: eval(str(latex2sympy(expr))); None
    wherever the official evaluator's try/except would have caught a failure."""
    global _BIG_POWER
    import math
    import re

    from latex2sympy2_extended import latex2sympy

    if _BIG_POWER is None:
        _BIG_POWER = re.compile(r"\*\*\s*\(?\s*\d{4,}|factorial\(\d{4,}")
    names = {k: getattr(math, k) for k in dir(math) if not k.startswith("_")}
    names.update({"abs": abs, "min": min, "max": max, "pow": pow, "round": round})
    names["__builtins__"] = {}
    try:
        printed = str(latex2sympy(expr))
        if len(printed) > max_printed or _BIG_POWER.search(printed):
            return {"status": "ok", "value": None}
        value = eval(printed, names)  # noqa: S307 - sympy's own printout, no builtins
    except Exception:  # noqa: BLE001 - the official evaluator's bare except
        return {"status": "ok", "value": None}
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        value = None
    return {"status": "ok", "value": value}


def main() -> None:
    _limit_memory()
    logging.disable(logging.WARNING)  # Math-Verify warns on every disabled timeout
    import sympy
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    latex_only = [LatexExtractionConfig(boxed_match_priority=0)]
    expr_only = [ExprExtractionConfig()]

    def _parse(s: str) -> list:
        """The whole string as one expression, or []. The parent hands over an answer that was
        already extracted, so Math-Verify's search for *some* number inside free text ("5 or
        more" -> 5) would be a false positive here."""
        out = parse(f"${s}$", extraction_config=latex_only, parsing_timeout=None)
        if out and isinstance(out[0], sympy.Basic | sympy.MatrixBase):
            return out
        # plain-Python spellings that LaTeX does not read: 2**3, 1/2*x
        out = parse(s, extraction_config=expr_only, parsing_timeout=None)
        if len(out) >= 2 and isinstance(out[1], str) and out[1].strip() == s.strip():
            return out
        return []

    parse_gold = lru_cache(maxsize=8192)(lambda s: tuple(_parse(s)))

    def _verify(gold: list, pred: list, raw: str) -> bool:
        if _distinct_numbers(gold, pred, raw) or _number_vs_variable(gold, pred, raw):
            return False
        return bool(verify(gold, pred, timeout_seconds=None))

    def _number_vs_variable(gold: list, pred: list, raw: str) -> bool:
        """A constant against an expression that takes two different values at two points
        (`144` vs `11ab/32 sin C`, `2` vs `pi - atan(1/d)`): no simplification can make them
        equal, so Math-Verify's simplify() pass is skipped. An expression that only looks
        variable (sin^2 x + cos^2 x) has the same value at both points and goes on."""
        if "%" in raw:
            return False
        g, p = gold[0], pred[0]
        if not (isinstance(g, sympy.Expr) and isinstance(p, sympy.Expr)):
            return False
        if {x for x in gold if isinstance(x, str)} & {x for x in pred if isinstance(x, str)}:
            return False
        if isinstance(g, sympy.Symbol) or isinstance(p, sympy.Symbol):
            return False  # Math-Verify matches a symbol by name (symbol "E" == Euler's e)
        if g.is_number and not p.is_number:
            return _varies(p)
        if p.is_number and not g.is_number:
            return _varies(g)
        return False

    def _varies(expr) -> bool:
        symbols = sorted(expr.free_symbols, key=str)
        if not symbols or len(symbols) > 8:
            return False
        values = []
        for offset in (0.0, 0.7548776662):
            point = {
                s: sympy.Float(0.4142135624 + offset + 0.3183098862 * i)
                for i, s in enumerate(symbols)
            }
            v = expr.evalf(20, subs=point)
            if not v.is_number or v.is_finite is not True:
                return False
            values.append(complex(v))  # complex is fine: a constant is the same everywhere
        a, b = values
        return abs(a - b) > 1e-6 * (1.0 + max(abs(a), abs(b)))

    def _distinct_numbers(gold: list, pred: list, raw: str) -> bool:
        """Two real constants whose values are far apart: Math-Verify can only call numbers
        equal when they are (exactly, or to 6 decimals with a float), so its simplify() pass,
        the slow part of a False verdict, has nothing to find."""
        if "%" in raw:
            return False  # percentages have their own rules there
        g, p = gold[0], pred[0]
        if not (isinstance(g, sympy.Expr) and isinstance(p, sympy.Expr)):
            return False
        if not (g.is_number and p.is_number):
            return False
        if {x for x in gold if isinstance(x, str)} & {x for x in pred if isinstance(x, str)}:
            return False  # the same text: Math-Verify's string comparison decides
        a, b = sympy.N(g, 30), sympy.N(p, 30)
        if a.is_real is not True or b.is_real is not True:
            return False
        a, b = float(a), float(b)
        return abs(a - b) > 1e-4 * max(1.0, abs(a), abs(b))

    def handle(req: dict) -> dict:
        op = req.get("op")
        if op == "verify":
            gold = list(parse_gold(req["gold"]))
            if not gold:
                return {"status": "unparseable", "detail": "gold"}
            pred = _parse(req["pred"])
            if not pred:
                return {"status": "unparseable", "detail": "pred"}
            return {"status": "ok", "correct": _verify(gold, pred, req["gold"] + req["pred"])}
        if op == "evaluate":
            pred = _parse(req["expr"])
            parsed = [p for p in pred if isinstance(p, sympy.Basic)]
            value = None
            if parsed and getattr(parsed[0], "is_number", False):
                number = sympy.N(parsed[0], 30)
                value = str(number) if number.is_real else None
            if value is not None or "gold" not in req:
                return {"status": "ok", "value": value}
            # Not a number: compare with the gold in the same round trip (the parent would
            # otherwise send a "verify" for the same expression next).
            gold = list(parse_gold(req["gold"]))
            if not gold:
                return {"status": "unparseable", "detail": "gold"}
            if not pred:
                return {"status": "unparseable", "detail": "pred"}
            correct = _verify(gold, pred, req["gold"] + req["expr"])
            return {"status": "ok", "value": None, "correct": correct}
        if op == "mathruler_grade":
            # The OpenVLThinker reference's comparison, run as published (mathruler's
            # grade_answer, sympy inside); `given` / `truth` keep the caller's argument order.
            from mathruler.grader import grade_answer

            return {"status": "ok", "correct": bool(grade_answer(req["given"], req["truth"]))}
        if op == "official_latex_value":
            return _official_latex_value(req["expr"], int(req.get("max_printed", 480)))
        if op == "ping":
            return {"status": "ok"}
        if op == "hold":
            # Diagnostic: behave like a C call that ignores signals (a big-integer power), so
            # the parent's hard-kill path can be exercised by tests and the bench.
            import time

            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(float(req.get("seconds", 60)))
            return {"status": "ok"}
        return {"status": "unparseable", "detail": f"unknown op {op!r}"}

    signal.signal(signal.SIGALRM, _on_alarm)
    if os.environ.get("OVLT_VERIFY_WORKER_WARMUP", "1") != "0":
        _warm_up(handle)
    out = sys.stdout
    out.write('{"status": "ready"}\n')
    out.flush()
    global _ALARM_FIRED
    for line in sys.stdin:
        try:
            req = json.loads(line)
            _ALARM_FIRED = False
            signal.setitimer(signal.ITIMER_REAL, max(0.01, float(req.get("t", 5.0))))
            try:
                reply = handle(req)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if _ALARM_FIRED:  # a swallowed timeout is still a timeout
                reply = {"status": "timeout", "detail": "soft"}
        except _SoftTimeout:
            reply = {"status": "timeout", "detail": "soft"}
        except MemoryError:
            reply = {"status": "unparseable", "detail": "memory limit"}
        except RecursionError:
            reply = {"status": "unparseable", "detail": "recursion limit"}
        except Exception as e:  # noqa: BLE001 - any failure on model text is a status
            reply = {"status": "unparseable", "detail": type(e).__name__}
        try:
            out.write(json.dumps(reply) + "\n")
            out.flush()
        except _SoftTimeout:  # alarm landing between reply and write: answer anyway
            out.write(json.dumps({"status": "timeout", "detail": "soft"}) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
