"""`hub`: the paper's training sources on the Hugging Face Hub, loaded lazily with `datasets`.

The catalogue records, per source, the Hub id, config, split, field mapping and licence as read
on the dataset cards and in the authors' code (the project's source notes, SOURCES.md). Fields
marked `verified=False` were not read on a card: check `load_dataset(...).features` before a real
build. Offline, opening one of these is a one-line UserError.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, model_validator

from ovlt_data.sources import SourceContext, SourceKind, register_source
from ovlt_data.sources.mapping import FieldMap, map_record
from ovlt_eval.errors import UserError

LLAVA_OV = "lmms-lab/LLaVA-OneVision-Data"
_CONV = FieldMap(id="id", conversations="conversations", images="image")
# EasyR1's keys (train/easyr1/examples/config.yaml:4-6): problem / answer / images, with the
# `<image>` placeholders in the problem text
EASYR1_FIELDS = FieldMap(
    question="problem", answer="answer", images="images", strip_image_placeholders=True
)


@dataclass(frozen=True)
class HubSource:
    hub_id: str
    config: str | None
    split: str
    fields: FieldMap
    licence: str
    verified: bool  # field names read on a dataset card or in the authors' code
    note: str = ""
    rows: int | None = None  # split size as read on the card / viewer (for dry-run plans)


CATALOG: dict[str, HubSource] = {
    "figureqa": HubSource(
        LLAVA_OV,
        "FigureQA(MathV360K)",
        "train",
        _CONV,
        "apache-2.0 (re-host)",
        False,
        "yes/no answers inside the conversation",
        rows=17600,
    ),
    "geos": HubSource(
        LLAVA_OV, "GEOS(MathV360K)", "train", _CONV, "apache-2.0 (re-host)", False, rows=498
    ),
    "geometry3k": HubSource(
        "hiyouga/geometry3k",
        None,
        "train",
        FieldMap(id="id", question="problem", answer="answer", choices="choices", images="images"),
        "mit",
        True,
        "`answer` is probably the choice text, `ground_truth` the letter",
        rows=2101,
    ),
    "tabmwp": HubSource(
        "JiaerX/TabMWP",
        None,
        "train",
        FieldMap(id="id", question="question", answer="answer", choices="options", images="image"),
        "cc-by-nc-sa-4.0 (TabMWP)",
        True,
        "table renderings; answer is option text or a number",
        rows=23059,
    ),
    "vizwiz": HubSource(
        "lmms-lab/VizWiz-VQA",
        None,
        "val",
        FieldMap(
            id="question_id",
            question="question",
            answer="answers",
            images="image",
            answer_format="majority",
        ),
        "cc-by-4.0 (VizWiz)",
        True,
        "10 annotator answers; many 'unanswerable'",
        rows=4319,
    ),
    "ai2d": HubSource(
        "lmms-lab/ai2d",
        None,
        "test",
        FieldMap(
            question="question",
            answer="answer",
            choices="options",
            images="image",
            answer_format="choice_index",
        ),
        "unstated",
        True,
        "test split only",
        rows=3088,
    ),
    "clevr": HubSource(
        LLAVA_OV,
        "CLEVR-Math(MathV360K)",
        "train",
        _CONV,
        "cc-by-4.0 (CLEVR-Math)",
        False,
        "dali-does/clevr-math needs a loading script and a 19 GB zip",
        rows=5280,
    ),
    "superclevr": HubSource(
        LLAVA_OV, "Super-CLEVR(MathV360K)", "train", _CONV, "apache-2.0 (re-host)", False, rows=8640
    ),
    "iconqa": HubSource(
        "lmms-lab/ICON-QA",
        None,
        "val",
        FieldMap(
            id="question_id",
            question="question",
            answer="answer",
            choices="choices",
            images="query_image",
            choices_format="python_list_string",
        ),
        "cc-by-sa-4.0 (IconQA)",
        True,
        "choices is a serialised string; image field is query_image",
        rows=21488,
    ),
    "mapqa": HubSource(
        LLAVA_OV, "MapQA(MathV360K)", "train", _CONV, "apache-2.0 (re-host)", False, rows=5230
    ),
    "scienceqa": HubSource(
        "lmms-lab/ScienceQA",
        "ScienceQA-IMG",
        "train",
        FieldMap(
            question="question",
            answer="answer",
            choices="choices",
            images="image",
            answer_format="choice_index",
        ),
        "cc-by-nc-sa-4.0 (loader) / cc-by-sa-4.0 (card)",
        True,
        "answer is an int index into choices",
        rows=6218,
    ),
    # -- the authors' released data (SOURCES.md §A; field names from their code) --------------
    "sft_seed": HubSource(
        "ydeng9/sft_seed",
        None,
        "train",
        # generate_reasoning_thinker.py:205 feeds `decoded_image` + `problem`, grades `answer`
        FieldMap(question="problem", answer="answer", images="decoded_image"),
        "unstated",
        True,
        "the authors' seed pool for round-2/3 SFT traces; `source` names the origin "
        "(round 3 dropped scienceqa and ai2d: generate_reasoning_thinker.py:285-286)",
    ),
    "openvlthinker_sft_iter3": HubSource(
        "ydeng9/OpenVLThinker-sft-iter3",
        None,
        "train",
        # LLaMA-Factory sharegpt (train/llama-factory/data/dataset_info.json:2-15): `messages`
        # role/content turns, `<image>` in the user turn, `images` list
        FieldMap(conversations="messages", images="images", answer_from="answer_tag"),
        "unstated",
        True,
        "SFT data of OpenVLThinker-v1.2-sft-iter3; the gold is the trace's <answer> (verified "
        "when generated); train it directly with `ovlt-train sft --data ydeng9/OpenVLThinker-sft-iter3`",
    ),
    "medium_grpo_only": HubSource(
        "ydeng9/medium_grpo_only",
        None,
        "train",
        EASYR1_FIELDS,
        "unstated",
        True,
        "GRPO medium stage of v1.2 (openvlthinker_grpo_medium.sh:8); splits train / test",
    ),
    "openvlthinker_grpo_hard": HubSource(
        "ydeng9/OpenVLThinker-grpo-hard",
        None,
        "train",
        EASYR1_FIELDS,
        "unstated",
        True,
        "GRPO hard stage of v1.2 (openvlthinker_grpo_hard.sh:8); splits train / test",
    ),
    "hard_grpo_geo": HubSource(
        "ydeng9/hard_grpo_geo",
        None,
        "train",
        EASYR1_FIELDS,
        "unstated",
        True,
        "only the default of examples/config.yaml:2; the released hard script overrides it",
    ),
}

# Released datasets `ovlt-train` reads directly, and the training format each one is in.
RELEASED_TRAINING_DATA: dict[str, str] = {
    "ydeng9/OpenVLThinker-sft-iter3": "llamafactory",
    "ydeng9/medium_grpo_only": "easyr1",
    "ydeng9/OpenVLThinker-grpo-hard": "easyr1",
    "ydeng9/hard_grpo_geo": "easyr1",
}


class HubOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str | None = None  # a CATALOG key
    hub_id: str | None = None  # or spell it out
    config: str | None = None
    split: str | None = None
    revision: str | None = None
    fields: FieldMap | None = None
    filter_source: list[str] | None = None  # keep rows whose `source` column is one of these
    # drop rows whose `source` column is one of these (round 3 released: [scienceqa, ai2d])
    exclude_source: list[str] | None = None

    @model_validator(mode="after")
    def _one_of(self):
        if self.dataset is None and self.hub_id is None:
            raise ValueError("give `dataset` (one of: " + ", ".join(CATALOG) + ") or `hub_id`")
        if self.dataset is not None and self.dataset not in CATALOG:
            raise ValueError(f"unknown hub dataset '{self.dataset}' (known: {', '.join(CATALOG)})")
        return self


def resolve(opts: HubOptions) -> HubSource:
    base = CATALOG[opts.dataset] if opts.dataset else None
    return HubSource(
        hub_id=opts.hub_id or base.hub_id,
        config=opts.config if opts.config is not None else (base.config if base else None),
        split=opts.split or (base.split if base else "train"),
        fields=opts.fields or (base.fields if base else FieldMap()),
        licence=base.licence if base else "unknown",
        verified=base.verified if base else False,
        rows=base.rows if base and not (opts.hub_id or opts.config or opts.split) else None,
    )


def keeps_source(rec: dict, opts: HubOptions) -> bool:
    origin = rec.get("source")
    if opts.filter_source and origin not in opts.filter_source:
        return False
    return not (opts.exclude_source and origin in opts.exclude_source)


def _open(name: str, opts: HubOptions, ctx: SourceContext):
    from ovlt_eval.hub_access import check_hub_ref

    src = resolve(opts)
    check_hub_ref(src.hub_id, repo_type="dataset", what=f"source '{name}':", could_be_path=False)
    try:
        import datasets

        ds = datasets.load_dataset(
            src.hub_id, src.config, split=src.split, streaming=True, revision=opts.revision
        )
    except Exception as e:  # offline, gated, renamed: all end the same way for the user
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise UserError(
            f"source '{name}': cannot load {src.hub_id} [{src.config or 'default'}/{src.split}] "
            f"from the Hub ({first})"
        ) from None

    def gen():
        for i, rec in enumerate(ds):
            if not keeps_source(rec, opts):
                continue
            yield map_record(rec, src.fields, name, i, ctx)

    return gen()


def _fingerprint(name: str, opts: HubOptions, ctx: SourceContext) -> dict:
    src = resolve(opts)
    return {
        "kind": "hub",
        "hub_id": src.hub_id,
        "config": src.config,
        "split": src.split,
        "revision": opts.revision or "main",
        "licence": src.licence,
    }


register_source(
    SourceKind("hub", HubOptions, _open, _fingerprint, "the paper's sources on the Hub")
)
