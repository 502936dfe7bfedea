"""Runs: generate with an engine over a benchmark, score, resume, report.

A run directory holds three files:

- `samples.jsonl` — append-only, one fsync'ed line per finished item; the latest line per id
  wins. Fields: `id`, `response`, `extracted`, `correct`, `status` (the benchmark's statuses,
  or `error` when the request failed after the engine's retries), `how`, `tokens`,
  `finish_reason`; `extra_samples` (samples 2..n when `--n` > 1); `judge` (when a judge
  re-checked the item), `verdict_source` (`rules` | `judge`) and `final_correct` (the verdict
  that counts for rules+judge); `error` for failed items.
- `summary.json` — what `ovlt-eval score` writes (same code: the benchmark's `summarize`),
  plus `run` (pass@k, mean response length, no-answer rate, errors, completeness) and, with a
  judge, `judge` and `accuracy_by_verdict` (rules vs rules+judge).
- `eval_card.json` — everything that can move the number (see `card`).

Modules: `store` (the JSONL), `fingerprint` (hashes), `card` (eval card and resume guard),
`runner` (one benchmark run), `summary` (run figures), `judge` + `judge_prompts` (LLM judge),
`report` (`ovlt-eval compare`).
"""
