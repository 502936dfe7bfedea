"""Hostile MMMU-Pro parquet files (issue 18 item 8): wall time and peak memory of loading.

    .venv/bin/python bench/hostile_parquet.py [--scale 1.0]

Writes three small files whose cells expand far past any real benchmark field (at scale 1:
options as a 10 MB list literal; a 400 MB question; one row with a million options as a
list column), loads each through the real benchmark loader in a child process under
`/usr/bin/time -v`, and prints file size, wall seconds, peak RSS and the first output line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from timed import run_timed  # noqa: E402


def _write(path: Path, **cells) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = {"id": "validation_Art_1", "question": "Which?", "options": "['a', 'b']", "answer": "A"}
    row.update(cells)
    pq.write_table(pa.table({k: [v] for k, v in row.items()}), path, compression="zstd")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    s = ap.parse_args().scale
    files = {
        "options_10MB_literal": {"options": str(["x" * 40] * int(230_000 * s))},
        "question_400MB": {"question": "q" * int((400 << 20) * s)},
        "options_1M_list": {"options": ["o"] * int(1_000_000 * s)},
    }
    load = (
        "import sys; sys.path.insert(0, '.'); from ovlt_eval.benchmarks import get_benchmark\n"
        "from ovlt_eval.errors import UserError\n"
        "try:\n"
        "    items = get_benchmark('mmmu-pro-10').load(split='test', data=sys.argv[1])\n"
        "    print('loaded', len(items), 'item(s)')\n"
        "except UserError as e:\n"
        "    print('refused:', str(e)[-160:])\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, cells in files.items():
            path = Path(tmp) / f"{name}.parquet"
            _write(path, **cells)
            done, wall, rss = run_timed([sys.executable, "-c", load, str(path)], cwd=ROOT)
            first = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines()[-1:])[0]
            print(
                f"{name:22s} file={path.stat().st_size / 1024:.1f} KB wall={wall} "
                f"peak_rss_mb={rss} | {first[:200]}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
