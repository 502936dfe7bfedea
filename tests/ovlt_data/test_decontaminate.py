"""Decontamination against the real MathVision / MathVista testmini files in ../shared.

Planted: MathVision testmini items with their images re-encoded (JPEG) and resized, and MathVista
testmini questions with case / whitespace / punctuation changed (with their answers; MathVista's
images are not in ../shared, so these rows carry other images). Clean: synthetic rows and the
1,000 real TabMWP dev rows, whose templated questions repeat MathVista question texts.
"""

import io
import json
import random

import pytest
from PIL import Image

from ovlt_data.artifact import iter_config, read_manifest
from ovlt_data.build import build
from ovlt_data.stages.decontaminate import answer_forms, norm_text

from .helpers import SHARED

BENCH = SHARED / "benchmarks"
pytestmark = pytest.mark.skipif(
    not (BENCH / "mathvision" / "images").exists(), reason="../shared benchmarks absent"
)


def _perturb(q: str, rng: random.Random) -> str:
    q = q.replace("?", " ?!").replace(",", " ,  ").replace(".", "")
    words = q.split(" ")
    return "   ".join(w.upper() if rng.random() < 0.4 else w for w in words) + " ..."


def _plant(tmp_path):
    rng = random.Random(0)
    rows, planted = [], {}
    vision = [
        json.loads(line)
        for line in (BENCH / "mathvision" / "testmini.jsonl").read_text().splitlines()
    ]
    for item in rng.sample(vision, 20):
        im = Image.open(BENCH / "mathvision" / item["image"]).convert("RGB")
        im = im.resize((max(8, int(im.width * 0.8)), max(8, int(im.height * 0.8))))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80)
        name = f"mv_{item['id']}.jpg"
        (tmp_path / name).write_bytes(buf.getvalue())
        rid = f"vision-{item['id']}"
        rows.append(
            {
                "id": rid,
                "question": item["question"],
                "answer": item["answer"],
                "choices": item["options"] or None,
                "image": name,
            }
        )
        planted[f"planted:{rid}"] = ("mathvision", item["id"])
    vista = json.loads((BENCH / "mathvista" / "testmini.json").read_text())
    other = Image.new("RGB", (64, 64), (200, 180, 20))
    other.save(tmp_path / "other.png")
    for pid in rng.sample(sorted(vista), 20):
        item = vista[pid]
        answer = item["answer"]
        if item.get("choices") and rng.random() < 0.5:  # half the MC rows give the letter
            answer = "ABCDEFGH"[item["choices"].index(answer)]
        rid = f"vista-{pid}"
        rows.append(
            {
                "id": rid,
                "question": _perturb(item["question"], rng),
                "answer": answer,
                "choices": item.get("choices"),
                "image": "other.png",
            }
        )
        planted[f"planted:{rid}"] = ("mathvista", pid)
    path = tmp_path / "planted.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path, planted


def test_every_planted_item_is_dropped_and_no_clean_row(tmp_path):
    path, planted = _plant(tmp_path)
    card = {
        "name": "decon",
        "version": "v1",
        "round": 1,
        "sources": [
            {"name": "synthetic", "kind": "synthetic", "pool": "sft", "n": 60},
            {
                "name": "planted",
                "kind": "local",
                "pool": "sft",
                "path": str(path),
                "fields": {"id": "id", "choices": "choices"},
            },
            {
                "name": "tabmwp",
                "kind": "tabmwp_local",
                "pool": "sft",
                "path": str(SHARED / "sources" / "tabmwp"),
            },
        ],
        "stages": [
            {
                "stage": "decontaminate",
                "benchmarks": [
                    {"name": "mathvision", "split": "testmini", "data": str(BENCH / "mathvision")},
                    {"name": "mathvista", "split": "testmini", "data": str(BENCH / "mathvista")},
                ],
            }
        ],
    }
    d = build(card, out=tmp_path / "out")
    m = read_manifest(d)
    matches = {x["row"]: x for x in m["decontamination"]["matches"]}
    dropped = {r["id"] for r in iter_config(d, "rejected", ["id"])}

    for row, (bench, item) in planted.items():
        assert row in dropped, f"{row} ({bench} {item}) was not dropped"
        # MathVista repeats some templated question+answer pairs: any of them is a right match
        named = {
            f"{matches[row]['benchmark']}:{matches[row]['item']}",
            *matches[row].get("also", []),
        }
        assert f"{bench}:{item}" in named
        assert matches[row]["how"] == ("image+text" if bench == "mathvision" else "text+answer")
    assert all(matches[r]["image_distance"] <= 6 for r in planted if planted[r][0] == "mathvision")

    # Clean rows: no synthetic row; of TabMWP only tab:22681, whose question AND answer equal
    # MathVista pid 801's and whose table image has 801's exact size (272x280): a real overlap.
    # Three other TabMWP rows share a MathVista question text with another answer: kept.
    clean_dropped = sorted(dropped - set(planted))
    assert clean_dropped == ["tabmwp:22681"], clean_dropped
    assert (
        matches["tabmwp:22681"]["item"] == "801"
        and matches["tabmwp:22681"]["same_image_size"] is True
    )
    kept = {r["id"] for r in iter_config(d, "sft", ["id"])}
    for look_alike in ("tabmwp:4708", "tabmwp:33775", "tabmwp:34624"):
        assert look_alike in kept
    assert len(kept) == 60 + 1000 - 1


def test_answer_forms_bridge_letters_option_text_and_numbers():
    assert answer_forms("B", ("3 cm", "4 cm")) & answer_forms("4 cm", ("3 cm", "4 cm"))
    assert answer_forms("1.50", None) & answer_forms("1.5", None)
    assert not answer_forms("7", None) & answer_forms("5", None)
    assert norm_text("What  is the AREA, of <image1> X?") == "what is the area of x"
