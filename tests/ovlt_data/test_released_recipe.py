"""The released round-2/3 recipe in the data factory: the `released` select rule, verbatim
traces, the round cards' named presets, and the authors' datasets catalogued as sources.

References: generation/generate_reasoning_thinker.py (the released round-3 generation script)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ovlt_data.card import load_card
from ovlt_data.sources import SourceContext
from ovlt_data.sources.hub import CATALOG, HubOptions, keeps_source
from ovlt_data.sources.mapping import map_record
from ovlt_data.stages.select_clean import select_index
from ovlt_eval.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def select_best_reasoning(all_correct_paths):
    """generate_reasoning_thinker.py:176-188, verbatim in behaviour: (reasoning, answer, words)."""
    if not all_correct_paths:
        return None, None
    if len(all_correct_paths) == 1:
        return all_correct_paths[0][0], all_correct_paths[0][1]
    all_correct_paths.sort(key=lambda x: x[2])
    all_correct_paths = all_correct_paths[:-1]
    return all_correct_paths[-1][0], all_correct_paths[-1][1]


@pytest.mark.parametrize(
    "lengths",
    [[50, 10, 30, 20], [7], [12, 40], [5, 5, 9], [9, 5, 5], [3, 8, 8, 8], [1, 2, 3, 4]],
)
def test_released_select_keeps_what_the_released_script_keeps(lengths):
    samples = [f"s{i} " + "w " * (n - 1) for i, n in enumerate(lengths)]
    for mask in range(1, 2 ** len(lengths)):
        correct = [bool(mask >> i & 1) for i in range(len(lengths))]
        paths = [
            (s, i, len(s.split()))
            for i, (s, ok) in enumerate(zip(samples, correct, strict=True))
            if ok
        ]
        _, want = select_best_reasoning(paths)
        assert select_index(samples, correct, "released") == want, (lengths, correct)
    # the paper's rule differs: with 10/30/50 correct it keeps 10, the released one 30
    assert select_index(["a " * 50, "b " * 10, "c " * 30], [True] * 3, "shortest_correct") == 1
    assert select_index(["a " * 50, "b " * 10, "c " * 30], [True] * 3, "released") == 2


def _row(sample: str):
    from ovlt_data.schema import Example, Row

    ex = Example(
        id="s:1", source="s", images=(), question="How many?", answer="3", answer_type="integer"
    )
    return Row(
        ex, "sft", samples=(sample,), sample_correct=(True,), sample_extracted=("3",), selected=0
    )


def test_clean_verbatim_keeps_the_generation_uncut():
    from ovlt_data.stages import BuildContext
    from ovlt_data.stages.select_clean import Clean, CleanParams

    trace = "<think>3 circles. Wait, let me recount. " + "w " * 700 + "</think><answer>3</answer>"
    kept = Clean(CleanParams(verbatim=True, max_words=None), BuildContext(None, None, {}))(
        [_row(trace)]
    )
    assert not kept[0].dropped and kept[0].response == trace
    paper = Clean(CleanParams(), BuildContext(None, None, {}))([_row(trace)])
    assert paper[0].dropped or paper[0].response != trace  # cut at "Wait," / over 500 words
    capped = Clean(CleanParams(verbatim=True, max_words=100), BuildContext(None, None, {}))(
        [_row(trace)]
    )
    assert capped[0].drop_reason == "too_long"


@pytest.mark.parametrize("n", [2, 3])
def test_round_cards_default_to_the_released_preset(n, monkeypatch):
    monkeypatch.delenv("OVLT_ROUND_PRESET", raising=False)
    card = load_card(REPO / f"ovlt_cards/rounds/round{n}.yaml")
    assert card.preset == "released"
    (sft,) = [s for s in card.sources if s.pool == "sft"]
    assert sft.options == {"dataset": "sft_seed", "exclude_source": ["scienceqa", "ai2d"]}
    samp = card.models["reasoner"].sampling
    assert (samp.temperature, samp.top_p, samp.top_k, samp.max_tokens) == (0.01, 0.001, 1, 2048)
    stages = {s.stage: s.params for s in card.stages}
    assert stages["distill"]["mode"] == "image" and stages["distill"]["k"] == 1
    assert stages["select"] == {"policy": "released"}
    assert stages["verify"] == {"policy": "released_generation"}
    assert stages["clean"] == {"verbatim": True, "max_words": None}
    assert card.stages[0].stage == "decontaminate"

    monkeypatch.setenv("OVLT_ROUND_PRESET", "paper")
    paper = load_card(REPO / f"ovlt_cards/rounds/round{n}.yaml")
    assert paper.preset == "paper" and paper.digest() != card.digest()
    assert len([s for s in paper.sources if s.pool == "sft"]) == 11
    assert {s.stage: s.params for s in paper.stages}["select"] == {"policy": "shortest_correct"}
    assert paper.models["reasoner"].sampling.temperature == 0.6


def test_presets_errors_are_one_line_and_cards_without_presets_keep_their_digest(monkeypatch):
    import yaml

    monkeypatch.setenv("OVLT_ROUND_PRESET", "nope")
    with pytest.raises(UserError, match="unknown preset 'nope' \\(card has: released, paper\\)"):
        load_card(REPO / "ovlt_cards/rounds/round2.yaml")
    demo = yaml.safe_load((REPO / "ovlt_cards/rounds/demo.yaml").read_text())
    plain = load_card(demo)
    # the digest of a card without presets is the pre-presets digest (no `preset` key in it;
    # nor the models' request_timeout, which came later and never enters the digest)
    exclude = {"preset": True, "models": {"__all__": {"request_timeout"}}}
    blob = json.dumps(plain.model_dump(mode="json", exclude=exclude), sort_keys=True)
    before = hashlib.sha256(blob.encode()).hexdigest()
    assert plain.digest() == before
    with_presets = dict(demo, preset="a", presets={"a": {"seed": 5}})
    chosen = load_card(with_presets)
    assert chosen.seed == 5 and chosen.preset == "a" and chosen.digest() != before
    with pytest.raises(UserError, match="has no presets"):
        load_card(dict(demo, preset="a"))


def test_exclude_source_drops_what_the_round3_script_dropped():
    opts = HubOptions(dataset="sft_seed", exclude_source=["scienceqa", "ai2d"])
    origins = ["geometry3k", "scienceqa", "ai2d", "figureqa", None]
    assert [keeps_source({"source": o}, opts) for o in origins] == [True, False, False, True, True]


def _ctx(tmp_path):
    return SourceContext(max_pixels=1_000_000, base_dir=tmp_path)


def test_catalogue_maps_each_released_schema(tmp_path):
    from PIL import Image

    img = Image.new("RGB", (40, 30), "white")
    seed = {
        "decoded_image": img,
        "image": "x.png",
        "problem": "How many?",
        "answer": "3",
        "source": "clevr",
    }
    ex = map_record(seed, CATALOG["sft_seed"].fields, "sft_seed", 0, _ctx(tmp_path))
    assert (ex.question, ex.answer, len(ex.images)) == ("How many?", "3", 1)

    sharegpt = {
        "messages": [
            {"role": "user", "content": "<image>How many?"},
            {"role": "assistant", "content": "<think>two and one</think> <answer>3</answer>"},
        ],
        "images": [img],
    }
    fields = CATALOG["openvlthinker_sft_iter3"].fields
    ex = map_record(sharegpt, fields, "iter3", 0, _ctx(tmp_path))
    assert (ex.question, ex.answer, len(ex.images)) == ("How many?", "3", 1)
    no_tag = dict(
        sharegpt, messages=[sharegpt["messages"][0], {"role": "assistant", "content": "3"}]
    )
    assert map_record(no_tag, fields, "iter3", 1, _ctx(tmp_path)).reason == "no_answer_tag"

    for key in ("medium_grpo_only", "openvlthinker_grpo_hard"):
        easyr1 = {"problem": "<image>How many?", "answer": "3", "images": [img]}
        ex = map_record(easyr1, CATALOG[key].fields, key, 0, _ctx(tmp_path))
        assert (ex.question, ex.answer, len(ex.images)) == ("How many?", "3", 1)
    assert CATALOG["medium_grpo_only"].hub_id == "ydeng9/medium_grpo_only"
    assert CATALOG["openvlthinker_grpo_hard"].hub_id == "ydeng9/OpenVLThinker-grpo-hard"
