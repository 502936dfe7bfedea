"""Prompts for the optional LLM judge, after the benchmarks' official judge protocols.

- MathVerse (ZrrSkywalker/MathVerse `evaluation/`): two steps. First a few-shot prompt asks
  the judge to pull the final answer out of the response (or say `null`); then a second
  few-shot prompt shows the question, the standard answer and the extracted answer and asks
  for a 0/1 judgement (consistent only on a complete match; equal quantities in other units
  count, e.g. 0.5 m and 50 cm).
- MathVista (lupantech/MathVista `evaluation/prompts/ext_ans.py`): one few-shot extraction
  prompt built from the item's query (hint + question + choices) and the response; the
  extracted answer then goes through the benchmark's own rule normalisation and comparison.
- MathVision has no official judge; its items get the MathVerse-style extraction and then the
  benchmark's rules, as MathVista does.

These are our own texts following the same structure and instructions; the examples are new.
Bump PROMPT_VERSION whenever a text changes (the run re-judges items judged with another).

One exception, kept verbatim because it is what produced a published number: the OpenVLThinker
paper's MathVerse figure comes from `evaluation/verify_mathverse_gpt4.py` (github.com/
yihedeng9/OpenVLThinker at 6997b47), a yes/no judge over the answer the reference evaluation
extracted. `MATHVERSE_REFERENCE_GPT4` is its PROMPT (lines 14-29) byte for byte, filled in as
that script fills it, and `parse_reference_judgement` reads the reply as its lines 63-83 do.
"""

from __future__ import annotations

PROMPT_VERSION = "1"

GENERIC_EXTRACT = """\
You will see the output of a model that was asked a math question, labelled 'Model response'. \
Find the final answer the model gives and write it after 'Extracted Answer:'. Output only the \
extracted answer, with no explanation. If the response gives no final answer, write null.

1.
Model response: 'Adding the three sides gives 3 + 4 + 5, so the perimeter is 12 cm.'
Extracted Answer: 12 cm

2.
Model response: 'Comparing each graph with the table, only the second one passes through (1, 3).\\n\\nSo the correct choice is B. The line y = 2x + 1.'
Extracted Answer: B

3.
Model response: 'The roots are where the curve meets the x-axis, at x = -1 and x = 4, so the solution set is \\\\((-1, 4)\\\\).'
Extracted Answer: \\\\((-1, 4)\\\\)

4.
Model response: 'The figure does not show the length of the hypotenuse, so the angle cannot be found from the given information.'
Extracted Answer: null

5.
Model response: 'Using the law of cosines, c^2 = 49 + 64 - 2*7*8*cos(60°) = 57, so c is about 7.55.'
Extracted Answer: 7.55

6.
Model response: 'Matching the intercepts and the vertex gives the function g(x) = 2x^2 - 3x + 1.'
Extracted Answer: g(x) = 2x^2 - 3x + 1
"""


def mathverse_extract_prompt(response: str) -> str:
    return f"{GENERIC_EXTRACT.strip()}\n\n7.\nModel response: '{response}'\nExtracted Answer: "


MATHVERSE_SCORE = """\
Below are two answers to a math question: [Standard Answer] is the correct answer and \
[Model_answer] is the answer taken from a model's output. Decide whether the two are \
consistent. They are consistent only when [Model_answer] fully matches [Standard Answer]; for \
questions that are not multiple choice, the same value written another way also counts as \
consistent (for example 0.5 m and 50 cm). For multiple-choice questions the option letter \
must match. Write Judgement: 1 if they are consistent and Judgement: 0 if they are not.

[Question]: Give the solution set of the inequality shown on the number line.
[Standard Answer]: [-3, 2)
[Model_answer] : (-3, 2)
Judgement: 0

[Question]: In the figure, AB is a diameter of circle O and angle ABC = 30°. What is angle BAC?\\nChoices:\\nA:30°\\nB:45°\\nC:60°\\nD:90°
[Standard Answer]: C
[Model_answer] : A:30°
Judgement: 0

[Question]: The tank holds 2.5 litres. How much water is that in millilitres?
[Standard Answer]: 2500
[Model_answer] : 2500 mL
Judgement: 1

[Question]: In the figure, AB is a diameter of circle O and angle ABC = 30°. What is angle BAC?\\nChoices:\\nA:30°\\nB:45°\\nC:60°\\nD:90°
[Standard Answer]: C
[Model_answer] : null
Judgement: 0

[Question]: Which equation describes the parabola with vertex (0, 0) passing through (2, 8)? A. y = 2x^2 B. y = 4x^2
[Standard Answer]: A
[Model_answer] : y = 2x^2
Judgement: 1
"""


def mathverse_score_prompt(question: str, gold: str, extracted: str) -> str:
    return (
        f"{MATHVERSE_SCORE.strip()}\n\n[Question]: {question}\n[Standard Answer]: {gold}\n"
        f"[Model_answer] : {extracted}\nJudgement: "
    )


