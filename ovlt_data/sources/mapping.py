"""Field mapping shared by `local` and `hub` sources: a raw record -> Example or Rejected."""

from __future__ import annotations

import ast
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ovlt_data.images import BadImage, load_image
from ovlt_data.schema import Example, Rejected
from ovlt_data.sources import SourceContext
from ovlt_eval.grading.tags import last_closed_tag

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_QUESTION_CHARS = 100_000  # benchmark questions are a few thousand at most
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


class FieldMap(BaseModel):
    """Which column holds what. `images` may hold one image or a list (path, bytes, PIL, dict)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str | None = None  # default: the record's position
    question: str = "question"
    answer: str = "answer"
    choices: str | None = None
    images: str | None = "image"
    answer_type: str | None = None
    choices_format: Literal["list", "python_list_string", "newline"] = "list"
    # choice_index: 0-based index into choices (ScienceQA, AI2D); majority: most common of a list (VizWiz)
    answer_format: Literal["text", "choice_index", "majority"] = "text"
    # LLaVA-style `conversations` column (`from`/`value`, or sharegpt `role`/`content` as in
    # LLaMA-Factory data): question = first human/user turn, answer = first gpt/assistant turn
    conversations: str | None = None
    # answer_tag: the answer is the last `<answer>…</answer>` of the answer text (a released SFT
    # trace, whose verified final answer sits in that tag)
    answer_from: Literal["whole", "answer_tag"] = "whole"
    # EasyR1 / LLaMA-Factory put `<image>` in the question text; removed from the question
    strip_image_placeholders: bool = False


def infer_answer_type(answer: str, choices) -> str:
    if choices:
        return "multi_choice"
    if _INT.match(answer.strip()):
        return "integer"
    if _FLOAT.match(answer.strip()):
        return "float"
    return "auto"


# A choices cell beyond these is no multiple-choice question: options are lettered A..Z, and
# a list literal is parsed only when short (ast.literal_eval of "-" * 100000 + "1" recurses
# until MemoryError).
MAX_CHOICES = len(LETTERS)
MAX_CHOICES_CHARS = 20_000


def _parse_choices(value: Any, fmt: str) -> tuple[str, ...] | None:
    """The options of a record, or ValueError saying why the cell is not a list of options."""
    if value is None:
        return None
    if fmt == "python_list_string" and isinstance(value, str):
        if len(value) > MAX_CHOICES_CHARS:
            raise ValueError(f"choices literal of {len(value)} characters")
        try:
            value = ast.literal_eval(value) if value.strip() else []
        except (SyntaxError, TypeError, MemoryError, RecursionError) as err:
            raise ValueError(
                f"choices are not a Python list literal ({type(err).__name__})"
            ) from None
    elif fmt == "newline" and isinstance(value, str):
        value = [v for v in value.split("\n") if v.strip()]
    if isinstance(value, str):
        raise ValueError("choices is a string; set choices_format")
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"choices is a {type(value).__name__}, not a list")
    if len(value) > MAX_CHOICES:
        raise ValueError(f"{len(value)} choices; at most {MAX_CHOICES} (A-Z)")
    if any(isinstance(v, (dict, list, tuple, set, bytes)) for v in value):
        raise ValueError("a choice is not text")
    out = tuple(str(v) for v in value)
    if sum(map(len, out)) > MAX_CHOICES_CHARS:
        raise ValueError(f"choices of {sum(map(len, out))} characters")
    return out or None


def _turn(turns: Any, speakers: tuple[str, ...]) -> str:
    for t in turns:
        who = t.get("from", t.get("role"))
        if who in speakers:
            text = t.get("value", t.get("content"))
            if not isinstance(text, str):
                raise TypeError("turn text is not a string")
            return text
    raise KeyError(speakers[0])


def _from_conversations(turns: Any) -> tuple[str, str]:
    human = _turn(turns, ("human", "user"))
    gpt = _turn(turns, ("gpt", "assistant"))
    return human.replace("<image>", "").strip(), gpt.strip()


def map_record(
    rec: dict[str, Any],
    fm: FieldMap,
    source: str,
    index: int,
    ctx: SourceContext,
    answer_type: str | None = None,
    base_dir: str | None = None,
) -> Example | Rejected:
    native = rec.get(fm.id) if fm.id else index
    rid = f"{source}:{native}"

    def reject(reason: str, detail: str = "", q: str = "", a: str = "") -> Rejected:
        return Rejected(rid, source, reason, detail, q, a)

    if fm.conversations:
        if fm.conversations not in rec:
            return reject("missing_field", fm.conversations)
        try:
            question, answer = _from_conversations(rec[fm.conversations])
        except (StopIteration, TypeError, KeyError, AttributeError):
            return reject("bad_conversations", "no human/gpt turn")
    else:
        for key in (fm.question, fm.answer):
            if key not in rec:
                return reject("missing_field", key)
        question, answer = rec[fm.question], rec[fm.answer]
    if isinstance(question, str) and fm.strip_image_placeholders:
        question = question.replace("<image>", "")
    if not isinstance(question, str) or not question.strip():
        return reject("empty_question", repr(question)[:80])
    if len(question) > MAX_QUESTION_CHARS:  # it would ride in every prompt, cache key and row
        return reject("question_too_long", f"{len(question)} characters", question[:200])
    if fm.answer_from == "answer_tag":
        # re.findall(r"<answer>(.*?)</answer>", answer, re.S)[-1], without its quadratic cost
        tag = last_closed_tag(answer) if isinstance(answer, str) else None
        if tag is None:
            return reject("no_answer_tag", "no <answer>…</answer> in the answer text", question)
        answer = tag
    try:
        choices = _parse_choices(rec.get(fm.choices), fm.choices_format) if fm.choices else None
    except (ValueError, SyntaxError) as e:
        return reject("bad_choices", str(e)[:120], question)
    if fm.choices and fm.choices not in rec:
        return reject("missing_field", fm.choices, question)

    if fm.answer_format == "majority" and isinstance(answer, (list, tuple)) and answer:
        from collections import Counter

        answer = Counter(str(a).strip() for a in answer).most_common(1)[0][0]
    # an index only means something for a row with options; free-form rows keep their number
    if (
        fm.answer_format == "choice_index"
        and choices
        and isinstance(answer, str)
        and answer.strip().isdigit()
    ):
        answer = int(answer)
    if (
        fm.answer_format == "choice_index"
        and choices
        and isinstance(answer, int)
        and not isinstance(answer, bool)
    ):
        if not 0 <= answer < len(choices):
            return reject("bad_answer", f"choice index {answer} out of range", question)
        answer = LETTERS[answer]
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        return reject("bad_answer", f"answer is {type(answer).__name__}, not a string", question)
    if isinstance(answer, float) and not math.isfinite(answer):  # JSON NaN / 1e400
        return reject("bad_answer", f"answer is {answer}", question)
    answer = str(answer).strip()
    if not answer:
        return reject("empty_answer", "", question)

    images = []
    if fm.images:
        if fm.images not in rec:
            return reject("missing_field", fm.images, question, answer)
        raw = rec[fm.images]
        raw_list = raw if isinstance(raw, (list, tuple)) else [raw]
        if not raw_list:
            return reject("missing_image", "empty image list", question, answer)
        for value in raw_list:
            try:
                images.append(load_image(value, max_pixels=ctx.max_pixels, base_dir=base_dir))
            except BadImage as e:
                return reject(e.reason, e.detail, question, answer)

    kind = (rec.get(fm.answer_type) if fm.answer_type else None) or answer_type
    kind = kind or infer_answer_type(answer, choices)
    return Example(
        id=rid,
        source=source,
        images=tuple(images),
        question=question.strip(),
        answer=answer,
        choices=choices,
        answer_type=kind,
        provenance={"native_id": str(native), "index": index},
    )
