"""The two scoring protocols every benchmark offers.

* `official` (default) reproduces the benchmark's official evaluator, defects included, so a
  published number can be reproduced from the same outputs. Where the official pipeline
  calls GPT to extract an answer, our rule-based extraction takes its place.
* `corrected` is our extraction plus our verifier: option letter <-> option text, options
  written in LaTeX or with units, units and thousands separators in numbers, no rounding
  to 2 decimals, no free option for a refusal.

Each scored item records both verdicts and, where they differ, a short category saying why
(`disagreement`), so the official evaluator's errors are counted, not hidden.
"""

from __future__ import annotations

from ovlt_eval.errors import UserError

PROTOCOLS = ("official", "corrected")
DEFAULT_PROTOCOL = "official"


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown scoring protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return protocol
