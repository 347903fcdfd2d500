"""Reading what a student wrote: class names, numbers, sentences, own words.

Shared by the checks that read markdown (predictions, report) and the ones that
read titles and printed lines (grid, counts). Class names are matched the way a
person reads them: any case, plurals, and the common synonyms (car, plane, lorry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

#: Other words students use for CIFAR-10's classes, by the dataset's label name.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "airplane": ("aeroplane", "plane", "aircraft", "airliner", "jet"),
    "automobile": ("car",),
    "bird": (),
    "cat": ("kitten", "kitty"),
    "deer": (),
    "dog": ("puppy", "puppies"),
    "frog": ("toad",),
    "horse": ("pony", "ponies"),
    "ship": ("boat",),
    "truck": ("lorry", "lorries"),
}

#: What nbgrader leaves in an answer cell the student never touched.
ANSWER_STUB = "YOUR ANSWER HERE"

_BLANK = re.compile(r"_{2,}|\\_(?:\\_)+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_NUMBER = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:[,\u00a0\u202f ]\d{3}(?!\d))+|\d+)(?![\d%]|\.\d|,\d)"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_MARKDOWN = re.compile(r"^\s*(?:[-*+>]|\d+[.)]|#+)\s+|\*\*|__(?=\w)|(?<=\w)__|`")

#: Glue words, which say nothing of the student's own.
_GLUE = "a an the it its it's is are was be and or of to in i my this that"
GLUE_WORDS = frozenset(_GLUE.split())


@dataclass(frozen=True)
class Mention:
    """A class named in a text: its label index and where the name sits."""

    label: int
    start: int
    end: int


@dataclass(frozen=True)
class Number:
    value: int
    start: int
    end: int


@cache
def _class_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = []
    for label, name in enumerate(names):
        words = (name, *SYNONYMS.get(name.lower(), ()))
        spelled = "|".join(re.escape(word) for word in words)
        alternatives.append(f"(?P<c{label}>(?:{spelled})(?:e?s)?)")
    return re.compile(
        r"(?<![A-Za-z])(?:" + "|".join(alternatives) + r")(?![A-Za-z])",
        re.IGNORECASE,
    )


def class_mentions(text: str, label_names: list[str]) -> list[Mention]:
    """Every class named in `text`, in order of appearance."""
    mentions = []
    for match in _class_pattern(tuple(label_names)).finditer(text):
        group = match.lastgroup or ""
        mentions.append(Mention(int(group[1:]), match.start(), match.end()))
    return mentions


def class_in_title(title: str, label_names: list[str]) -> int | None:
    """The one class a title names, or None when it names none or several."""
    labels = {mention.label for mention in class_mentions(title, label_names)}
    return labels.pop() if len(labels) == 1 else None


def numbers_in(text: str) -> list[Number]:
    """Whole numbers as people write them (5000, 5,000, 5 000); no decimals or %."""
    found = []
    for match in _NUMBER.finditer(text):
        digits = re.sub(r"\D", "", match.group(1))
        found.append(Number(int(digits), match.start(1), match.end(1)))
    return found


def has_blank(text: str) -> bool:
    """Whether a template blank (underscores) is still in `text`."""
    return bool(_BLANK.search(text))


def is_untouched(text: str) -> bool:
    """Whether an answer cell still holds only nbgrader's stub, or nothing."""
    return not text.replace(ANSWER_STUB, "").strip()


def sentences(text: str) -> list[str]:
    """The text's lines, split further at sentence ends, without markdown marks."""
    pieces = []
    for line in text.replace(ANSWER_STUB, "").splitlines():
        for piece in _SENTENCE_END.split(line):
            cleaned = _MARKDOWN.sub("", piece).strip()
            if cleaned:
                pieces.append(cleaned)
    return pieces


def own_words(text: str, label_names: list[str], template: str = "") -> list[str]:
    """The student's own words in `text`: not class names, glue or the template's."""
    ignored = GLUE_WORDS | {word.lower() for word in _WORD.findall(template)}
    without_classes = _class_pattern(tuple(label_names)).sub(" ", text)
    return [
        word
        for word in _WORD.findall(without_classes)
        if len(word) > 1 and word.lower() not in ignored
    ]


def without_template(text: str, template: str) -> str:
    """`text` with the template's fixed wording (between the blanks) taken out."""
    fragments = {
        _MARKDOWN.sub("", fragment).strip(" ,.:;")
        for line in template.splitlines()
        for fragment in _BLANK.split(line)
    }
    for fragment in sorted(fragments, key=len, reverse=True):
        if len(fragment) >= 4:
            pattern = r"(?<!\w)" + re.escape(fragment) + r"(?!\w)"
            text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return text


def shorten(text: str, limit: int = 160) -> str:
    """`text` on one line, cut to `limit` characters for a message or a quote."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def name_list(labels: list[int], label_names: list[str]) -> str:
    """Class names for a message: `cat, dog and frog`."""
    names = [label_names[label] for label in sorted(set(labels))]
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
