"""sft_seed as a benchmark: the reference evaluators' `--dataset sftseed` with its per-source
accuracy (run_evaluation.py:98, :295-316; eval_qwen.py:178-185, :375-427), read from parquet in
the Hub dataset's schema (`decoded_image` an Image struct, `image`, `problem`, `answer`,
`source`: /work/shared/SOURCES.md, the field names the reference scripts read)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from ovlt_eval.benchmarks import get_benchmark
from ovlt_eval.errors import UserError
from ovlt_eval.profiles import get_profile
from tests.ovlt_eval.benchmarks.test_reference_benchmarks import IMAGE, image, write

SCHEMA = pa.schema(
    [
        ("decoded_image", IMAGE),
        ("image", pa.string()),
        ("problem", pa.string()),
        ("answer", pa.string()),
        ("source", pa.string()),
    ]
)
ROWS = [
    ("What is the value of x?", "12", "geometry3k"),
    ("Is the bar for 2019 the tallest? Answer yes or no.", "yes", "figureqa"),
    ("How many objects are left?", "3", "superclevr"),
    ("What is the perimeter of the triangle?", "24", "geometry3k"),
]


@pytest.fixture
def seed_dir(tmp_path):
    rows = [
        {
            "decoded_image": image(40 * i, f"img_{i}.png"),
            "image": f"images/img_{i}.png",
            "problem": problem,
            "answer": answer,
            "source": source,
        }
        for i, (problem, answer, source) in enumerate(ROWS)
    ]
    write(rows, SCHEMA, tmp_path / "data" / "train-00000-of-00001.parquet")
    return tmp_path


def test_loads_in_the_hub_schema(seed_dir):
    items = get_benchmark("sftseed").load("train", seed_dir)
    assert [it.id for it in items] == ["0", "1", "2", "3"]  # row numbers (no id field)
    assert [it.breakdown["source"] for it in items] == [s for _, _, s in ROWS]
    assert all(len(it.images) == 1 and isinstance(it.images[0], bytes) for it in items)
    first = items[0]
    # v1 scripts send `problem` as it is; run_evaluation.py wraps it (:272-276, :209)
    assert get_profile("openvlthinker").messages_for(first, get_benchmark("sftseed"))[0]["content"][
        -1
    ]["text"] == ("What is the value of x?")
    assert get_profile("openvlthinker-v1.2").messages_for(first, get_benchmark("sftseed"))[0][
        "content"
    ][-1]["text"] == (
        "Hint: Please answer the question requiring an answer.\nQuestion: What is the value of x?"
    )


def test_a_row_without_source_is_one_line(tmp_path):
    schema = pa.schema([f for f in SCHEMA if f.name != "source"])
    row = {"decoded_image": image(1, "a.png"), "image": "a", "problem": "p", "answer": "1"}
    write([row], schema, tmp_path / "train-00000-of-00001.parquet")
    with pytest.raises(UserError, match="record 0: record lacks source"):
        get_benchmark("sftseed").load("train", tmp_path)


def test_run_reports_accuracy_per_source(seed_dir, tmp_path, capsys):
    from ovlt_eval.cli import main
    from ovlt_eval.testing.openai_server import OpenAIServer

    answers = {"x?": "12", "no.": "no", "left?": "3", "triangle?": "30"}

    def model(prompt: str) -> str:
        key = next(k for k in answers if prompt.endswith(k))
        return f"<think>t</think><answer>{answers[key]}</answer>"

    out = tmp_path / "run"
    with OpenAIServer(replies=model) as server:
        argv = [
            "run", "--bench", "sftseed", "--data", str(seed_dir), "--out", str(out),
            "--engine", "openai", "--base-url", server.base_url, "--model", server.model,
            "--no-progress", "--protocol", "reference", "--concurrency", "1",
        ]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 4 and summary["accuracy_reference"] == 50.0
    by_source = summary["breakdown"]["source"]
    assert {k: v["accuracy"] for k, v in by_source.items()} == {
        "geometry3k": 50.0,
        "figureqa": 0.0,
        "superclevr": 100.0,
    }
