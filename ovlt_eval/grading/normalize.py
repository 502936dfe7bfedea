"""Cheap, pure-Python normalisation of answers: text keys, numbers, option letters, lists.

Everything here is linear-time on bounded input and never calls sympy, so the verifier can
settle most items before the (bounded, out-of-process) symbolic comparison is needed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

# Inputs longer than this are refused before any regex runs: extracted answers are short,
# and a 100k-character "answer" is a broken extraction, not something to compare.
MAX_ANSWER_CHARS = 4000
# A decimal exponent beyond this would make Fraction/int arithmetic itself the hang.
_MAX_EXPONENT = 400

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A LaTeX command whose backslash was eaten by a JSON/Python string escape: "\frac" written
# as "\f" + "rac" becomes form-feed + "rac" (MathVision test.jsonl has such a gold).
_EATEN_BACKSLASH = re.compile(
    "\x0c(?=rac|box)|\x08(?=oxed|inom|eta|ar|ig)|\x07(?=lpha|pprox|ngle)"
    "|\x0b(?=ec|arepsilon|arphi)|\t(?=imes|heta|ext|frac|an|riangle)|\r(?=ight|ho|m)"
)
_ESCAPE_LETTER = {"\x0c": "f", "\x08": "b", "\x07": "a", "\x0b": "v", "\t": "t", "\r": "r"}


def sanitize(value: object) -> str:
    """Any input → a valid str: lone surrogates become U+FFFD, NUL/control bytes go."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    else:
        text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    if _EATEN_BACKSLASH.search(text):
        text = _EATEN_BACKSLASH.sub(lambda m: "\\" + _ESCAPE_LETTER[m.group(0)], text)
    return _CONTROL.sub("", text)


def brace_end(s: str, open_idx: int) -> int:
    """Index of the `}` closing the `{` at open_idx, or -1."""
    depth = 0
    for i in range(open_idx, len(s)):
        c = s[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


_WRAP_CMDS = ("\\boxed", "\\fbox", "\\text", "\\textbf", "\\mathrm", "\\mathbf", "\\textit")
_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("`", "`"))


_WRAP_STARTS = tuple({left for left, _ in _DELIMS} | set(_WRAP_CMDS))
_DIGIT_DOT_END = re.compile(r"\d\.$")
_DECIMAL_DOT_END = re.compile(r"\.\d*\.$")


def strip_wrappers(s: str) -> str:
    """Peel whole-string wrappers: $..$, \\(..\\), **..**, \\boxed{..}, \\text{..}, final period."""
    s = s.strip()
    if not s or (s[-1] != "." and not s.startswith(_WRAP_STARTS)):
        return s  # nothing to peel: the common case, kept cheap (called several times a verify)
    return _strip_wrappers_loop(s)


def _strip_wrappers_loop(s: str) -> str:
    for _ in range(8):
        before = s
        s = s.strip()
        for left, right in _DELIMS:
            if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s = s[len(left) : len(s) - len(right)].strip()
        for cmd in _WRAP_CMDS:
            if s.startswith(cmd + "{") and brace_end(s, len(cmd)) == len(s) - 1:
                s = s[len(cmd) + 1 : -1].strip()
        if s.endswith(".") and not _DIGIT_DOT_END.search(s[-2:]):
            s = s[:-1].rstrip()
        elif _DIGIT_DOT_END.search(s) and not _DECIMAL_DOT_END.search(s):
            # "5." is a sentence end, not a decimal point
            s = s[:-1]
        if s == before:
            break
    return s


_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|operatorname|mbox)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~|\\left|\\right|\\displaystyle")
_WS = re.compile(r"\s+")