MATHVISTA_EXTRACT = """\
Read the examples below. Then extract the answer from the last model response and write it \
after 'Extracted answer:'.

Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.
Question: How many cubes are stacked in the picture?

Model response: Counting the bottom layer and then the top, there are 7 cubes in total.

Extracted answer: 7

Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.
Question: What is the average of the values shown by the bars?

Model response: The bars show 2.0, 3.5 and 4.0, whose average is 3.2 when rounded.

Extracted answer: 3.2

Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.
Question: How much do a pencil and an eraser cost together? (Unit: $)

Model response: A pencil costs $0.75 and an eraser $0.40, so together they cost $1.15.

Extracted answer: 1.15

Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.
Question: In which two months is the rainfall the lowest?

Model response: The lowest rainfall falls in months 7 and 8, the middle of summer.

Extracted answer: [7, 8]

Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.
Question: Which shape has the largest area?\\nChoices:\\n(A) the circle\\n(B) the square\\n(C) the triangle\\n(D) the hexagon

Model response: The square's area of 16 is larger than the others, so the answer is (B) the square.

Extracted answer: B
"""


def mathvista_extract_prompt(query: str, response: str) -> str:
    return f"{MATHVISTA_EXTRACT.strip()}\n\n{query}\n\n{response}\n\nExtracted answer: "


def clean_extraction(text: str) -> str | None:
    """The judge's extracted answer, or None when it says there is none."""
    out = (text or "").strip()
    for prefix in ("Extracted Answer:", "Extracted answer:", "extracted answer:"):
        if out.startswith(prefix):
            out = out[len(prefix) :].strip()
    out = out.strip().strip("'\"").strip()
    if not out or out.lower() in ("null", "none", "n/a"):
        return None
    return out


def parse_judgement(text: str) -> bool | None:
    """1 → True, 0 → False, anything else → None (the protocol asks again)."""
    out = (text or "").replace("Judgement:", "").replace("Judgment:", "").strip()
    if out in ("1", "0"):
        return out == "1"
    head = out[:1]
    if head in ("1", "0") and (len(out) == 1 or not out[1].isalnum()):
        return head == "1"
    return None


# verify_mathverse_gpt4.py:14-29, byte for byte (two lines end in a space; one is a lone space).
MATHVERSE_REFERENCE_GPT4 = (
    "You are ImageTaskEvaluatorGPT, an expert language model at judging whether or not a "
    "response is correct given an instruction in the context of an image. More specifically, "
    "you will be given the following:\n"
    "\n"
    "1. An instruction: This is a question, an imperative request, or something similar about "
    "the image which requires a response.\n"
    "2. A ground-truth response: This is the ground-truth response to the instruction.\n"
    "3. A predicted response: This response is a model's answer to address the instruction in "
    "the context of the image without having access to the ground-truth response.\n"
    "\n"
    "Your job is judge whether the predicted response is correct given the ground-truth "
    "response and the instruction.\n"
    " \n"
    "Some things to remember:\n"
    "- Even though you are just a language model, the instructions mostly require an objective "
    "answer i.e., the ground-truth response and instruction should be sufficient for you to "
    "judge the correctness of the predicted response. You do not need to have access to the "
    "complete image description. \n"
    '- You think step-by-step, and ultimately respond with your "Judgement: " as "Yes" or '
    '"No". Here, "Yes" implies that the predicted response is correct according to you, and '
    '"No" implies that the predicted response is not correct.\n'
    "- Focus on whether the ground-truth response is equivalent to the predicted response or "
    "not. \n"
    "\n"
    "Instruction: {instruction}\n"
    "Ground-truth Response: {groundtruth}\n"
    "Predicted Response: {prediction}"
)

# What the reference evaluation stores as the answer when it found none: eval_openvlthinker.py
# :396 (no `</answer>` in the reply) and eval_qwen.py:420 (an empty reply). The judge sees it.
REFERENCE_FAILED_EXTRACTION = "Failed to extract."
REFERENCE_FAILED_GENERATION = "Failed to generate."


def mathverse_reference_prompt(instruction: str, groundtruth: str, prediction: str) -> str:
    """verify_mathverse_gpt4.py:31-34, 53-59: `PROMPT.format(...)` with the evaluation output's
    `instruction` and `response` (the raw gold), and its `answer`, which lines 42-44 first wrap
    in a list — so the judge is shown the list, "['14']", not "14"."""
    return MATHVERSE_REFERENCE_GPT4.format(
        instruction=instruction, groundtruth=groundtruth, prediction=[prediction]
    )


REFERENCE_JUDGEMENT_MARK = "Judgement: "


def parse_reference_judgement(output: str) -> bool | None:
    """verify_mathverse_gpt4.py:63-83. After the first "Judgement: ": "Yes" anywhere → True,
    else "No" anywhere → False (so "Judgement: No, not Yes" is True, as there). Without the
    mark, only a reply that is exactly "Yes" / "No" counts. None: the script drops the item
    from its output, but line 92 still divides by every item — a dropped item counts wrong."""
    at = output.find(REFERENCE_JUDGEMENT_MARK)
    if at < 0:
        if output == "Yes":
            return True
        if output == "No":
            return False
        return None
    rest = output[at + len(REFERENCE_JUDGEMENT_MARK) :]
    if "Yes" in rest:
        return True
    if "No" in rest:
        return False
    return None
