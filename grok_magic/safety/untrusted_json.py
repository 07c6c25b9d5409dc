"""JSON from a model or a server, parsed so that its shape cannot hurt: nesting deeper than
MAX_DEPTH is refused like any malformed JSON (a `ValueError`), never a RecursionError that escapes
as a traceback, and never a value so deep that showing it indented (one line per level, each
indented by its depth) costs bytes quadratic in its size.

>>> loads('{"a": [1, {"b": null}]}')
{'a': [1, {'b': None}]}
>>> loads("[" * 5000 + "]" * 5000)
Traceback (most recent call last):
...
grok_magic.safety.untrusted_json.TooDeepError: JSON nested deeper than 64 levels
"""

from __future__ import annotations

import json

MAX_DEPTH = 64  # levels of arrays and objects; real answers and API bodies use a handful


class TooDeepError(ValueError):
    """JSON nested deeper than MAX_DEPTH (a ValueError, as json.loads raises for bad JSON)."""


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> object:
    """`json.loads(text)`, refusing (TooDeepError) a value nested deeper than `max_depth`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeepError(f"JSON nested deeper than {max_depth} levels") from None
    if depth_over(value, max_depth):
        raise TooDeepError(f"JSON nested deeper than {max_depth} levels")
    return value


def depth_over(value: object, max_depth: int = MAX_DEPTH) -> bool:
    """Whether `value` (parsed JSON) nests lists and dicts deeper than `max_depth`; a walk of
    its containers with a stack of our own (no recursion), stopping at the first too deep."""
    stack = [(value, 1)] if isinstance(value, list | dict) else []
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, list | dict))
    return False