def latex_light(s: str) -> str:
    """LaTeX spellings that mean the same thing, unified; case kept (symbols are case-sensitive)."""
    s = _TEXT_CMD.sub(r" \1 ", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\le ", "\\leq ").replace("\\ge ", "\\geq ")
    s = _SPACING.sub(" ", s)
    s = s.replace("{,}", ",")
    return _WS.sub(" ", s).strip()


def text_key(s: str) -> str:
    """The fast-path comparison key: wrappers peeled, LaTeX unified, case and spaces folded."""
    s = strip_wrappers(unicodedata.normalize("NFKC", s))
    s = latex_light(s)
    s = strip_wrappers(s)
    return _WS.sub("", s).lower()


# ---------------------------------------------------------------- numbers


@dataclass(frozen=True)
class Number:
    value: Fraction
    percent: bool = False
    exact_decimal: bool = True  # written as a plain decimal/integer literal (not a fraction)
    decimals: int = 0  # digits after the decimal point as written


_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_PLAIN = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)(?:[eE]([+-]?\d+))?")
_SLASH = re.compile(r"([+-]?)(\d+\.?\d*)\s*/\s*(\d+\.?\d*)")
_FRAC = re.compile(
    r"([+-]?)\\frac\s*(?:\{\s*([+-]?\d+\.?\d*)\s*\}|(\d))\s*(?:\{\s*(\d+\.?\d*)\s*\}|(\d))"
)
_SCI = re.compile(
    r"([+-]?\d+\.?\d*)\s*(?:\\times|\\cdot|\*|x|×)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?"
)
_POW10 = re.compile(r"([+-]?)10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree")
_CURRENCY = re.compile(r"^(?:\\\$|\$|€|£|¥|usd|rs\.?)\s*", re.I)
_UNIT_POWER = re.compile(r"(?:\^\{?\d\}?|[²³])$")
_UNIT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./ ")
_VAR_EQ = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*(?:=|\\approx|≈)\s*(?=\S)")


# Units of one or two letters are told apart from variables ("5 m" vs "2x") by a list;
# longer words ("units", "apples", "meters") are always taken as a unit.
_SHORT_UNITS = frozenset(
    "m g s l h k K L V W N J A cm mm km dm nm kg mg ml mL cl dl ft in yd mi lb oz hr hrs min ms "
    "kW kV mA Hz Pa kPa kJ mph kph sq pt qt gal".split()
)


_ALPHA_RUN = re.compile(r"[A-Za-z]+")
_SPACED_THOUSANDS = re.compile(r"\d{1,3}(?: \d{3})+")
_THOUSANDS_SPACE = re.compile(r"(?<=\d)\s+(?=\d{3}\b)")

# words that continue a sentence rather than name a unit: "5 and up", "5 or more"
_NOT_UNITS = frozenset("and or nor not but if than then plus minus over maybe".split())


def _is_unit(tail: str) -> bool:
    words = _ALPHA_RUN.findall(tail)
    if not words or any(w.lower() in _NOT_UNITS for w in words):
        return False
    first = words[0]
    return len(first) >= 3 or first in _SHORT_UNITS


