"""Issue 19 item 6: the pictures say what they show. The report's response-length histogram
puts every run on one set of bins and names each run's max_tokens; a report comparing runs with
different max_tokens says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ovlt_eval.runs.report import RunResult, generation_warnings, length_bins, max_tokens_of


def _run(label: str, lengths: list[int], max_tokens: int | None) -> RunResult:
    card = {"settings": {"sampling": {"max_tokens": max_tokens}}} if max_tokens else None
    summary = {"benchmark": "mathvision", "split": "testmini"}
    return RunResult(label, Path(label), summary, card, lengths, "tokens")


def test_a_run_of_short_replies_shares_the_long_runs_bins():
    short = _run("tiny", [46] * 40, 48)  # the demo: 40 replies of ~46 tokens
    long = _run("ckpt", list(range(100, 2000, 25)), 2048)
    edges = length_bins([short, long])
    assert edges[0] == 0 and edges[-1] >= 1975 and len(edges) == 31
    counts, _ = np.histogram(short.lengths, edges)
    # one bar of 40 items at the left of the shared axis (with bins of its own, matplotlib
    # spread 40 equal values over 30 bins a fraction of a token wide: invisible at 0-2000)
    assert counts.max() == 40 and counts.argmax() == 0
    widths = np.diff(edges)
    assert np.allclose(widths, widths[0])


def test_runs_with_different_max_tokens_are_flagged():
    runs = [_run("tiny", [46] * 4, 48), _run("ckpt", [900, 1200], 2048), _run("preds", [10], None)]
    assert [max_tokens_of(r) for r in runs] == [48, 2048, None]
    flagged = [w for w in generation_warnings(runs) if "max_tokens" in w]
    assert flagged and "tiny: 48, ckpt: 2048" in flagged[0]
    assert not [w for w in generation_warnings(runs[:1] + runs[2:]) if "max_tokens" in w]
