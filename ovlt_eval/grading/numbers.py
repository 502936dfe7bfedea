"""When two numbers are the same answer: exact fractions, percentages read both ways, a stated
precision (digits or tolerance), a gold written with decimals, and floats from the symbolic
worker compared with a relative tolerance that a last-bit difference cannot flip."""

from __future__ import annotations

import math
from fractions import Fraction

from ovlt_eval.grading.normalize import Number

REL_TOL = 1e-6


def _candidates(n: Number, other: Number) -> tuple[Fraction, ...]:
    if n.percent and not other.percent:
        return (n.value, n.value / 100)
    return (n.value,)


def numbers_equal(gold: Number, pred: Number, precision: int | float | None) -> bool:
    for g in _candidates(gold, pred):
        for p in _candidates(pred, gold):
            if _values_equal(g, p, gold, pred, precision):
                return True
    return False


def _values_equal(
    g: Fraction, p: Fraction, gold: Number, pred: Number, precision: int | float | None
) -> bool:
    if g == p:
        return True
    if precision is not None:
        if float(precision).is_integer():
            digits = int(precision)
            return round(float(g), digits) == round(float(p), digits)
        return abs(float(g) - float(p)) <= float(precision) + 1e-12
    if gold.exact_decimal and gold.decimals > 0 and not pred.exact_decimal:
        return round(float(p), gold.decimals) == float(g)
    return False


def float_equal(g: Number, p: float, precision: int | float | None) -> bool:
    gv = float(g.value)
    if precision is not None:
        if float(precision).is_integer():
            return round(gv, int(precision)) == round(p, int(precision))
        return abs(gv - p) <= float(precision) + 1e-12
    if math.isclose(gv, p, rel_tol=REL_TOL, abs_tol=1e-12):
        return True
    if g.exact_decimal and g.decimals > 0:
        return round(p, g.decimals) == gv
    return False


def stable_float_equal(g: Number, value: float, precision: int | float | None) -> bool | None:
    """float_equal on a locally computed float, or None when a last-bit difference from the
    worker's exact value could flip it (the value sits on a rounding boundary)."""
    verdict = float_equal(g, value, precision)
    for nudged in (value * (1 + 1e-12) + 1e-15, value * (1 - 1e-12) - 1e-15):
        if float_equal(g, nudged, precision) != verdict:
            return None
    return verdict