def _dec_places(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def _pow10(exp: str) -> Fraction | None:
    e = int(exp)
    if abs(e) > _MAX_EXPONENT:
        return None
    return Fraction(10) ** e


def _to_fraction(text: str) -> Number | None:
    """Exact value of one plain numeric token (no units), or None."""
    m = _PLAIN.fullmatch(text)
    if m:
        sign, digits, exp = m.groups()
        value = Fraction(digits)
        if exp is not None:
            p = _pow10(exp)
            if p is None:
                return None
            value *= p
        return Number(-value if sign == "-" else value, decimals=_dec_places(digits))
    m = _SCI.fullmatch(text)
    if m:
        p = _pow10(m.group(2))
        if p is None:
            return None
        return Number(Fraction(m.group(1)) * p, exact_decimal=False)
    m = _POW10.fullmatch(text)
    if m:
        p = _pow10(m.group(2))
        return None if p is None else Number(-p if m.group(1) == "-" else p, exact_decimal=False)
    m = _SLASH.fullmatch(text)
    if m and Fraction(m.group(3)) != 0:
        value = Fraction(m.group(2)) / Fraction(m.group(3))
        return Number(-value if m.group(1) == "-" else value, exact_decimal=False)
    m = _FRAC.fullmatch(text)
    if m:
        num = Fraction(m.group(2) or m.group(3))
        den = Fraction(m.group(4) or m.group(5))
        if den == 0:
            return None
        value = num / den
        return Number(-value if m.group(1) == "-" else value, exact_decimal=False)
    return None


def _split_unit_tail(t: str) -> tuple[str, str] | None:
    """`12 cm^2` -> ("12", "cm^2"): a scan from the end, not a regex (a backtracking pattern
    here went exponential on letter-heavy answers)."""
    core = t
    m = _UNIT_POWER.search(core)
    if m:
        core = core[: m.start()].rstrip()
    i = len(core)
    while i > 0 and core[i - 1] in _UNIT_CHARS:
        i -= 1
    head, tail = core[:i].rstrip(), core[i:].strip()
    if not head or not tail or not tail[0].isalpha() or head[-1] not in "0123456789}.%":
        return None
    return head, tail


def parse_number(s: str, unit: str | None = None) -> Number | None:
    """A single number written the usual ways (`1,000`, `25%`, `\\frac{1}{2}`, `1.5e3`,
    `5 cm`, `40°`, `x = 3`, `$12`), exactly; None when it is not just one number."""
    t = strip_wrappers(unicodedata.normalize("NFKC", s))
    if len(t) > 200:
        return None
    t = latex_light(t)
    t = strip_wrappers(t)
    t = _VAR_EQ.sub("", t)
    if unit:
        u = re.escape(unit.strip())
        t = re.sub(rf"\s*(?:\\text\{{\s*)?{u}\}}?\s*$", "", t, flags=re.I)
    t = _DEGREE.sub("", t).strip()
    percent = False
    if t.endswith("\\%") or t.endswith("%"):
        percent = True
        t = t[:-2] if t.endswith("\\%") else t[:-1]
        t = t.strip()
    t = _CURRENCY.sub("", t)
    t = t.replace("{,}", ",").replace("−", "-").strip()
    if _THOUSANDS.fullmatch(t):
        t = t.replace(",", "")
    t = _THOUSANDS_SPACE.sub("", t) if _SPACED_THOUSANDS.fullmatch(t) else t
    n = _to_fraction(t)
    if n is None and not percent:
        split = _split_unit_tail(t)
        if split is not None:
            head, tail = split
            if head.endswith("%") or head.endswith("\\%"):
                percent = True
                head = head.rstrip("%").rstrip("\\").strip()
            if _THOUSANDS.fullmatch(head):
                head = head.replace(",", "")
            n = _to_fraction(head) if _is_unit(tail) else None
    if n is None:
        return None
    return Number(n.value, percent, n.exact_decimal, n.decimals)


# ---------------------------------------------------------------- option letters

_LETTER_ONLY = re.compile(r"\(?\s*([A-Za-z])\s*\)?\s*[.:)]?")
_LETTER_PREFIX = re.compile(
    r"(?:(?:option|choice|answer)\s*:?\s*)?(?:\(\s*([A-Za-z])\s*\)|([A-Z])\s*[.:)\]])\s*(.+)", re.I
)
_LETTER_SPACE = re.compile(r"([A-Z])\s+(.+)")
_LETTER_WORD = re.compile(r"(?:option|choice)\s*\(?\s*([A-Za-z])\s*\)?", re.I)


@dataclass(frozen=True)
class LetterForm:
    letter: str  # upper case
    rest: str | None  # option text written after the letter, if any
    loose: bool = False  # "B text" with only a space: trust it only when the text agrees


def parse_letter(s: str) -> LetterForm | None:
    """`B`, `(B)`, `B.`, `B)`, `**B**`, `\\boxed{B}`, `B: text`, `(B) text`, `Option B`."""
    t = strip_wrappers(s)
    if len(t) > 500:
        return None
    m = _LETTER_ONLY.fullmatch(t) or _LETTER_WORD.fullmatch(t)
    if m:
        return LetterForm(m.group(1).upper(), None)
    m = _LETTER_PREFIX.fullmatch(t)
    if m:
        return LetterForm((m.group(1) or m.group(2)).upper(), m.group(3).strip())
    m = _LETTER_SPACE.fullmatch(t)
    if m:
        return LetterForm(m.group(1), m.group(2).strip(), loose=True)
    return None


_PAREN_LETTER = re.compile(r"\(\s*([A-Z])\s*\)")
_LETTER_ITEM = r"(?:\(\s*[A-Za-z]\s*\)|[A-Za-z])"
_LETTER_SEQ = re.compile(
    rf"{_LETTER_ITEM}(?:\s*(?:,|;|&|/|\band\b|\bor\b)\s*(?:(?:and|or)\s+)?{_LETTER_ITEM})+\.?",
    re.I,
)


_LONE_LETTER = re.compile(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])")


def names_several_letters(s: str) -> bool:
    """`(A),(B),(C)`, `(A), (B), and (E)`, `A, C`, `A and B`: several options named at once,
    which is never one answer. A single letter followed by text (`(A) 5, 6`) is not this."""
    t = strip_wrappers(s)
    if len(t) > 500:
        return False
    if len({x.upper() for x in _PAREN_LETTER.findall(t)}) > 1:
        return True
    if _LETTER_SEQ.fullmatch(t):
        letters = {x.upper() for x in _LONE_LETTER.findall(t)}
        return len(letters) > 1
    return False


