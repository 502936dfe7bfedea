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


def _on_alarm(signum, frame):
    raise _SoftTimeout()


def _limit_memory() -> None:
    limit_mb = int(os.environ.get("OVLT_VERIFY_WORKER_MEM_MB", "3072"))
    try:
        import resource

        soft_hard = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (soft_hard, soft_hard))
    except (ImportError, ValueError, OSError):
        pass


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

    def handle(req: dict) -> dict:
        op = req.get("op")
        if op == "verify":
            gold = list(parse_gold(req["gold"]))
            if not gold:
                return {"status": "unparseable", "detail": "gold"}
            pred = _parse(req["pred"])
            if not pred:
                return {"status": "unparseable", "detail": "pred"}
            return {"status": "ok", "correct": bool(verify(gold, pred, timeout_seconds=None))}
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
            correct = bool(verify(gold, pred, timeout_seconds=None))
            return {"status": "ok", "value": None, "correct": correct}
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
    out = sys.stdout
    out.write('{"status": "ready"}\n')
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            signal.setitimer(signal.ITIMER_REAL, max(0.01, float(req.get("t", 5.0))))
            try:
                reply = handle(req)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
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
