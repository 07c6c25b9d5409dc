"""Front: `%grok What is a p-value?` is a question, not IPython's `name?` help request.

IPython reads a line ending in `?` as help (`value?`) before any magic sees it; its cleanup
transformers (`shell.input_transformers_cleanup`) run before that check, so
`ask_questions_with_question_marks` rewrites such a `%grok` line into the call IPython itself
makes for a `%grok` line, its text intact. `%grok?`, `%grok ?` and `%%grok?` stay help.
"""

from __future__ import annotations

PREFIXES = ("%grok ", "%grok\t")


def question_of(line: str) -> str | None:
    """The text of a top-level `%grok TEXT?` line (its `?` kept), else None.

    >>> question_of("%grok What is a p-value?\\n"), question_of("%grok?"), question_of("%grok ??")
    ('What is a p-value?', None, None)
    """
    if not line.startswith(PREFIXES):
        return None
    text = line[len(PREFIXES[0]):].strip()
    asked = text.rstrip("?").strip()
    if not text.endswith("?") or not asked or all(w.startswith("-") for w in asked.split()):
        return None  # no ? (nothing for IPython to misread), or nothing but a ? or options
    return text


def ask_questions_with_question_marks(lines: list[str]) -> list[str]:
    """IPython cleanup transformer: each `%grok TEXT?` line that starts a statement of the cell
    becomes `get_ipython().run_line_magic('grok', 'TEXT?')`; every other line, and every cell
    that is a cell magic (`%%grok` with a body is never help-parsed), is left as it was."""
    if not lines or lines[0].startswith("%%"):
        return lines
    questions = {i: text for i, line in enumerate(lines)
                 if (text := question_of(line)) is not None}
    if not questions:
        return lines
    starts = statement_starts([("pass\n" if i in questions else line)
                               for i, line in enumerate(lines)])
    new = list(lines)
    for i, text in questions.items():
        if i in starts:
            end = "\r\n" if lines[i].endswith("\r\n") else "\n"
            new[i] = f"get_ipython().run_line_magic('grok', {text!r}){end}"
    return new


def statement_starts(lines: list[str]) -> set[int]:
    """Indices of the lines on which a statement begins at column 0 (not inside a string or
    brackets), as IPython's own token transformers see them."""
    from IPython.core.inputtransformer2 import make_tokens_by_line

    starts = set()
    for tokens in make_tokens_by_line(lines):
        if tokens and tokens[0].start[1] == 0:
            starts.add(tokens[0].start[0] - 1)
    return starts


def register(shell) -> None:
    """Add the transformer (once) to `shell`."""
    transformers = shell.input_transformers_cleanup
    if ask_questions_with_question_marks not in transformers:
        transformers.append(ask_questions_with_question_marks)


def unregister(shell) -> None:
    transformers = shell.input_transformers_cleanup
    while ask_questions_with_question_marks in transformers:
        transformers.remove(ask_questions_with_question_marks)