# ---------------------------------------------------------------- lists


def split_top_level(s: str, seps: str = ",;") -> list[str]:
    """Split on separators outside (), [], {}; `1,000` stays one number."""
    t = s.strip()
    if _THOUSANDS.fullmatch(t):
        return [t]
    parts, depth, cur = [], 0, []
    i = 0
    while i < len(t):
        c = t[i]
        if c == "\\" and i + 1 < len(t) and t[i + 1] in "{}":
            cur.append(t[i : i + 2])
            depth += 1 if t[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c in seps and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def strip_assignment(s: str) -> str:
    """`x = 2` → `2`; `n=2,3,4` → `2,3,4` (an answer's variable name is not the answer);
    `x=1, y=2` stays: there the names say which value is which."""
    t = strip_wrappers(s)
    m = _VAR_EQ.match(t)
    if m and "=" not in t[m.end() :]:
        return t[m.end() :]
    return t


def assigned_variable(s: str) -> str | None:
    """The variable a lone assignment names (`x = 2` → `x`), else None."""
    m = _VAR_EQ.match(strip_wrappers(s))
    if not m or "=" in s[m.end() :]:
        return None
    return m.group(0).split("=")[0].split("\\approx")[0].split("≈")[0].strip()


# ---------------------------------------------------------------- complexity guard

# a power whose exponent is itself a power of a number: 9^{9^{9}}, 10**10**10, 10^{-10^{10}}
_NESTED_POW = re.compile(r"(\^|\*\*)\s*\{?\s*\(?\s*[+-]?\s*\d+\s*\}?\s*\)?\s*(\^|\*\*)")
_LONG_DIGITS = re.compile(r"\d{60,}")
_LONG_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{24,}")
_BIG_FACT = re.compile(r"\d{3,}\s*!")
_BIG_POW = re.compile(r"(\^|\*\*)\s*\{?\s*\(?\s*(\d{4,})")


def _power_depth(s: str) -> int:
    """How deeply exponents nest: x^2 -> 1, e^{x^2} -> 2, e^{e^{e^{x}}} -> 3."""
    stack: list[bool] = []  # per open brace: is it an exponent group?
    depth = best = 0
    after_caret = False
    for c in s:
        if c == "{":
            stack.append(after_caret)
            depth += after_caret
        elif c == "}":
            if stack and stack.pop():
                depth -= 1
        elif c == "^":
            best = max(best, depth + 1)
        if c != " ":
            after_caret = c == "^"
    return best


def too_complex(s: str) -> str | None:
    """Why this string must not reach sympy (it could hang or eat memory), or None."""
    if len(s) > 600:
        return "too long for symbolic comparison"
    if _LONG_WORD.search(s):
        # sympy reads "aaaa…" as a product of symbols, ~1 ms per letter, and it is prose anyway
        return "prose, not an expression"
    depth = max_depth = 0
    for c in s:
        if c in "{([":
            depth += 1
            max_depth = max(max_depth, depth)
        elif c in "})]":
            depth -= 1
    if max_depth > 12:
        return "nesting too deep"
    if s.count("\\frac") > 12 or s.count("^") + s.count("**") > 12:
        return "too many fractions/powers"
    return too_large_value(s)


# a factorial of a factorial: (5!)!, ((9!)!)! ("3!!" is a double factorial, left alone)
_NESTED_FACT = re.compile(r"!\s*[)}\]]+\s*!")


def too_large_value(s: str) -> str | None:
    """Why `s` may denote a number too large to compute (a power tower, a power of a power, a
    huge power or factorial, a factorial of a factorial), or None. Cheap and linear: used
    before every symbolic comparison, mathruler's included."""
    if len(s) > 20_000:
        return "too long for symbolic comparison"
    s = _WS.sub("", s)
    if _NESTED_POW.search(s):
        return "power tower"
    pow_depth = _power_depth(s)
    if pow_depth >= 3 or (pow_depth == 2 and re.search(r"\d{3}", s)):
        return "power tower"
    if _BIG_POW.search(s) or _LONG_DIGITS.search(s) or _BIG_FACT.search(s):
        return "number too large"
    if _NESTED_FACT.search(s):
        return "factorial of a factorial"
    return None
