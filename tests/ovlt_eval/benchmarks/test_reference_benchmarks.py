"""EMMA, MMMU-Pro and HallusionBench: the reference evaluation's other benchmarks
(eval_openvlthinker.py:183-251, 368-390), loaded from parquet files written here in each Hub
dataset's exact schema (images as the datasets Image struct {"bytes", "path"})."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ovlt_eval.benchmarks import get_benchmark
from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.errors import UserError

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
MC_HINT = (
    "Hint: Please answer the question and provide the correct option letter, "
    "e.g., A, B, C, D, E, at the end."
)


def png(shade: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (shade, shade, shade)).save(buf, format="PNG")
    return buf.getvalue()


def image(shade: int, name: str) -> dict:
    return {"bytes": png(shade), "path": name}


def write(rows: list[dict], schema: pa.Schema, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


# ------------------------------------------------------------------------------------- EMMA

EMMA_SCHEMA = pa.schema(
    [
        ("pid", pa.string()),
        ("question", pa.string()),
        ("options", pa.list_(pa.string())),
        ("answer", pa.string()),
        *((f"image_{i}", IMAGE) for i in range(1, 6)),
        ("solution", pa.string()),
        ("subject", pa.string()),
        ("task", pa.string()),
        ("category", pa.string()),
        ("source", pa.string()),
        ("type", pa.string()),
        ("context", pa.string()),
    ]
)


def emma_row(pid, question, options, answer, images, **extra):
    row = {
        "pid": pid,
        "question": question,
        "options": options,
        "answer": answer,
        "solution": "",
        "subject": extra.get("subject", "Math"),
        "task": "",
        "category": extra.get("category", "2D Transformation"),
        "source": "",
        "type": "Multiple Choice" if options else "Open-ended",
        "context": "",
    }
    for i in range(1, 6):
        row[f"image_{i}"] = images.get(i)
    return row


@pytest.fixture
def emma_dir(tmp_path):
    write(
        [
            emma_row(
                "math_1",
                "Which shape comes next? <image_1>",
                ["square", "circle", "triangle", "star"],
                "B",
                {1: image(10, "math_1_1.png"), 2: image(20, "math_1_2.png")},
            ),
            emma_row("math_2", "How many cubes? <image_1>", [], "12", {1: image(30, "m2.png")}),
            # a gold written as an option's text: the reference maps it to the letter
            emma_row("math_3", "Pick one. <image_1>", ["3", "4", "5"], "5", {1: image(40, "m3")}),
        ],
        EMMA_SCHEMA,
        tmp_path / "Math" / "test-00000-of-00001.parquet",
    )
    write(
        [
            emma_row(
                "chem_1",
                "Which product forms? <image_1> <image_3>",
                None,
                "C",
                {1: image(50, "c1.png"), 3: image(60, "c3.png")},
                subject="Chemistry",
            )
        ],
        EMMA_SCHEMA,
        tmp_path / "Chemistry" / "test-00000-of-00001.parquet",
    )
    return tmp_path


def test_emma_prompts_and_images_follow_the_reference(emma_dir):
    math = {it.id: it for it in get_benchmark("emma-math").load("test", emma_dir)}
    assert list(math) == ["math_1", "math_2", "math_3"]
    assert math["math_1"].question == (
        f"{MC_HINT}\nQuestion: Which shape comes next? <image_1>\nChoices:\n"
        "(A) square\n(B) circle\n(C) triangle\n(D) star"
    )
    assert math["math_2"].question == (
        "Hint: Please answer the question requiring an answer.\nQuestion: How many cubes? <image_1>"
    )
    # Math sends image_1 only (eval_openvlthinker.py:194), even when image_2 is there
    assert math["math_1"].images == (png(10),)
    assert (math["math_1"].kind, math["math_1"].choices) == (
        "multi_choice",
        ("square", "circle", "triangle", "star"),
    )
    assert math["math_2"].kind == "auto" and math["math_2"].choices is None
    # the other subjects send every image present, in order (:203, :265)
    (chem,) = get_benchmark("emma-chem").load("test", emma_dir / "Chemistry")
    assert chem.images == (png(50), png(60))
    assert chem.question.startswith("Hint: Please answer the question requiring an answer.\n")
    assert chem.breakdown["category"] == "2D Transformation"


def test_emma_scoring(emma_dir):
    b = get_benchmark("emma-math")
    items = {it.id: it for it in b.load("test", emma_dir)}
    mc, free, text_gold = items["math_1"], items["math_2"], items["math_3"]
    assert b.score_response(mc, "<think>t</think><answer>B</answer>").correct
    assert b.score_response(mc, "<answer>circle</answer>").correct  # the option's text
    assert not b.score_response(mc, "<answer>C</answer>").correct
    assert b.score_response(free, "<answer>12</answer>").correct
    assert b.score_official(mc, "B") is None  # no official evaluator re-implemented
    # reference: the raw gold, mapped to its letter when it is an option's text (:384-388)
    assert b.reference_gold(text_gold) == "C"
    scored = b.score(text_gold, "<answer>C</answer>", protocol="reference")
    assert scored.correct and scored.correct_reference and scored.correct_official is None
    assert not b.score(text_gold, "<answer>C", protocol="reference").correct  # no </answer>
    with pytest.raises(UserError, match="no official evaluator"):
        b.score(mc, "<answer>B</answer>", protocol="official")


# ---------------------------------------------------------------------------------- MMMU-Pro

STANDARD_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("question", pa.string()),
        ("options", pa.string()),
        ("explanation", pa.string()),
        *((f"image_{i}", IMAGE) for i in range(1, 8)),
        ("img_type", pa.string()),
        ("answer", pa.string()),
        ("topic_difficulty", pa.string()),
        ("subject", pa.string()),
    ]
)
VISION_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("image", IMAGE),
        ("options", pa.string()),
        ("answer", pa.string()),
        ("subject", pa.string()),
    ]
)


def standard_row(rid, question, options, answer, images):
    row = {
        "id": rid,
        "question": question,
        "options": options,
        "explanation": "",
        "img_type": "['Diagrams']",
        "answer": answer,
        "topic_difficulty": "Medium",
        "subject": "Physics",
    }
    for i in range(1, 8):
        row[f"image_{i}"] = images.get(i)
    return row


@pytest.fixture
def mmmu_dir(tmp_path):
    write(
        [
            {
                "id": "test_Art_1",
                "image": image(70, "v1.png"),
                "options": "['Paris', 'Rome', \"O'Hare\", 'Bern']",
                "answer": "C",
                "subject": "Art",
            }
        ],
        VISION_SCHEMA,
        tmp_path / "vision" / "test-00000-of-00001.parquet",
    )
    write(
        [
            standard_row(
                "test_Physics_1",
                "<image 1> A ball falls from <image 3>. Which speed?",
                "['1 m/s', '2 m/s', '<image 2>', '4 m/s']",
                "D",
                {1: image(80, "s1.png"), 3: image(90, "s3.png"), 2: image(85, "s2.png")},
            ),
            # an option whose text is "C": the raw answer, never mapped (:381-382)
            standard_row("test_Physics_2", "Pick.", "['A', 'C', 'B', 'D']", "C", {}),
        ],
        STANDARD_SCHEMA,
        tmp_path / "standard (4 options)" / "test-00000-of-00001.parquet",
    )
    write(
        [
            standard_row(
                "test_Physics_1",
                "Which speed?",
                str([f"{i} m/s" for i in range(1, 11)]),
                "J",
                {1: image(80, "s1.png")},
            )
        ],
        STANDARD_SCHEMA,
        tmp_path / "standard (10 options)" / "test-00000-of-00001.parquet",
    )
    return tmp_path


def test_mmmu_pro_prompts_and_images_follow_the_reference(mmmu_dir):
    (vision,) = get_benchmark("mmmu-pro-vision").load("test", mmmu_dir)
    assert vision.question == (
        "Hint: Please answer the question shown in the image. Provide the correct option "
        "letter, e.g., A, B, C, D, E, at the end.\nChoices:\n"
        "(A) Paris\n(B) Rome\n(C) O'Hare\n(D) Bern"
    )
    assert vision.images == (png(70),) and vision.choices == ("Paris", "Rome", "O'Hare", "Bern")
    std = {it.id: it for it in get_benchmark("mmmu-pro-4").load("test", mmmu_dir)}
    assert std["test_Physics_1"].question == (
        f"{MC_HINT}\nQuestion: <image 1> A ball falls from <image 3>. Which speed?\nChoices:\n"
        "(A) 1 m/s\n(B) 2 m/s\n(C) <image 2>\n(D) 4 m/s"
    )
    # image_1 … image_7 in field order, absent ones skipped (:238, :265)
    assert std["test_Physics_1"].images == (png(80), png(85), png(90))
    assert std["test_Physics_2"].images == ()
    (ten,) = get_benchmark("mmmu-pro-10").load("test", mmmu_dir)
    assert ten.question.endswith("\n(I) 9 m/s\n(J) 10 m/s") and len(ten.choices) == 10
    assert ten.breakdown == {
        "subject": "Physics",
        "topic_difficulty": "Medium",
        "img_type": "['Diagrams']",
    }


def test_mmmu_pro_scoring(mmmu_dir):
    b = get_benchmark("mmmu-pro-4")
    std = {it.id: it for it in b.load("test", mmmu_dir)}
    first, c_option = std["test_Physics_1"], std["test_Physics_2"]
    assert b.score_response(first, "<answer>D</answer>").correct
    assert b.score_response(first, "<answer>4 m/s</answer>").correct
    assert not b.score_response(first, "<answer>A</answer>").correct
    assert b.score_official(first, "D") is None
    # the raw answer "C", never mapped: an option reading "C" does not make it "B" — also in a
    # copy that stores the options as a list, where the default mapping would apply
    assert b.reference_gold(c_option) == "C"
    as_list = b.to_item({**c_option.raw, "options": ["A", "C", "B", "D"]}, None, "a list copy")
    assert Benchmark.reference_gold(b, as_list) == "B"
    assert b.reference_gold(as_list) == "C"
    assert b.score(c_option, "<answer>C</answer>", protocol="reference").correct
    assert not b.score(c_option, "<answer>B</answer>", protocol="reference").correct


@pytest.mark.parametrize(
    "options, complaint",
    [
        ("__import__('os').system('touch pwned')", "not a Python list literal"),
        ("['a', 'b'", "not a Python list literal"),
        ("{'a': 1}", "options should be a list"),
        ("5", "options should be a list"),
        ("['a', ['b']]", "an option is a list"),
    ],
)
def test_mmmu_pro_bad_options_are_one_line_errors_naming_the_record(
    tmp_path, monkeypatch, options, complaint
):
    monkeypatch.chdir(tmp_path)
    rows = [
        standard_row("test_ok", "Q?", "['x', 'y']", "A", {}),
        standard_row("test_bad", "Q?", options, "A", {}),
    ]
    path = write(rows, STANDARD_SCHEMA, tmp_path / "test-00000-of-00001.parquet")
    with pytest.raises(UserError) as err:
        get_benchmark("mmmu-pro-4").load("test", path)
    message = str(err.value)
    assert "record 1" in message and complaint in message and "\n" not in message
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------------------- HallusionBench

HALLUSION_FIELDS = (
    "category",
    "subcategory",
    "visual_input",
    "set_id",
    "figure_id",
    "sample_note",
    "question_id",
    "question",
    "gt_answer_details",
    "gt_answer",
    "filename",
)
HALLUSION_SCHEMA = pa.schema([*((f, pa.string()) for f in HALLUSION_FIELDS), ("image", IMAGE)])


def hallusion_row(figure_id, question_id, question, gt, shade):
    return {
        "category": "VD",
        "subcategory": "illusion",
        "visual_input": "1" if figure_id == "0" else "2",
        "set_id": "0",
        "figure_id": figure_id,
        "sample_note": "circle",
        "question_id": question_id,
        "question": question,
        "gt_answer_details": "",
        "gt_answer": gt,
        "filename": f"./hallusion_bench/VD/illusion/0_{figure_id}.png",
        "image": image(shade, f"0_{figure_id}.png"),
    }


@pytest.fixture
def hallusion_file(tmp_path):
    return write(
        [
            hallusion_row(
                "0", "0", "Is the left orange circle the same size as the right?", "1", 1
            ),
            # the same question about the edited figure: only figure_id tells them apart
            hallusion_row(
                "1", "0", "Is the left orange circle the same size as the right?", "0", 2
            ),
        ],
        HALLUSION_SCHEMA,
        tmp_path / "data" / "image-00000-of-00001.parquet",
    )


def test_hallusionbench_prompt_gold_and_ids(hallusion_file):
    b = get_benchmark("hallusionbench")
    same, edited = b.load("image", hallusion_file.parent.parent)  # finds data/image-*.parquet
    assert same.question == (
        "Hint: Please answer the question requiring an answer of yes or no.\n"
        "Question: Is the left orange circle the same size as the right?"
    )
    assert (same.id, edited.id) == ("VD_illusion_0_0_0", "VD_illusion_0_1_0")
    assert (same.gold, edited.gold) == ("Yes", "No")
    assert (b.reference_gold(same), b.reference_gold(edited)) == ("Yes", "No")  # :390
    assert same.images == (png(1),)
    assert same.breakdown == {"category": "VD", "subcategory": "illusion", "visual_input": "1"}


def test_hallusionbench_scoring(hallusion_file):
    b = get_benchmark("hallusionbench")
    same, edited = b.load("image", hallusion_file)
    assert b.score_response(same, "<answer>Yes</answer>").correct
    assert b.score_response(same, "<answer>yes, they are equal.</answer>").correct
    assert not b.score_response(edited, "<answer>Yes</answer>").correct
    assert b.score_response(edited, "<answer>No.</answer>").correct
    assert b.score_response(same, "<answer>Not sure</answer>").status == "unparseable"
    assert b.score_official(same, "Yes") is None
    assert b.score(same, "<answer>yes</answer>", protocol="reference").correct  # lower-cased
    assert not b.score(same, "<answer>1</answer>", protocol="reference").correct


def test_hallusionbench_bad_gold_names_the_record(tmp_path):
    path = write(
        [hallusion_row("0", "0", "Q?", "1", 1), hallusion_row("1", "0", "Q?", "yes", 2)],
        HALLUSION_SCHEMA,
        tmp_path / "image-00000-of-00001.parquet",
    )
    with pytest.raises(UserError, match=r"record 1: gt_answer 'yes' is neither '1'"):
        get_benchmark("hallusionbench").load("image", path)


# --------------------------------------------------------------------------------- the Hub


@pytest.mark.parametrize(
    "bench, where",
    [
        ("emma-physics", "luckychao/EMMA/Physics, split test"),
        ("mmmu-pro-10", "MMMU/MMMU_Pro/standard (10 options), split test"),
        ("hallusionbench", "lmms-lab/HallusionBench, split image"),
    ],
)
def test_hub_loading_asks_for_the_references_config(tmp_path, monkeypatch, bench, where):
    """Offline and with an empty cache the Hub path fails in one line naming what it asked for
    (the reference's dataset, config and split, eval_openvlthinker.py:183-251)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    b = get_benchmark(bench)
    with pytest.raises(UserError) as err:
        b.load(b.default_split, None)
    assert where in str(err.value) and "--data" in str(err.value)


# ------------------------------------------------------------------------------ a whole run


def test_run_hallusionbench_under_the_reference_protocol(hallusion_file, tmp_path, capsys):
    from ovlt_eval.cli import main
    from ovlt_eval.testing.openai_server import OpenAIServer

    # Both items ask the same question (only the image differs), so the reply cannot depend on
    # which one is asked, nor on the order they arrive in: "Yes" to both, and the golds are
    # "1" (Yes) and "0" (No).
    def model(prompt: str) -> str:
        assert prompt.startswith("Hint: Please answer the question requiring an answer of yes")
        return "<think>t</think><answer>Yes</answer>"

    out = tmp_path / "run"
    with OpenAIServer(replies=model) as server:
        argv = [
            "run", "--bench", "hallusionbench", "--data", str(hallusion_file), "--out", str(out),
            "--engine", "openai", "--base-url", server.base_url, "--model", server.model,
            "--no-progress", "--protocol", "reference", "--concurrency", "1",
        ]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 2 and summary["accuracy_reference"] == 50.0
    assert summary["accuracy_official"] is None
    card = json.loads((out / "eval_card.json").read_text())
    assert card["benchmark"]["split"] == "image"  # the benchmark's own default split
