"""`local`: JSONL, JSON (list or dict of records), parquet, or an image folder with metadata.jsonl."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ovlt_data.card_io import resolve_card_path
from ovlt_data.sources import SourceContext, SourceKind, register_source
from ovlt_data.sources.mapping import FieldMap, map_record
from ovlt_eval.errors import UserError


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    fields: FieldMap = FieldMap()
    answer_type: str | None = None  # for every row, when no column says it
    image_dir: str | None = None  # relative image paths resolve here (default: the file's folder)


def _resolve(path: str, ctx: SourceContext) -> Path:
    return resolve_card_path(path, ctx.base_dir)


MAX_LINE_BYTES = 64 << 20  # one JSONL record; a file without newlines is not read whole


def _lines(fh):
    """The file's lines, each read at most MAX_LINE_BYTES at a time; None for a longer line
    (its rest is skipped), so memory stays bounded whatever the file holds."""
    while raw := fh.readline(MAX_LINE_BYTES + 1):
        if len(raw) > MAX_LINE_BYTES:
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(MAX_LINE_BYTES)
            yield None
        else:
            yield raw


def _records(path: Path):
    if path.is_dir():
        meta = path / "metadata.jsonl"
        if not meta.exists():
            raise UserError(f"local source {path}: an image folder needs metadata.jsonl")
        for rec in _records(meta):
            if isinstance(rec, dict) and "file_name" in rec and "image" not in rec:
                rec = {**rec, "image": rec["file_name"]}
            yield rec
        return
    if not path.is_file():  # a FIFO would block, /dev/zero (or a link to it) never end
        raise UserError(f"local source {path}: not a regular file or folder")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open("rb") as fh:  # decoded line by line: one bad line is one rejected row
            for n, raw in enumerate(_lines(fh), 1):
                if raw is None:
                    yield {"__bad_json__": f"line {n}: longer than {MAX_LINE_BYTES >> 20} MiB"}
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield {"__bad_json__": f"line {n}: not UTF-8 (byte {e.start})"}
                    continue
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as e:
                        yield {"__bad_json__": f"line {n}: {e.msg}"}
    elif suffix == ".json":
        from ovlt_eval.benchmarks.loading import check_text_file

        # read whole by json: refuse a sparse or giant file before it is (the benchmarks' rule)
        check_text_file(path, "a JSON source")
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            why = "not UTF-8" if isinstance(e, UnicodeDecodeError) else f"not valid JSON ({e.msg})"
            raise UserError(f"local source {path}: {why}") from None
        if isinstance(data, dict):  # keyed by id, as MathVista / TabMWP publish them
            for key, rec in data.items():
                yield {"id": key, **rec} if isinstance(rec, dict) else {"id": key}
        else:
            yield from data
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=256):
            yield from batch.to_pylist()
    else:
        raise UserError(
            f"local source {path}: unsupported file type '{suffix}' (jsonl, json, parquet, folder)"
        )


def _open(name: str, opts: LocalOptions, ctx: SourceContext):
    path = _resolve(opts.path, ctx)
    if not path.exists():
        raise UserError(f"source '{name}': path not found: {path}")
    image_dir = (
        str(_resolve(opts.image_dir, ctx))
        if opts.image_dir
        else str(path if path.is_dir() else path.parent)
    )
    records = _records(path)

    def gen():
        from ovlt_data.schema import Rejected

        for i, rec in enumerate(records):
            if not isinstance(rec, dict):  # a JSONL line `5` or `[1]`: one bad row, not a crash
                what = "null" if rec is None else type(rec).__name__
                yield Rejected(f"{name}:{i}", name, "bad_record", f"a JSON {what}, not an object")
                continue
            if "__bad_json__" in rec:
                yield Rejected(f"{name}:{i}", name, "bad_record", rec["__bad_json__"])
                continue
            yield map_record(rec, opts.fields, name, i, ctx, opts.answer_type, image_dir)

    return gen()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        st = f.stat()
        # size + mtime per file: cheap, and it changes when a file is replaced
        h.update(
            f"{f.relative_to(path) if path.is_dir() else f.name}:{st.st_size}:{int(st.st_mtime)}\n".encode()
        )
    return h.hexdigest()[:16]


def _fingerprint(name: str, opts: LocalOptions, ctx: SourceContext) -> dict:
    path = _resolve(opts.path, ctx)
    return {
        "kind": "local",
        "path": str(path),
        "digest": file_digest(path) if path.exists() else None,
    }


register_source(
    SourceKind(
        "local", LocalOptions, _open, _fingerprint, "local JSONL / JSON / parquet / image folder"
    )
)
