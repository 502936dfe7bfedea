"""The OpenVLThinker reference evaluation's prompt text, reproduced exactly.

`format_instruction` follows `format_instruction` in the reference repository
(github.com/yihedeng9/OpenVLThinker at 6997b47, `evaluation/eval_openvlthinker.py:311-329`;
`eval_qwen.py:322-340` is the same function). Which benchmarks get which branch is decided at
eval_openvlthinker.py:368-375:

- MathVision, EMMA (all four subjects), MMMU-Pro standard (4 and 10 options): the question,
  then the options as "(A) …" lines whenever the item has any options — even when the options
  are just the letters "A".."E" (MathVision), which the reference lists as "(A) A";
- HallusionBench: the yes/no hint and the question;
- MMMU-Pro vision: the vision hint and the options, no question text (it is in the image);
- MathVista and MathVerse: the dataset's own ready-made prompt (`query` / `query_cot`), as is.

The reference `eval()`s an options string (MMMU-Pro stores options as a Python-literal
string); here the caller parses it first with `ast.literal_eval` (see
`loading.parse_option_list`), so this module only formats.
"""

from __future__ import annotations

from collections.abc import Sequence

MULTI_CHOICE_HINT = (
    "Hint: Please answer the question and provide the correct option letter, "
    "e.g., A, B, C, D, E, at the end."
)
FREE_FORM_HINT = "Hint: Please answer the question requiring an answer."
YES_NO_HINT = "Hint: Please answer the question requiring an answer of yes or no."
VISION_HINT = "Hint: Please answer the question shown in the image."
VISION_OPTIONS_HINT = " Provide the correct option letter, e.g., A, B, C, D, E, at the end."


def choice_lines(options: Sequence[str]) -> str:
    # chr(65 + i), as the reference writes it (no cap at J or Z)
    return "\n".join(f"({chr(65 + i)}) {opt}" for i, opt in enumerate(options))


def format_instruction(
    instruction: str,
    options: Sequence[str] | None = None,
    *,
    yes_no: bool = False,
    vision: bool = False,
) -> str:
    """The text the reference sends after the image(s) (eval_openvlthinker.py:311-329)."""
    if vision:
        if options:
            return f"{VISION_HINT}{VISION_OPTIONS_HINT}\nChoices:\n{choice_lines(options)}"
        return VISION_HINT
    if yes_no:
        return f"{YES_NO_HINT}\nQuestion: {instruction}"
    if options:
        return f"{MULTI_CHOICE_HINT}\nQuestion: {instruction}\nChoices:\n{choice_lines(options)}"
    return f"{FREE_FORM_HINT}\nQuestion: {instruction}"
