"""Exports of a built version for training frameworks.

    from ovlt_data.export import export_dataset
    export_dataset("out/data/demo/v1", "trl-sft", "out/export/sft")

- `trl-sft`      sft.parquet: `messages` (conversational, image placeholder in the user turn) + `images`
- `trl-grpo`     grpo_medium.parquet, grpo_hard.parquet: `prompt` (conversational) + `images` +
                 `solution` (gold), plus `answer_type` / `choices` for the verifier reward; the
                 prompt text ends with EasyR1's format prompt (math_format.jinja), as the released
                 GRPO runs saw it
- `easyr1`       grpo_medium.parquet, grpo_hard.parquet: `problem` (with `<image>`), `answer`,
                 `images`; the problem is left bare, because EasyR1 renders math_format.jinja
                 itself at train time (verl/utils/dataset.py:134-136): adding it here would double it
- `llamafactory` <name>_sft.json (sharegpt `messages` + `images` paths, `<image>` tokens) +
                 images/ + dataset_info.json
Every file loads with `datasets.load_dataset("parquet" | "json", data_files=...)`; a config with
no rows writes no file (datasets refuses an empty split), and the returned list says what exists.
"""

from __future__ import annotations

import json
from pathlib import Path

from ovlt_data.artifact import check_data, iter_config, read_manifest
from ovlt_data.paths import inside, plain_name
from ovlt_data.released_formats import IMAGE_PLACEHOLDER, render_format_prompt
from ovlt_eval.atomic import atomic_open, write_json_atomic
from ovlt_eval.errors import UserError

FORMATS = ("trl-sft", "trl-grpo", "llamafactory", "easyr1")
BATCH = 256


def _user_content(n_images: int, text: str) -> list[dict]:
    return [{"type": "image", "text": None} for _ in range(n_images)] + [
        {"type": "text", "text": text}
    ]


def _write_parquet(path: Path, features, rows_iter) -> int:
    """Rows written; an empty result leaves no file (`datasets` refuses an empty split)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features.arrow_schema
    n = 0
    # through the one atomic writer: an export cut short leaves no truncated parquet in --out
    with atomic_open(path, "wb") as fh, pq.ParquetWriter(fh, schema) as w:
        buf = []
        for rec in rows_iter:
            buf.append(rec)
            if len(buf) >= BATCH:
                w.write_table(pa.Table.from_pylist(buf, schema=schema))
                n += len(buf)
                buf = []
        if buf:
            w.write_table(pa.Table.from_pylist(buf, schema=schema))
            n += len(buf)
    if n == 0:
        path.unlink()
    return n


def _turn_features() -> dict:
    """One conversational turn (user or assistant): role + typed content parts."""
    import datasets

    content = datasets.List({"type": datasets.Value("string"), "text": datasets.Value("string")})
    return {"role": datasets.Value("string"), "content": content}


def _write_grpo_configs(out: Path, features, rows_for) -> list[Path]:
    """One parquet per GRPO pool; `rows_for(config)` yields that pool's records."""
    paths = []
    for config in ("grpo_medium", "grpo_hard"):
        path = out / f"{config}.parquet"
        if _write_parquet(path, features, rows_for(config)):
            paths.append(path)
    return paths


def export_trl_sft(version_dir: Path, out: Path) -> list[Path]:
    import datasets

    turn = _turn_features()
    feats = datasets.Features(
        {
            "id": datasets.Value("string"),
            "messages": datasets.List(turn),
            "images": datasets.List(datasets.Image()),
        }
    )

    def rows():
        for r in iter_config(version_dir, "sft", ["id", "images", "prompt", "response"]):
            yield {
                "id": r["id"],
                "messages": [
                    {"role": "user", "content": _user_content(len(r["images"]), r["prompt"])},
                    {"role": "assistant", "content": [{"type": "text", "text": r["response"]}]},
                ],
                "images": r["images"],
            }

    path = out / "sft.parquet"
    return [path] if _write_parquet(path, feats, rows()) else []


