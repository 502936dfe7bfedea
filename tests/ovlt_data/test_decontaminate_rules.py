"""The decontamination rules, one at a time, on a small benchmark written here in MathVision's
official format (testmini.jsonl + images/) and read by the real loader. No ../shared needed.

Each case is one finding of the planted-item check (issue 9, item 5): the question+answer rule
skipped when the item's image was at hand, pHash losing re-encoded line drawings, the first
candidate named instead of the closest, a bare letter confirming an image match."""

from __future__ import annotations

import io
import json
import random

import pytest
from PIL import Image, ImageDraw

from ovlt_data.bench_index import answer_forms, informative
from ovlt_data.image_match import ImageIndex, bench_print, row_print
from ovlt_data.images import load_image
from ovlt_data.schema import Example, Row
from ovlt_data.stages import BuildContext
from ovlt_data.stages.decontaminate import Decontaminate, DecontaminateParams

LETTERS5 = ["A", "B", "C", "D", "E"]


def drawing(seed: int, extra_dot: bool = False) -> Image.Image:
    """A MathVision-like line drawing: thin black strokes on white."""
    rng = random.Random(seed)
    im = Image.new("RGB", (400, 300), "white")
    d = ImageDraw.Draw(im)
    for _ in range(6):
        pts = [(rng.randrange(20, 380), rng.randrange(20, 280)) for _ in range(3)]
        d.polygon(pts, outline="black", width=2)
    x, y = rng.randrange(60, 340), rng.randrange(60, 240)
    d.ellipse((x - 40, y - 40, x + 40, y + 40), outline="black", width=2)
    if extra_dot:  # a near-duplicate figure: the same drawing with one more mark
        d.ellipse((180, 130, 200, 150), fill="black")
    return im


def jpeg(im: Image.Image, scale: float = 1.0, crop: float = 0.0, quality: int = 60) -> bytes:
    if scale != 1.0:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)
    if crop:
        w, h = im.size
        im = im.crop((round(w * crop), 0, w, round(h * (1 - crop))))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


ITEMS = [  # (id, question, options, answer, image)
    ("1", "Which figure is symmetric about the dotted line?", LETTERS5, "D", drawing(1)),
    ("2", "Which figure is symmetric about the dotted line?", LETTERS5, "D", drawing(1, True)),
    ("3", "The square has side 4 cm. What is the area of the shaded part?", [], "6", drawing(3)),
    ("4", "Which of the shapes is the odd one out?", LETTERS5, "B", drawing(4)),
    ("5", "How many triangles are in the picture?", [], "7", drawing(5)),
]


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mathvision")
    (root / "images").mkdir()
    lines = []
    for id_, q, opts, ans, im in ITEMS:
        im.save(root / "images" / f"{id_}.png")
        lines.append(
            json.dumps(
                {
                    "id": id_,
                    "question": q + "\n<image1>",
                    "options": opts,
                    "answer": ans,
                    "image": f"images/{id_}.png",
                }
            )
        )
    (root / "testmini.jsonl").write_text("\n".join(lines) + "\n")
    return root


def stage(bench_dir, **params) -> Decontaminate:
    p = DecontaminateParams(
        benchmarks=[{"name": "mathvision", "split": "testmini", "data": str(bench_dir)}], **params
    )
    st = Decontaminate(p, BuildContext(card=None, cache=None, models={}))
    st.prepare()
    return st


def row(id_, question, answer, image: bytes | None, choices=None) -> Row:
    images = (load_image(image),) if image is not None else ()
    ex = Example(f"t:{id_}", "t", images, question, answer, tuple(choices) if choices else None)
    return Row(example=ex, pool="sft")


def run(st, *rows):
    out = st.apply(list(rows))
    return {r.id: (json.loads(r.drop_detail) if r.dropped else None, r.drop_reason) for r in out}


