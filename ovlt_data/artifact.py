"""A built version on disk: parquet shards per config, fingerprint, stats.

Layout of `<out>/<name>/<version>/`:
    data/<config>/train-00000.parquet ...   (configs: sft, grpo_medium, grpo_hard, rejected)
    manifest.json  README.md  figures/*.png
Rows are written as they come (a few hundred per row group), so a build never holds the round
in memory; the fingerprint is a hash chain over rows in stream order, images by sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from ovlt_data.prompts import question_block
from ovlt_data.schema import CONFIGS, Rejected, Row
from ovlt_data.stages.select_clean import words

ROWS_PER_FILE = 20_000
ROWS_PER_GROUP = 500


# (name, kind) with kind: string | int64 | float64 | image_list | string_list | bool_list
COLUMNS = (
    ("id", "string"),
    ("order", "int64"),  # order: position in the source stream; merges restore it
    ("source", "string"),
    ("pool", "string"),
    ("images", "image_list"),
    ("question", "string"),
    ("prompt", "string"),
    ("answer", "string"),
    ("choices", "string_list"),
    ("answer_type", "string"),
    ("caption", "string"),
    ("response", "string"),
    ("samples", "string_list"),
    ("sample_correct", "bool_list"),
    ("pass_rate", "float64"),
    ("difficulty", "string"),
    ("policy_pass_rate", "float64"),
    ("reject_stage", "string"),
    ("reject_reason", "string"),
    ("reject_detail", "string"),
    ("provenance", "string"),
)


def arrow_schema(columns=COLUMNS):
    """The parquet schema plus the `huggingface` features metadata `datasets` reads (images as
    Image), built by hand so a build does not import `datasets` (~2 s)."""
    import pyarrow as pa

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    arrow = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "image_list": pa.list_(image),
        "string_list": pa.list_(pa.string()),
        "bool_list": pa.list_(pa.bool_()),
    }
    value = lambda dtype: {"dtype": dtype, "_type": "Value"}  # noqa: E731
    hf = {
        "string": value("string"),
        "int64": value("int64"),
        "float64": value("float64"),
        "image_list": {"feature": {"_type": "Image"}, "_type": "List"},
        "string_list": {"feature": value("string"), "_type": "List"},
        "bool_list": {"feature": value("bool"), "_type": "List"},
    }
    meta = {"info": {"features": {name: hf[kind] for name, kind in columns}}}
    return pa.schema(
        [(name, arrow[kind]) for name, kind in columns],
        metadata={b"huggingface": json.dumps(meta).encode()},
    )


def row_record(row: Row, order: int) -> dict[str, Any]:
    ex = row.example
    return {
        "id": ex.id,
        "order": order,
        "source": ex.source,
        "pool": row.pool,
        "images": [
            {"bytes": im.data, "path": f"{im.sha256[:16]}.{im.format.lower()}"} for im in ex.images
        ],
        "question": ex.question,
        "prompt": question_block(ex),
        "answer": ex.answer,
        "choices": list(ex.choices) if ex.choices else None,
        "answer_type": ex.answer_type,
        "caption": row.caption,
        "response": row.response,
        "samples": list(row.samples) or None,
        "sample_correct": list(row.sample_correct) or None,
        "pass_rate": row.pass_rate,
        "difficulty": row.difficulty,
        "policy_pass_rate": row.policy_pass_rate,
        "reject_stage": row.drop_stage,
        "reject_reason": row.drop_reason,
        "reject_detail": row.drop_detail,
        "provenance": json.dumps(ex.provenance, sort_keys=True, default=str),
    }


def rejected_record(rej: Rejected, pool: str, order: int) -> dict[str, Any]:
    return {
        "id": rej.id,
        "order": order,
        "source": rej.source,
        "pool": pool,
        "images": [],
        "question": rej.question,
        "prompt": rej.question,
        "answer": rej.answer,
        "choices": None,
        "answer_type": None,
        "caption": None,
        "response": None,
        "samples": None,
        "sample_correct": None,
        "pass_rate": None,
        "difficulty": None,
        "policy_pass_rate": None,
        "reject_stage": "source",
        "reject_reason": rej.reason,
        "reject_detail": rej.detail or None,
        "provenance": "{}",
    }


def route(row: Row) -> str:
    if row.dropped:
        return "rejected"
    if row.pool == "sft":
        return "sft"
    return "grpo_hard" if row.difficulty == "hard" else "grpo_medium"


_IMAGE_COLUMNS = frozenset(name for name, kind in COLUMNS if kind == "image_list")


def record_digest(rec: dict[str, Any]) -> bytes:
    """A row's content hash: its columns in schema order as one JSON array (typed, escaped and
    delimited, so no two different records give the same text), images by their content-derived
    name `<sha256[:16]>.<ext>`, so image bytes are not re-hashed. One C-encoded dump per row."""
    vals = [
        [im["path"] for im in rec[name]] if name in _IMAGE_COLUMNS and rec[name] else rec[name]
        for name, _ in COLUMNS
    ]
    return hashlib.sha256(json.dumps(vals, separators=(",", ":")).encode()).digest()


class DataStats:
    """What the dataset card shows; fed row by row, small whatever the size of the round."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.by_source: dict[str, Counter] = defaultdict(Counter)
        self.reject_reasons: Counter = Counter()
        self.lengths: Counter = (
            Counter()
        )  # words per kept SFT trace -> traces: O(distinct), not O(rows)
        self.pass_sum: dict[str, float] = defaultdict(float)
        self.pass_n: Counter = Counter()

    def add(self, config: str, rec: dict[str, Any]) -> None:
        self.counts[config] += 1
        self.by_source[rec["source"]][config] += 1
        if config == "rejected":
            self.reject_reasons[f"{rec['reject_stage']}:{rec['reject_reason']}"] += 1
        if config == "sft" and rec["response"]:
            self.lengths[words(rec["response"])] += 1
        rate = rec["pass_rate"] if rec["pass_rate"] is not None else rec["policy_pass_rate"]
        if rate is not None:
            self.pass_sum[rec["source"]] += rate
            self.pass_n[rec["source"]] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": {c: self.counts.get(c, 0) for c in CONFIGS},
            "by_source": {s: dict(c) for s, c in sorted(self.by_source.items())},
            "reject_reasons": dict(self.reject_reasons.most_common()),
            "pass_rate_by_source": {
                s: round(self.pass_sum[s] / n, 4) for s, n in sorted(self.pass_n.items())
            },
            "sft_words": _summary(self.lengths),
            # the figure's input (words -> traces); a figure is drawn from aggregates only
            "sft_lengths": dict(sorted(self.lengths.items())),
        }


