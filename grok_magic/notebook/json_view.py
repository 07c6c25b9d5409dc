"""Front: a `--json` / `--schema` answer shown pretty — indented JSON, and lists of objects as tables.

The values are the model's (untrusted): the tables are our own Markdown with every value escaped
(`display.cell`), the JSON a code block, both through the one safe renderer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from grok_magic.notebook.display import cell
from grok_magic.safety import untrusted_json
from grok_magic.safety.markdown import fence_for, render_html
from grok_magic.safety.redaction import redact

MAX_ROWS = 200  # rows of one table; the rest is said in a line under it (the JSON has them all)
MAX_COLUMNS = 30
MAX_CELL = 200  # characters of one cell (nested values are compact JSON)


def json_answer(text: str) -> tuple[str, str] | None:
    """`text` (a JSON answer, key masked) as (safe HTML, plain text): each list of objects in it
    — the value itself, or the value of one of its keys — as a table, then the whole value
    indented as a JSON code block. None when `text` is not JSON."""
    try:
        value = untrusted_json.loads(text)
    except ValueError:
        return None
    pretty = redact(json.dumps(value, indent=2, ensure_ascii=False))
    parts = [table_markdown(rows, label) for label, rows in object_lists(value)]
    fence = fence_for(pretty)
    parts.append(f"{fence}json\n{pretty}\n{fence}")
    return render_html("\n\n".join(parts)), pretty


def object_lists(value: object) -> Iterator[tuple[str, list[dict]]]:
    """(label, rows) for `value` when it is a list of objects (label ""), else for each of its
    keys whose value is one."""
    if is_object_list(value):
        yield "", value
    elif isinstance(value, dict):
        for key, item in value.items():
            if is_object_list(item):
                yield str(key), item


def is_object_list(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def table_markdown(rows: list[dict], label: str = "") -> str:
    """Rows of objects as a Markdown table of our own: one column per key (in order of first
    appearance), numbers right-aligned, every value escaped; `label` (a key) above it."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    shown_columns = columns[:MAX_COLUMNS]
    numeric = [all(is_number(r.get(c)) for r in rows if r.get(c) is not None) for c in shown_columns]
    lines = [f"**{cell(label)}**", ""] if label else []
    lines.append("| " + " | ".join(cell(c) or " " for c in shown_columns) + " |")
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    for row in rows[:MAX_ROWS]:
        lines.append("| " + " | ".join(cell_text(row.get(c)) for c in shown_columns) + " |")
    more = []
    if len(rows) > MAX_ROWS:
        more.append(f"{len(rows) - MAX_ROWS:,} more rows")
    if len(columns) > MAX_COLUMNS:
        more.append(f"{len(columns) - MAX_COLUMNS:,} more columns")
    if more:
        lines += ["", f"*… {' and '.join(more)}: all of them are in the JSON below.*"]
    return "\n".join(lines)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cell_text(value: object) -> str:
    """One value as an escaped table cell: text as it is, null as nothing, the rest as JSON."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL] + "…"
    return cell(text)