def export_trl_grpo(version_dir: Path, out: Path) -> list[Path]:
    import datasets

    turn = _turn_features()
    feats = datasets.Features(
        {
            "id": datasets.Value("string"),
            "prompt": datasets.List(turn),
            "images": datasets.List(datasets.Image()),
            "solution": datasets.Value("string"),
            "answer_type": datasets.Value("string"),
            "choices": datasets.List(datasets.Value("string")),
            "pass_rate": datasets.Value("float64"),
        }
    )

    def rows(config):
        for r in iter_config(
            version_dir,
            config,
            ["id", "images", "prompt", "answer", "answer_type", "choices", "policy_pass_rate"],
        ):
            yield {
                "id": r["id"],
                "prompt": [
                    {
                        "role": "user",
                        "content": _user_content(
                            len(r["images"]), render_format_prompt(r["prompt"])
                        ),
                    }
                ],
                "images": r["images"],
                "solution": r["answer"],
                "answer_type": r["answer_type"],
                "choices": r["choices"],
                "pass_rate": r["policy_pass_rate"],
            }

    return _write_grpo_configs(out, feats, rows)


def export_easyr1(version_dir: Path, out: Path) -> list[Path]:
    import datasets

    feats = datasets.Features(
        {
            "problem": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "images": datasets.List(datasets.Image()),
        }
    )

    def rows(config):
        for r in iter_config(version_dir, config, ["images", "prompt", "answer"]):
            yield {
                "problem": IMAGE_PLACEHOLDER * len(r["images"]) + r["prompt"],
                "answer": r["answer"],
                "images": r["images"],
            }

    return _write_grpo_configs(out, feats, rows)


def export_llamafactory(version_dir: Path, out: Path, name: str) -> list[Path]:
    name = plain_name(name, f"{version_dir}: manifest name/version")
    data_path = inside(out, f"{name}_sft.json", what=f"{version_dir}: manifest name/version")
    img_dir = out / "images"
    img_dir.mkdir(exist_ok=True)
    n = 0
    with atomic_open(data_path, "w", encoding="utf-8") as fh:
        fh.write("[\n")
        for r in iter_config(version_dir, "sft", ["id", "images", "prompt", "response"]):
            paths = []
            for im in r["images"]:
                # a row's image path is data from the parquet: one plain file name in images/
                what = f"{version_dir}: row {r['id']} image path"
                p = inside(img_dir, plain_name(im["path"], what), what=what)
                if not p.exists():
                    p.write_bytes(im["bytes"])
                paths.append(f"images/{im['path']}")
            rec = {
                "messages": [
                    {"role": "user", "content": IMAGE_PLACEHOLDER * len(paths) + r["prompt"]},
                    {"role": "assistant", "content": r["response"]},
                ],
                "images": paths,
            }
            fh.write(("," if n else "") + json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
        fh.write("]\n")
    info = {
        name: {
            "file_name": data_path.name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
            },
        }
    }
    info_path = out / "dataset_info.json"
    write_json_atomic(info_path, info)
    return [data_path, info_path]


def export_dataset(version_dir, fmt: str, out_dir) -> list[Path]:
    version_dir, out = Path(version_dir), Path(out_dir)
    manifest = read_manifest(version_dir)
    check_data(version_dir, manifest)  # a truncated file: refused before anything is written
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    here, there = out.resolve(), version_dir.resolve()
    if here == there or here.is_relative_to(there):
        # files written there would change the version (its data/, its push plan), or be read
        # back as its data while they are being written
        raise UserError(f"--out {out}: inside the version folder {version_dir}; choose another")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "trl-sft":
        return export_trl_sft(version_dir, out)
    if fmt == "trl-grpo":
        return export_trl_grpo(version_dir, out)
    if fmt == "easyr1":
        return export_easyr1(version_dir, out)
    return export_llamafactory(
        version_dir, out, f"{manifest['name']}_{manifest['version']}".replace("-", "_")
    )
