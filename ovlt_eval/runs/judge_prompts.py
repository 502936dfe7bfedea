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
