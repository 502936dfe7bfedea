"""The exact text the OpenVLThinker reference evaluation sends for real benchmark items.

Reference: github.com/yihedeng9/OpenVLThinker at 6997b47, evaluation/eval_openvlthinker.py —
MathVision `format_instruction(question, options)` (:311-329, :368-369), MathVista `query` and
MathVerse `query_cot` as they are (:152-167, :374-375); images first, then the text, one user
turn, no system prompt (:91-113); the `qwen` profile appends eval_qwen.py's suffix (:99, :112).
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path
from typing import Optional  # noqa: UP035 - the reference function's annotations

import pytest

from ovlt_eval.benchmarks import get_benchmark
from ovlt_eval.profiles import get_profile

REFERENCE_REPO = Path("/work/.mirror/yihedeng9+OpenVLThinker/repo")

MATHVISION = {
    # options that are just the letters: listed all the same, "(A) A" (the reference does)
    "6": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, "
    "C, D, E, at the end.\nQuestion: Misty the cat has five kittens: two of them are striped, "
    "one spotty, the rest of them are absolutely white. In which picture can we see the kittens "
    "of Misty, knowing that the ears of one of them are of different colour?\n<image1>\n"
    "Choices:\n(A) A\n(B) B\n(C) C\n(D) D\n(E) E",
    # options with text (LaTeX kept as written)
    "27": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, "
    "C, D, E, at the end.\nQuestion: Theresa moves a pencil along the line. She starts at the "
    "arrow shown. In which order will she go past the shapes?\n<image1>\nChoices:\n"
    "(A) $\\Delta, \\square, \\bullet$\n(B) $\\Delta, \\bullet, \\square$\n"
    "(C) $\\bullet, \\Delta, \\square$\n(D) $\\square, \\Delta, \\bullet$\n"
    "(E) $\\square, \\bullet, \\Delta$",
    # no options: the free-form hint
    "4": "Hint: Please answer the question requiring an answer.\nQuestion: How many different "
    "digits can you find in this picture?\n<image1>",
}

MATHVISTA = {
    "1": "Hint: Please answer the question requiring a floating-point number with one decimal "
    "place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: When a "
    "spring does work on an object, we cannot find the work by simply multiplying the spring "
    "force by the object's displacement. The reason is that there is no one value for the "
    "force-it changes. However, we can split the displacement up into an infinite number of "
    "tiny parts and then approximate the force in each as being constant. Integration sums the "
    "work done in all those parts. Here we use the generic result of the integration.\r\n\r\n"
    "In Figure, a cumin canister of mass $m=0.40 \\mathrm{~kg}$ slides across a horizontal "
    "frictionless counter with speed $v=0.50 \\mathrm{~m} / \\mathrm{s}$. It then runs into and "
    "compresses a spring of spring constant $k=750 \\mathrm{~N} / \\mathrm{m}$. When the "
    "canister is momentarily stopped by the spring, by what distance $d$ is the spring "
    "compressed?",
    "2": "Hint: Please answer the question requiring an integer answer and provide the final "
    "value, e.g., 1, 2, 3, at the end.\nQuestion: what is the total volume of the measuring "
    "cup? (Unit: g)",
    "3": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, "
    "C, D, at the end.\nQuestion: △ABC的两内角平分线OB、OC相交于点O，若∠A＝110°，则∠BOC＝（）\n"
    "Choices:\n(A) 135°\n(B) 140°\n(C) 145°\n(D) 150°",
}

MATHVERSE = {
    # Text Only (testmini_text_only.json)
    "1": "Please first conduct reasoning, and then answer the question and provide the correct "
    "option letter, e.g., A, B, C, D, at the end.\nQuestion: As shown in the figure, in "
    "triangle ABC, it is known that angle A = 80.0, angle B = 60.0, point D is on AB and point "
    "E is on AC, DE parallel BC, then the size of angle CED is ()\nChoices:\nA:40°\nB:60°\n"
    "C:120°\nD:140°",
    # Text Dominant (testmini, the reference's config)
    "3421": "Please first conduct reasoning, and then answer the question and provide the final "
    "value, e.g., 1, 2.5, 300, at the end.\nQuestion: A soft drink can has a height of 13 cm "
    "and a radius of 3 cm. Find L, the length of the longest straw that can fit into the can "
    "(so that the straw is not bent and fits entirely inside the can).\n\nGive your answer "
    "rounded down to the nearest cm, to ensure it fits inside the can.",
    # Vision Only: the question is in the image
    "3425": "According to the question shown in the image, please first conduct reasoning, and "
    "then answer the question and provide the final value, e.g., 1, 2.5, 300, at the end.",
}


def _by_id(items):
    return {it.id: it for it in items}


def _mathvision(shared):
    return _by_id(
        get_benchmark("mathvision").load(
            "testmini", shared / "benchmarks/mathvision/testmini.jsonl"
        )
    )


def _mathverse(shared):
    b = get_benchmark("mathverse")
    items = b.load("testmini_text_only", shared / "benchmarks/mathverse")
    items += b.load("testmini", shared / "benchmarks/mathverse/testmini_sample.json")
    return _by_id(items)


@pytest.mark.parametrize("item_id", sorted(MATHVISION))
def test_mathvision_prompts_are_the_references(shared, item_id):
    assert _mathvision(shared)[item_id].question == MATHVISION[item_id]


@pytest.mark.parametrize("item_id", sorted(MATHVISTA))
def test_mathvista_prompts_are_the_references(shared, item_id):
    """The shared annotation file has no `query` field, so the loader rebuilds the Hub's
    (hint, "Question: …", " (Unit: …)", choices); the Hub's `query` for pids 2 and 3 reads
    exactly as pinned here in published model outputs."""
    items = _by_id(get_benchmark("mathvista").load("testmini", shared / "benchmarks/mathvista"))
    assert items[item_id].question == MATHVISTA[item_id]


def test_mathvista_sends_the_hub_query_verbatim(shared, tmp_path):
    """Where a record has `query` (the Hub's rows), that text is the prompt, as is (:156)."""
    rows = json.loads((shared / "benchmarks/mathvista/testmini.json").read_text())
    row = dict(rows["2"], query="Hint: a query the loader could not have built.\nQuestion: ?")
    (tmp_path / "testmini.json").write_text(json.dumps({"2": row}))
    (item,) = get_benchmark("mathvista").load("testmini", tmp_path)
    assert item.question == row["query"]


@pytest.mark.parametrize("item_id", sorted(MATHVERSE))
def test_mathverse_prompts_are_the_references(shared, item_id):
    item = _mathverse(shared)[item_id]
    assert item.question == MATHVERSE[item_id] == item.raw["query_cot"]


def test_messages_put_images_first_and_add_no_system_prompt(shared):
    item = _mathvision(shared)["27"]
    assert item.images  # the testmini images are in ../shared
    thinker = get_profile("openvlthinker").messages_for(item)
    assert thinker == (
        {
            "role": "user",
            "content": [
                *({"type": "image", "image": img} for img in item.images),
                {"type": "text", "text": MATHVISION["27"]},
            ],
        },
    )
    # eval_qwen.py:99,112: the same instruction plus its \boxed{} sentence
    qwen = get_profile("qwen").messages_for(item)
    assert [m["role"] for m in qwen] == ["user"]
    assert qwen[0]["content"][-1]["text"] == (
        MATHVISION["27"] + "\n\nYour final answer MUST BE put in \\boxed{}"
    )


def _reference_format_instruction():
    try:
        src = subprocess.run(
            ["git", "-C", str(REFERENCE_REPO), "show", "HEAD:evaluation/eval_openvlthinker.py"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("the OpenVLThinker reference mirror is not on this machine")
    tree = ast.parse(src)
    fn = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "format_instruction"
    )
    namespace = {"Optional": Optional, "List": list}
    exec(compile(ast.Module([fn], type_ignores=[]), "eval_openvlthinker.py", "exec"), namespace)  # noqa: S102 - the pinned reference function is the oracle
    return namespace["format_instruction"]


def test_every_mathvision_prompt_matches_the_reference_function(shared):
    """All 304 testmini items through the reference's own function (pure string formatting),
    with the options as the dataset lists them."""
    reference = _reference_format_instruction()
    rows = [
        json.loads(line)
        for line in (shared / "benchmarks/mathvision/testmini.jsonl").read_text().splitlines()
    ]
    items = _mathvision(shared)
    assert len(rows) == len(items) == 304
    for row in rows:
        assert items[str(row["id"])].question == reference(row["question"], row.get("options", []))


def test_mathverse_full_testmini_loads_in_hub_parquet_form(shared, tmp_path):
    """`testmini` (the reference's config: all five versions) as the Hub stores it: `image` an
    Image struct, `metadata` a struct; the prompt stays `query_cot`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = json.loads((shared / "benchmarks/mathverse/testmini_sample.json").read_text())
    fields = [
        "sample_index",
        "problem_index",
        "problem_version",
        "question",
        "image",
        "answer",
        "question_type",
        "metadata",
        "query_wo",
        "query_cot",
    ]
    rows = []
    for r in records:
        row = {k: r[k] for k in fields}
        row["image"] = {"bytes": b"\x89PNG fake " + r["image"].encode(), "path": r["image"]}
        rows.append(row)
    schema = pa.schema(
        [
            ("sample_index", pa.string()),
            ("problem_index", pa.string()),
            ("problem_version", pa.string()),
            ("question", pa.string()),
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("answer", pa.string()),
            ("question_type", pa.string()),
            (
                "metadata",
                pa.struct([(k, pa.string()) for k in ("split", "source", "subject", "subfield")]),
            ),
            ("query_wo", pa.string()),
            ("query_cot", pa.string()),
        ]
    )
    pq.write_table(
        pa.Table.from_pylist(rows, schema=schema), tmp_path / "testmini-00000-of-00001.parquet"
    )
    items = _by_id(get_benchmark("mathverse").load("testmini", tmp_path))
    assert {it.breakdown["problem_version"] for it in items.values()} == {
        "Text Dominant",
        "Text Lite",
        "Vision Intensive",
        "Vision Dominant",
        "Vision Only",
    }
    for item_id in ("3421", "3425"):
        assert items[item_id].question == MATHVERSE[item_id]
    assert items["3425"].images == (b"\x89PNG fake images_version_6/image_685.png",)
    assert items["3421"].breakdown["subject"] == "Solid Geometry"