def test_resized_jpeg_line_drawing_is_caught_by_its_image(bench_dir):
    """The finding: 82 % + JPEG put pHash 14 bits away; the image rule must still hold."""
    st = stage(bench_dir)
    img = jpeg(ITEMS[4][4], scale=0.82, crop=0.04, quality=30)
    out = run(st, row("a", "Count the triangles you can see.", "7", img))
    m, reason = out["t:a"]
    assert reason == "contaminated:mathvision"
    assert (m["item"], m["how"]) == ("5", "image+answer")
    assert m["image_distance"] <= st.params.image_max_distance


def test_question_and_answer_match_even_when_the_items_image_differs(bench_dir):
    """The finding: with the item's image at hand, text+answer was skipped."""
    st = stage(bench_dir)
    other = png(drawing(99))
    q = "the SQUARE has side 4 cm ,  what is the area of the shaded part ?!"
    m, reason = run(st, row("b", q, "6.0", other))["t:b"]
    assert reason == "contaminated:mathvision"
    assert (m["item"], m["how"], m["answer"]) == ("3", "text+answer", "informative")
    assert m["image_distance"] > st.params.image_max_distance  # reported, not required
    # the same question with another answer is a templated look-alike: kept
    assert run(st, row("c", q, "8", other))["t:c"] == (None, None)


def test_the_closest_candidate_is_named_not_the_first(bench_dir):
    """Items 1 and 2 share question and answer; 2's figure has one more mark. A perturbed copy
    of 2's figure must name 2, though 1 comes first and is within the limit too."""
    st = stage(bench_dir)
    img = jpeg(ITEMS[1][4], scale=0.8, crop=0.02, quality=50)
    idx = ImageIndex([bench_print(png(ITEMS[0][4])), bench_print(png(ITEMS[1][4]))])
    d1, d2 = (idx.distance(row_print(img), j) for j in (0, 1))
    assert d2 < d1 <= st.params.image_max_distance  # both are candidates: a real choice
    m, _ = run(st, row("d", ITEMS[1][1], "D", img, LETTERS5))["t:d"]
    assert (m["item"], m["how"]) == ("2", "image+text")
    assert "also" not in m


def test_a_bare_letter_never_confirms_an_image_match(bench_dir):
    st = stage(bench_dir)
    img = jpeg(ITEMS[3][4], scale=0.9)
    m, reason = run(st, row("e", "Pick the right option.", "B", img, LETTERS5))["t:e"]
    # not "image+answer": the letter agrees by chance one time in five; it is the same picture
    assert m["how"] == "same_image" and reason == "benchmark_image:mathvision"
    assert m["item"] == "4"
    kept = stage(bench_dir, same_image="keep")
    assert run(kept, row("e", "Pick the right option.", "B", img, LETTERS5))["t:e"] == (None, None)
    assert [x["item"] for x in kept.same_image_kept] == ["4"]


def test_same_question_with_a_letter_answer_needs_the_image_to_agree(bench_dir):
    st = stage(bench_dir)
    q = "Which of the shapes is the ODD one out"
    # both images at hand and different: a templated look-alike, kept and counted
    assert run(st, row("f", q, "B", png(drawing(77)), LETTERS5))["t:f"] == (None, None)
    assert st.weak_kept == 1
    # no image to compare: the question and the letter are all there is, and they agree
    m, _ = run(st, row("g", q, "B", None, LETTERS5))["t:g"]
    assert (m["item"], m["how"], m["answer"]) == ("4", "text+weak_answer", "weak")


def test_unrelated_and_blank_images_match_nothing(bench_dir):
    st = stage(bench_dir)
    blank = png(Image.new("RGB", (300, 200), "white"))
    out = run(
        st,
        row("h", "What is 2 + 5?", "7", blank),
        row("i", "How many circles?", "1", png(drawing(12345))),
    )
    assert out == {"t:h": (None, None), "t:i": (None, None)}


def test_informative_answers():
    assert not informative(answer_forms("D", None) & answer_forms("D", LETTERS5))
    assert not informative(answer_forms("Yes", None) & answer_forms("yes", ["Yes", "No"]))
    # a letter whose option text agrees says more than the letter
    assert informative(answer_forms("B", ["3 cm", "4 cm"]) & answer_forms("4 cm", ["3 cm", "4 cm"]))
    assert informative(answer_forms("7", None) & answer_forms("7.0", None))
