"""`tabmwp_local`: TabMWP as published by PromptPG (problems_*.json + tables/<id>.png)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ovlt_data.sources import SourceContext, SourceKind, register_source
from ovlt_data.sources.local import _resolve, file_digest
from ovlt_data.sources.mapping import FieldMap, map_record
from ovlt_eval.errors import UserError

# TabMWP ans_type -> our answer kinds
ANSWER_TYPES = {
    "integer_number": "integer",
    "decimal_number": "float",
    "extractive_text": "multi_choice",
    "boolean_text": "multi_choice",
    "other_text": "text",
}
FIELDS = FieldMap(id="id", question="question", answer="answer", choices="choices", images="image")


class TabMWPOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str  # folder with problems_*.json and tables/
    file: str = "problems_dev1k.json"


def _open(name: str, opts: TabMWPOptions, ctx: SourceContext):
    import json

    root = _resolve(opts.path, ctx)
    problems = root / opts.file
    if not problems.exists():
        raise UserError(f"source '{name}': {problems} not found")
    data = json.loads(problems.read_text())

    def gen():
        for i, (pid, rec) in enumerate(data.items()):
            kind = ANSWER_TYPES.get(rec.get("ans_type"), "auto")
            if kind == "multi_choice" and not rec.get("choices"):
                kind = "text"
            question = rec.get("question")
            if isinstance(question, str) and rec.get("unit"):
                question = f"{question} (Unit: {rec['unit']})"
            rec = {
                **rec,
                "id": pid,
                "question": question,
                "image": str(Path("tables") / f"{pid}.png"),
            }
            yield map_record(rec, FIELDS, name, i, ctx, kind, str(root))

    return gen()


def _fingerprint(name: str, opts: TabMWPOptions, ctx: SourceContext) -> dict:
    root = _resolve(opts.path, ctx)
    return {
        "kind": "tabmwp_local",
        "path": str(root / opts.file),
        "digest": file_digest(root / opts.file),
        "licence": "cc-by-nc-sa-4.0 (TabMWP)",
    }


register_source(
    SourceKind("tabmwp_local", TabMWPOptions, _open, _fingerprint, "TabMWP (PromptPG files)")
)
