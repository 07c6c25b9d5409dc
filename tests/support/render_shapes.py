"""Answers of a given size in the shapes that stress a Markdown renderer and a streaming view:
the everyday ones (prose, code, lists, tables) and adversarial ones (unclosed math and brackets,
delimiter runs, deep nesting), for the linearity tests and the render and traffic benches."""

from __future__ import annotations

import random

SENTENCES = (
    "The model reads the whole notebook before it answers, so earlier cells count as context.",
    "A **short** example helps: call `fit()` on the training split and keep the test split aside.",
    "Cross-validation gives a fairer estimate than one split, at about five times the cost.",
    "See the [scikit-learn guide](https://scikit-learn.org/stable/) for the details of each step.",
    "The error is about $\\pm 0.3$ here, which is small next to the spread between the groups.",
    "If the loss stops falling, lower the learning rate, or check that the labels are shuffled.",
    "Missing values are dropped first; *imputing* them instead changes the mean only a little.",
    "Each run takes roughly 40 seconds on a laptop, most of it spent loading the images.",
)
CODE_LINES = (
    "def normalise(values: list[float]) -> list[float]:",
    '    """Scale values into [0, 1]; a constant list maps to zeros."""',
    "    low, high = min(values), max(values)",
    "    if high == low:",
    "        return [0.0 for _ in values]",
    "    return [(v - low) / (high - low) for v in values]",
    "",
    "for name, group in frame.groupby('team'):  # one line per team",
    "    print(f\"{name}: {group['score'].mean():.2f}\")",
    "",
)


def sentence(i: int) -> str:
    return SENTENCES[i % len(SENTENCES)].replace("model", f"model {i}", 1)


def fill(make, size: int) -> str:
    """Pieces made by `make(i)` joined until about `size` characters (whole pieces, so that
    every size ends alike: a cut piece can close what the others leave open)."""
    pieces, count, i = [], 0, 0
    while count < size:
        piece = make(i)
        pieces.append(piece)
        count += len(piece)
        i += 1
    return "".join(pieces)


def paragraphs(size: int) -> str:
    return fill(lambda i: sentence(i) + ("\n\n" if i % 5 == 4 else " "), size)


def one_paragraph(size: int) -> str:
    return fill(lambda i: sentence(i) + " ", size)


def code_block(size: int) -> str:
    body = fill(lambda i: CODE_LINES[i % len(CODE_LINES)] + "\n", max(0, size - 14))
    return "```python\n" + body + "\n```\n"


def unclosed_paren(size: int) -> str:
    return "\\(a " * (size // 4)


def unclosed_dollar(size: int) -> str:
    """Paragraphs that each open `$$` display math and never close it."""
    return fill(lambda i: f"$$ {sentence(i).replace('$', '')}\n\n", size)


def nested(size: int) -> str:
    """Lists nested four deep, with quotes nested three deep between them."""
    def line(i: int) -> str:
        if i % 12 < 8:
            return "  " * (i % 4) + f"- item {i}: {sentence(i)[:50]}\n"
        return "> " * (i % 3 + 1) + f"{sentence(i)[:60]}\n"
    return fill(line, size)


def table(size: int, aligned: bool = False) -> str:
    delimiter = "|---:|---|---|---|---:|---|" if aligned else "|---|---|---|---|---|---|"
    head = f"| id | name | team | started | score | note |\n{delimiter}\n"
    return head + fill(lambda i: f"| {i} | Person number {i} | Engineering | 2019-04-"
                                 f"{i % 28 + 1:02d} | {i * 1.5:.1f} | on time |\n",
                       max(0, size - len(head)))


def aligned_table(size: int) -> str:
    """A table with two right-aligned columns: each of their cells gets a style attribute."""
    return table(size, aligned=True)


SHAPES = {
    "paragraphs": paragraphs,
    "one paragraph": one_paragraph,
    "one code block": code_block,
    "unclosed \\(": unclosed_paren,
    "unclosed $$": unclosed_dollar,
    "nested lists and quotes": nested,
    "long table": table,
}


def repeat(unit: str, size: int, prefix: str = "") -> str:
    """`unit` repeated to about `size` characters (whole units, so every size ends alike)."""
    return prefix + unit * max(1, size // max(1, len(unit)))


# Adversarial: every shape here once took, or could take, time quadratic in its length in some
# Markdown or math rule (an opening delimiter scanning to the end for its closing one).
ADVERSARIAL = {
    "\\( unclosed": "\\(a ",
    "\\( closed": "\\(x\\) ",
    "\\[ blocks unclosed": "\\[a\n\n",
    "\\[ lines": "\\[a\n",
    "$ pairs": "$a ",
    "$$ blocks unclosed": "$$a\n\n",
    "$$ in list items": "- $$a\n",
    "$$ inline unclosed": "$$a $b ",
    "$ escaped": "\\$a ",
    "math mixed": "\\(a $b ",
    "brackets": "[a ",
    "link openers": "[a](",
    "image openers": "![",
    "angle brackets": "<a ",
    "emphasis": "*a _b ",
    "strong and strike": "**a __b ~~c ",
    "backticks": "`a ``b ",
    "entities": "&a",
    "reference definitions": "[a]: ",
    "autolinks": "https://example.com/a ",
    "linkify dots": "a.",
    "emails": "a@",
    "html comments": "<!--",
    "backslashes": "\\",
    "heading hashes": "#",
    "setext": "a\n=\n",
    "table cells": "|a",
    "table rows": "| 1 | 2 |\n",
    "nested quotes": "> > > > > > > > > > > > > > > > > > > > > > > > a\n",
    "nested lists": "- - - - - - - - - - - - - - - - - - - - - - - - - a\n",
    "fences": "```\n",
    "tex commands": "$\\alpha \\href{x} ",
    "begin environments": "\\begin{",
}


def adversarial(name: str, size: int) -> str:
    return repeat(ADVERSARIAL[name], size)


PIECES = ("$", "$$", "\\(", "\\)", "\\[", "\\]", "\\", "a", " ", "\n", "\n\n", "> ", "- ", "1. ",
          "* ", "|", "|-|", "---", "`", "```", "~~~", "*", "**", "_", "~~", "[", "]", "](", ")",
          "(", "![", "<", ">", "&", "#", "http://", "www.", "a.b", "@", ":", "    ", "\t", "=",
          "\\\n", "{", "}", "\\begin{", "x", "1", "\u00a0", "'", '"')


def random_units(count: int, seed: int = 19) -> list[tuple[str, str]]:
    """`count` random (prefix, unit) pairs of Markdown-significant pieces, to repeat."""
    rng = random.Random(seed)
    pick = lambda n: "".join(rng.choice(PIECES) for _ in range(n))  # noqa: E731
    return [(pick(rng.randint(0, 3)), pick(rng.randint(1, 6))) for _ in range(count)]