def _summary(counts: Counter) -> dict[str, Any]:
    n = sum(counts.values())
    if not n:
        return {"n": 0}
    median, seen = None, 0
    for value, c in sorted(counts.items()):  # the element at n // 2 of the sorted values
        seen += c
        if seen > n // 2:
            median = value
            break
    total = sum(v * c for v, c in counts.items())
    return {"n": n, "mean": round(total / n, 1), "median": median, "max": max(counts)}


class VersionWriter:
    def __init__(self, root: Path):
        import pyarrow as pa  # noqa: F401

        self.root = root
        self.schema = arrow_schema()
        self.buffers: dict[str, list[dict]] = {c: [] for c in CONFIGS}
        self.writers: dict[str, Any] = {}
        self.file_rows: Counter = Counter()
        self.file_index: Counter = Counter()
        self.chains = {c: hashlib.sha256() for c in CONFIGS}
        self.stats = DataStats()

    def add(self, config: str, rec: dict[str, Any]) -> None:
        self.buffers[config].append(rec)
        self.chains[config].update(record_digest(rec))
        self.stats.add(config, rec)
        if len(self.buffers[config]) >= ROWS_PER_GROUP:
            self._flush(config)

    def _writer(self, config: str):
        import pyarrow.parquet as pq

        if config not in self.writers or self.file_rows[config] >= ROWS_PER_FILE:
            if config in self.writers:
                self.writers[config].close()
                self.file_index[config] += 1
                self.file_rows[config] = 0
            path = self.root / "data" / config / f"train-{self.file_index[config]:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers[config] = pq.ParquetWriter(str(path), self.schema)
        return self.writers[config]

    def _flush(self, config: str) -> None:
        from ovlt_data.arrow_rows import table as arrow_table

        rows = self.buffers[config]
        if not rows:
            return
        table = arrow_table(rows, self.schema)  # = Table.from_pylist, without importing pandas
        self._writer(config).write_table(table)
        self.file_rows[config] += len(rows)
        self.buffers[config] = []

    def close(self) -> str:
        """Flush, close, write an empty file for empty configs; return the dataset fingerprint."""
        for c in CONFIGS:
            self._flush(c)
            self._writer(c)  # every config gets at least one (possibly empty) file
        for w in self.writers.values():
            w.close()
        top = hashlib.sha256()
        for c in CONFIGS:
            top.update(f"{c}:{self.chains[c].hexdigest()}\n".encode())
        return top.hexdigest()


def _corrupt(path: Path, err: Exception):
    from ovlt_eval.errors import UserError

    why = " ".join(str(err).split())[:200]
    return UserError(
        f"{path}: corrupt or truncated parquet ({why}); rebuild or re-download the version"
    )


def _parquet_file(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:  # footer missing: the file was cut short
        raise _corrupt(path, e) from None


def iter_config(version_dir: Path, config: str, columns: list[str] | None = None):
    """Rows of one config, a row group at a time."""
    import pyarrow as pa

    for path in sorted((Path(version_dir) / "data" / config).glob("*.parquet")):
        pf = _parquet_file(path)
        for i in range(pf.num_row_groups):
            try:
                group = pf.read_row_group(i, columns=columns)
            except (pa.ArrowException, OSError) as e:  # a damaged page inside the file
                raise _corrupt(path, e) from None
            yield from group.to_pylist()


def check_data(version_dir: Path, manifest: dict[str, Any]) -> None:
    """Every config's parquet files open (footers intact) and hold the rows the manifest counts:
    a download or copy cut short is named, never summarised as if it were whole."""
    from ovlt_eval.errors import UserError

    counts = manifest["stats"]["counts"]
    for config in CONFIGS:
        files = sorted((Path(version_dir) / "data" / config).glob("*.parquet"))
        rows = sum(_parquet_file(p).metadata.num_rows for p in files)
        want = counts.get(config)
        if want is not None and rows != want:
            raise UserError(
                f"{version_dir}: data/{config} holds {rows} rows, the manifest says {want}: "
                "files are missing or were replaced; rebuild or re-download the version"
            )


def read_manifest(version_dir: Path) -> dict[str, Any]:
    from ovlt_data.manifest_check import check_manifest
    from ovlt_eval.errors import UserError

    path = Path(version_dir) / "manifest.json"
    if not path.is_file():
        raise UserError(f"{version_dir}: not a built version (no manifest.json)")
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as e:  # cut short, edited, or not JSON at all
        raise UserError(f"{path}: not a valid manifest (not JSON: {e})") from None
    return check_manifest(data, str(path))
