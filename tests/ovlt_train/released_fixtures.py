"""Fixture files in the exact schemas of the authors' released data (the Hub is unreachable here).

- LLaMA-Factory sharegpt, as `ydeng9/OpenVLThinker-sft-iter3` is declared in
  train/llama-factory/data/dataset_info.json:2-15: `messages` = [{role, content}] with roles
  user / assistant, one `<image>` in the user turn per entry of `images`. Written twice: as a Hub
  parquet export (`data/train-00000-of-00001.parquet`, images embedded as the `Image` feature) and
  as LLaMA-Factory's local JSON (image paths relative to the dataset folder).
- EasyR1, as `ydeng9/medium_grpo_only` / `ydeng9/OpenVLThinker-grpo-hard` are read by
  train/easyr1/examples/config.yaml:4-6 and verl/utils/dataset.py:132-148: `problem` (with
  `<image>`), `answer`, `images`; `train` and `test` splits (the scripts' `@train` / `@test`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ovlt_train.synthetic_items import draw_items, question, reasoning

TRAIN_FILE = "data/train-00000-of-00001.parquet"
TEST_FILE = "data/test-00000-of-00001.parquet"


def _write_parquet(rows: list[dict], features, path: Path) -> Path:
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(path))
    return path


def sharegpt_rows(items: list[dict], root: Path, *, embed: bool) -> list[dict]:
    rows = []
    for it in items:
        image = str(root / it["image"]) if embed else it["image"]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": "<image>" + question(it)},
                    {"role": "assistant", "content": reasoning(it)},
                ],
                "images": [image],
            }
        )
    return rows


def write_llamafactory_parquet(root: Path, n: int = 8) -> Path:
    """A Hub-style parquet copy of the sharegpt SFT set; returns the dataset folder."""
    import datasets

    items = draw_items(root, n, seed=3)
    features = datasets.Features(
        {
            "messages": datasets.List(
                {"role": datasets.Value("string"), "content": datasets.Value("string")}
            ),
            "images": datasets.List(datasets.Image()),
        }
    )
    out = root / "sft_iter3"
    _write_parquet(sharegpt_rows(items, root, embed=True), features, out / TRAIN_FILE)
    return out


def write_llamafactory_json(root: Path, n: int = 8) -> Path:
    """LLaMA-Factory's local layout: `<name>.json` (a list) + dataset_info.json + images/."""
    out = root / "lf"
    items = draw_items(out, n, seed=4)
    (out / "sft_iter3.json").write_text(json.dumps(sharegpt_rows(items, out, embed=False)))
    info = {
        "openvlthinker-iter3": {
            "file_name": "sft_iter3.json",
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
    (out / "dataset_info.json").write_text(json.dumps(info))
    return out


def easyr1_rows(items: list[dict], root: Path) -> list[dict]:
    return [
        {
            "problem": "<image>" + question(it),
            "answer": str(it["count"]),
            "images": [str(root / it["image"])],
        }
        for it in items
    ]


def write_easyr1_parquet(root: Path, n_train: int = 8, n_test: int = 4) -> Path:
    import datasets

    items = draw_items(root, n_train + n_test, seed=5)
    features = datasets.Features(
        {
            "problem": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "images": datasets.List(datasets.Image()),
        }
    )
    out = root / "medium_grpo_only"
    _write_parquet(easyr1_rows(items[:n_train], root), features, out / TRAIN_FILE)
    _write_parquet(easyr1_rows(items[n_train:], root), features, out / TEST_FILE)
    return out
