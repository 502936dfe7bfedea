"""The Hub source code path (datasets.load_dataset, streaming) on local folders laid out like the
Hub repos, with the field names SOURCES.md gives; plus the mapping quirks of each catalogue entry."""

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ovlt_data.schema import Example, Rejected
from ovlt_data.sources import SourceContext, get_source_kind
from ovlt_data.sources.hub import CATALOG
from ovlt_data.sources.mapping import map_record

CTX = SourceContext(max_pixels=20_000_000, base_dir=Path("."))


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "green").save(buf, format="PNG")
    return buf.getvalue()


def _hub_folder(root: Path, rows: list[dict]) -> Path:
    (root / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "data" / "train-00000-of-00001.parquet")
    return root


def _open(opts):
    k = get_source_kind("hub")
    return list(k.open("src", k.validate_options(opts, "test"), CTX))


def test_geometry3k_layout_through_load_dataset(tmp_path):
    img = {"bytes": _png(), "path": None}
    root = _hub_folder(
        tmp_path / "geometry3k",
        [
            {
                "images": [img],
                "problem": "<image>Find x.",
                "answer": "3",
                "id": 1,
                "choices": ["1", "2", "3", "4"],
                "ground_truth": "C",
            },
            {
                "images": [img],
                "problem": "<image>Find y.",
                "answer": "",
                "id": 2,
                "choices": ["1", "2"],
                "ground_truth": "A",
            },
        ],
    )
    out = _open({"dataset": "geometry3k", "hub_id": str(root)})
    assert (
        isinstance(out[0], Example)
        and out[0].answer == "3"
        and out[0].choices == ("1", "2", "3", "4")
    )
    assert out[0].id == "src:1" and out[0].images[0].width == 16
    assert isinstance(out[1], Rejected) and out[1].reason == "empty_answer"


def test_llava_conversation_layout(tmp_path):
    img = {"bytes": _png(), "path": None}
    root = _hub_folder(
        tmp_path / "llava",
        [
            {
                "id": "f1",
                "image": img,
                "conversations": [
                    {"from": "human", "value": "<image>\nIs Red the maximum?"},
                    {"from": "gpt", "value": "Yes"},
                ],
            },
        ],
    )
    out = _open({"dataset": "figureqa", "hub_id": str(root), "config": ""})
    assert out[0].question == "Is Red the maximum?" and out[0].answer == "Yes"


def test_catalogue_mappings_handle_each_quirk():
    png = _png()
    viz = map_record(
        {
            "question_id": "q",
            "image": {"bytes": png},
            "question": "What is it?",
            "answers": ["soup", "soup", "can", "soup"],
        },
        CATALOG["vizwiz"].fields,
        "vizwiz",
        0,
        CTX,
    )
    assert viz.answer == "soup"
    sqa = map_record(
        {"image": {"bytes": png}, "question": "Which?", "choices": ["a", "b", "c"], "answer": 2},
        CATALOG["scienceqa"].fields,
        "scienceqa",
        0,
        CTX,
    )
    assert sqa.answer == "C" and sqa.answer_type == "multi_choice"
    icon = map_record(
        {
            "question_id": "i",
            "query_image": {"bytes": png},
            "question": "Which?",
            "choices": "['x', 'y']",
            "answer": "y",
        },
        CATALOG["iconqa"].fields,
        "iconqa",
        0,
        CTX,
    )
    assert icon.choices == ("x", "y")
    no_img = map_record(
        {"question": "Which?", "options": ["a"], "answer": "0"},
        CATALOG["ai2d"].fields,
        "ai2d",
        0,
        CTX,
    )
    assert (
        isinstance(no_img, Rejected)
        and no_img.reason == "missing_field"
        and no_img.detail == "image"
    )


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_catalogue_entry_names_its_hub_id_split_and_licence(name):
    src = CATALOG[name]
    assert "/" in src.hub_id and src.split and src.licence
