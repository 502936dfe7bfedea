"""The three scoring protocols every benchmark offers (each a named answer policy,
ovlt_eval/grading/policy.py).

* `reference` reproduces the OpenVLThinker authors' evaluation script
  (evaluation/eval_openvlthinker.py; eval_qwen.py for the `qwen` profile): the numbers in the
  paper's table. The answer is the last `<answer>` of a reply that closes it; the gold is
  mapped to its option letter; lower-case equality or mathruler's `grade_answer`.
* `official` reproduces the benchmark's official evaluator, defects included, so a
  published number can be reproduced from the same outputs. Where the official pipeline
  calls GPT to extract an answer, our rule-based extraction takes its place.
* `corrected` is our extraction plus our verifier: option letter <-> option text, options
  written in LaTeX or with units, units and thousands separators in numbers, no rounding
  to 2 decimals, no free option for a refusal.

Each scored item records all three verdicts and, where they differ, a short category saying why
(`disagreement`), so the official evaluator's errors are counted, not hidden.
"""

from __future__ import annotations

from ovlt_eval.errors import UserError

PROTOCOLS = ("reference", "official", "corrected")
DEFAULT_PROTOCOL = "official"


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown scoring protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return protocol
