"""The text a `{name}` sends for a value: bounded, and always saying what was cut.

A DataFrame is sent the way an analyst would show it (shape, dtypes, a head/tail sample as a
Markdown table), a numpy array as shape, dtype, min/mean/max and a slice, long strings and
containers as a prefix with a note of how much more there was. Every description fits in
`max_chars`, counted over the whole result.

Nothing here is O(rows): a DataFrame is read through `len`, `dtypes` and `iloc` on a few rows
only, so a 1,000,000-row frame describes in a few milliseconds (bench/describe.py). pandas and
numpy are never imported here; a value is recognised only if its library is already loaded.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Iterable, Iterator

DEFAULT_MAX_CHARS = 4000
# min/mean/max read every element; above this size they are skipped (with a note).
MAX_STATS_ELEMENTS = 50_000_000
# Arrays of up to this many elements are shown whole when the budget allows.
ARRAY_WHOLE_ELEMENTS = 100
ARRAY_LINE_WIDTH = 100
# The largest sample fetched from a DataFrame or Series; smaller ones are cut from it.
SAMPLE_ROWS = (5, 3, 2, 1)  # head rows (and as many tail rows)
SAMPLE_COLUMNS = (20, 10, 6, 3, 1)
CELL_WIDTHS = (32, 12)
LABEL_WIDTH = 40
# Containers nested deeper than this are shown as a count of their items.
MAX_DEPTH = 5
MAX_ITEM_CHARS = 200

_LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def describe_value(value: object, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The text sent for `value`, at most `max_chars` characters, with a note of anything cut.

    Short text is sent as it is; longer text, containers, DataFrames, Series and arrays are cut
    to the budget (see the module docstring).

    >>> describe_value("short text")
    'short text'
    >>> describe_value("x" * 10_000, max_chars=40)
    'xxxxxxxxxxxxxxxx… 9,984 more characters'
    >>> describe_value(list(range(1000)), max_chars=40)
    '[0, 1, 2, 3, 4, 5, 6, … 993 more items]'
    >>> describe_value({"a": 1, "b": [1, 2]})
    "{'a': 1, 'b': [1, 2]}"
    """
    if not isinstance(max_chars, int) or max_chars < 0:
        raise ValueError(f"max_chars must be a whole number >= 0, not {max_chars!r}")
    return fit_text(_describe(value, max_chars), max_chars)


def fit_text(text: str, max_chars: int, unit: str = "character") -> str:
    """`text`, or as much of it as fits in `max_chars` with "… N more characters" after it.

    >>> fit_text("abcdefghijklmnopqrstuvwxyz" * 2, 30)
    'abcdefghij… 42 more characters'
    """
    if len(text) <= max_chars:
        return text
    keep = max_chars - len(_more(len(text), unit))
    if keep <= 0:  # no room for a note: the ellipsis is all that can say it
        return _cut(text, max_chars)
    return text[:keep] + _more(len(text) - keep, unit)


def _describe(value: object, budget: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return _describe_bytes(value, budget)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame | pandas.Series):
        return _describe_table(value, budget, pandas)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        return _describe_array(value, budget, numpy)
    if _is_container(value):
        return _container(value, budget, 0)
    return _safe_str(value)


# --- text, bytes and containers --------------------------------------------------------------


def _more(count: int, unit: str) -> str:
    return f"… {count:,} more {unit}{'' if count == 1 else 's'}"


def _cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last of them an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if limit > 0 else ""


def _count(count: int, unit: str) -> str:
    return f"{count:,} {unit}{'' if count == 1 else 's'}"


def _safe_str(value: object) -> str:
    """str(value); repr(value) if that raises; `<TypeName>` if both do."""
    for show in (str, repr):
        try:
            text = show(value)
        except Exception:  # noqa: BLE001 - a value's own __str__ must not break the cell
            continue
        if isinstance(text, str):
            return text
    return f"<{type(value).__name__}>"


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value's own __repr__ must not break the cell
        return f"<{type(value).__name__}>"
    return text if isinstance(text, str) else f"<{type(value).__name__}>"


def _describe_bytes(value: bytes | bytearray, budget: int) -> str:
    shown = repr(bytes(value[:budget]))
    if len(value) <= budget and len(shown) <= budget:
        return shown
    note = f"… {len(value):,} bytes in all"
    return _cut(shown, budget - len(note)) + note if budget > len(note) else _cut(shown, budget)


def _is_container(value: object) -> bool:
    # A namedtuple prints its field names: it is sent as str() (they are small by nature).
    return isinstance(value, list | tuple | set | frozenset | dict) and not hasattr(value, "_fields")


def _container(value, budget: int, depth: int) -> str:
    """A repr-like text of a list, tuple, set or dict within `budget`, items bounded too."""
    if isinstance(value, dict):
        opener, closer = "{", "}"
    elif isinstance(value, list):
        opener, closer = "[", "]"
    elif isinstance(value, tuple):
        opener, closer = "(", ",)" if len(value) == 1 else ")"
    elif isinstance(value, frozenset):
        opener, closer = "frozenset({", "})"
    else:
        opener, closer = "{", "}"
    if not value:
        return _cut(_safe_repr(value), budget)
    if depth >= MAX_DEPTH:
        return _cut(f"{opener}… {_count(len(value), 'item')}{closer.lstrip(',')}", budget)
    # Each level down gets half the room: a nested value costs at most a few of its items' texts.
    limit = max(8, min(MAX_ITEM_CHARS, budget // 2))
    if isinstance(value, dict):
        pieces: Iterator[str] = (f"{_short(k, limit, depth)}: {_short(v, limit, depth)}"
                                 for k, v in value.items())
    else:
        pieces = (_short(item, limit, depth) for item in value)
    return _fill(pieces, len(value), budget, opener, closer, "item")


def _fill(pieces: Iterable[str], count: int, budget: int, opener: str = "", closer: str = "",
          unit: str = "item") -> str:
    """opener + as many of `pieces` as fit, ", "-joined, then "… N more items" + closer.

    Pieces are taken lazily: those past the budget are never formatted.

    >>> _fill(("abc", "def", "ghi"), 3, 21, "[", "]")
    '[abc, … 2 more items]'
    """
    kept: list[str] = []
    used = len(opener) + len(closer)
    for piece in pieces:
        left = count - len(kept) - 1
        reserve = len(_more(left, unit)) + 2 if left > 0 else 0
        if used + (2 if kept else 0) + len(piece) + reserve > budget:
            kept.append(_more(count - len(kept), unit))
            break
        used += (2 if kept else 0) + len(piece)
        kept.append(piece)
    return opener + ", ".join(kept) + closer


def _short(value: object, limit: int, depth: int) -> str:
    """A repr of `value` of at most `limit` characters, never building a much longer one."""
    if isinstance(value, str | bytes | bytearray):
        piece = value[:limit]
        text = repr(piece)
        return text if len(piece) == len(value) and len(text) <= limit else _cut(text, limit)
    if _is_container(value):
        return _container(value, limit, depth + 1)
    if isinstance(value, int) and value.bit_length() > 4 * limit:  # too many digits to show
        return _cut(f"<int of {value.bit_length():,} bits>", limit)
    brief = _brief(value)
    return _cut(brief if brief is not None else _safe_repr(value), limit)


def _brief(value: object) -> str | None:
    """A one-line label for a DataFrame, Series or array inside a container; else None."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        rows, columns = value.shape
        return f"<DataFrame: {_count(rows, 'row')} × {_count(columns, 'column')}>"
    if pandas is not None and isinstance(value, pandas.Series):
        return f"<Series {_one_line(_label(value.name))}: {_count(len(value), 'row')}, dtype {value.dtype}>"
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        return f"<array: shape {tuple(value.shape)}, dtype {value.dtype}>"
    return None


# --- numpy arrays ------------------------------------------------------------------------


def _describe_array(array, budget: int, numpy) -> str:
    kind = "array" if type(array) is numpy.ndarray else type(array).__name__
    lines = [f"numpy {kind}: shape {tuple(array.shape)}, dtype {array.dtype}"
             + (f", {_count(array.size, 'element')}" if array.ndim > 1 else "")]
    stats = _array_stats(array, numpy)
    if stats:
        lines.append(stats)
    head = "\n".join(lines)
    shown = _array_slice(array, budget - len(head) - 1, numpy)
    return head + "\n" + shown if shown else head


def _array_stats(array, numpy) -> str:
    """"min …, mean …, max …" (NaN ignored, and counted), or why there are none."""
    if array.dtype.kind not in "biuf" or array.size == 0:
        return ""
    if array.size > MAX_STATS_ELEMENTS:
        return f"min/mean/max skipped: more than {MAX_STATS_ELEMENTS:,} elements"
    nans = 0
    with warnings.catch_warnings(), numpy.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        low = array.min()
        if array.dtype.kind == "f" and math.isnan(low):  # min() is NaN only if a NaN is present
            valid = array[~numpy.isnan(array)]
            nans = array.size - valid.size
            if not valid.size:
                return f"all {_count(nans, 'value')} are NaN"
            array, low = valid, valid.min()
        high, mean = array.max(), array.mean(dtype=numpy.float64)
    text = f"min {_number(low)}, mean {_number(mean)}, max {_number(high)}"
    return text + (f" ({nans:,} NaN ignored)" if nans else "")


def _number(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _array_slice(array, budget: int, numpy) -> str:
    """array2string of the array's edges, as many as fit, and a note of the elements left out."""
    view, label = array, ""
    if array.ndim > 3:  # every axis would show its edges: show the last two axes' only
        view = array[(0,) * (array.ndim - 2)]
        label = f"slice [{', '.join(['0'] * (array.ndim - 2))}, :, :]:\n"
    edges = (10, 5, 3, 1) if view.ndim == 1 else (3, 2, 1)
    options = [(ARRAY_WHOLE_ELEMENTS, edges[0])] + [(0, edge) for edge in edges]
    for threshold, edge in options:
        try:
            text = numpy.array2string(view, threshold=threshold, edgeitems=edge, precision=6,
                                      max_line_width=ARRAY_LINE_WIDTH)
        except Exception:  # noqa: BLE001 - an element's own __repr__ (object arrays)
            return _cut("(elements not shown: they could not be printed)", budget)
        shown = view.size
        if view.size > threshold:
            shown = math.prod(min(side, 2 * edge) for side in view.shape)
        hidden = array.size - shown
        text = label + text + ("\n" + _more(hidden, "element") if hidden else "")
        if len(text) <= budget:
            return text
    return _cut(_more(array.size, "element"), budget) if array.size else ""


# --- pandas DataFrames and Series ----------------------------------------------------------


def _describe_table(obj, budget: int, pandas) -> str:
    """Shape and index, dtypes, and the largest head/tail sample that fits, then what was cut.

    The sample shrinks (rows, columns, cell width) before the dtypes are cut; if the dtypes
    alone would leave no room for a sample, they get half the budget.
    """
    frame = isinstance(obj, pandas.DataFrame)
    rows = len(obj)
    columns = obj.shape[1] if frame else 1
    if frame:
        title = f"DataFrame: {_count(rows, 'row')} × {_count(columns, 'column')}"
    else:
        name = "" if obj.name is None else " " + _one_line(_label(obj.name))
        title = f"Series{name}: {_count(rows, 'row')}, dtype {obj.dtype}"
    index_shown = not _plain_index(obj.index, pandas)
    if index_shown:
        title += ", index: " + _index_label(obj.index, pandas)
    rest = budget - len(title) - 1
    sample = _Sample(obj, frame, index_shown) if rows and columns else None

    def attempt(dtypes_budget: int) -> str | None:
        dtypes = _dtypes_line(obj, columns, dtypes_budget) if frame and columns else ""
        room = rest - (len(dtypes) + 1 if dtypes else 0)
        table = sample.best_table(room) if sample else ""
        if table is None:
            return None
        return "\n".join(part for part in (title, dtypes, table) if part)

    described = attempt(rest) or attempt(rest // 2)
    if described is not None:
        return described
    note = _more(rows, "row")  # not even one row fits: the dtypes take what is left
    dtypes = _dtypes_line(obj, columns, rest - len(note) - 1) if frame and columns else ""
    return "\n".join(part for part in (title, dtypes, note) if part)


def _plain_index(index, pandas) -> bool:
    return (isinstance(index, pandas.RangeIndex) and index.start == 0 and index.step == 1
            and index.name is None)


def _index_label(index, pandas) -> str:
    names = [_one_line(_label(name)) for name in index.names if name is not None]
    kind = type(index).__name__
    if not isinstance(index, pandas.MultiIndex) and kind == "Index":
        kind = f"Index ({index.dtype})"
    return kind + (f" [{', '.join(names)}]" if names else "")


def _label(name: object) -> str:
    """A column or index name, cut short; tuples (MultiIndex columns) joined with " / "."""
    text = " / ".join(map(_safe_str, name)) if isinstance(name, tuple) else _safe_str(name)
    return _cut(text, LABEL_WIDTH)


def _one_line(text: str) -> str:
    return _LINE_BREAK.sub(r"\\n", text)


def _dtypes_line(frame, columns: int, budget: int) -> str:
    pairs = zip(frame.columns, frame.dtypes, strict=True)
    pieces = (f"{_one_line(_label(name))}: {dtype}" for name, dtype in pairs)
    return _fill(pieces, columns, budget, "dtypes: ", "", "column")


def _cell(value: object, width: int) -> str:
    """A sample cell's raw text, at most `width` characters (escaped later)."""
    if isinstance(value, str):
        return _cut(value, width)
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    if value is None or isinstance(value, int | bool):
        return _cut(str(value), width)
    if _is_container(value) or _brief(value) is not None:
        return _short(value, width, 0)
    return _cut(_safe_str(value), width)


def _escape(text: str) -> str:
    """Cell text safe inside a Markdown table row: backslashes and pipes escaped, one line."""
    return _LINE_BREAK.sub(r"\\n", text.replace("\\", "\\\\").replace("|", "\\|"))


class _Sample:
    """The head and tail rows of a DataFrame or Series as text, read once, tabled many ways."""

    def __init__(self, obj, frame: bool, index_shown: bool) -> None:
        self.rows = len(obj)
        self.columns = obj.shape[1] if frame else 1
        take_rows, take_columns = SAMPLE_ROWS[0], min(self.columns, SAMPLE_COLUMNS[0])
        spans = [slice(0, take_rows), slice(self.rows - take_rows, None)]
        if self.rows <= 2 * take_rows:
            spans = [slice(None)]
        blocks = [obj.iloc[span, :take_columns] if frame else obj.iloc[span] for span in spans]
        width = CELL_WIDTHS[0]
        self.index_columns = 0
        self.headers: list[str] = []
        if index_shown:
            names = list(obj.index.names)
            self.index_columns = len(names)
            self.headers += ["" if name is None else _label(name) for name in names]
        if frame:
            self.headers += [_label(name) for name in obj.columns[:take_columns]]
        else:
            self.headers.append("value" if obj.name is None else _label(obj.name))
        self.cells: list[list[str]] = []  # rows of cell texts, head rows then tail rows
        for block in blocks:
            values = []
            if index_shown:
                index = block.index
                values += [index.get_level_values(level).tolist() for level in range(index.nlevels)]
            if frame:
                values += [block.iloc[:, j].tolist() for j in range(block.shape[1])]
            else:
                values.append(block.tolist())
            self.cells += [[_cell(v, width) for v in row] for row in zip(*values, strict=True)]

    def best_table(self, budget: int) -> str | None:
        """The largest sample table (and its note) within `budget`; None if none fits."""
        options = sorted(
            ((min(self.rows, 2 * rows), columns, rows, width)
             for rows in SAMPLE_ROWS for columns in {min(c, self.columns) for c in SAMPLE_COLUMNS}
             for width in CELL_WIDTHS),
            key=lambda o: (-o[0] * o[1], -o[1], -o[3]))
        seen = set()
        for shown, columns, rows, width in options:
            if (shown, columns, width) in seen:
                continue
            seen.add((shown, columns, width))
            table = self.table(rows, columns, width)
            if len(table) <= budget:
                return table
        return None

    def table(self, rows: int, columns: int, width: int) -> str:
        """`rows` head and tail rows, the first `columns` columns, cells cut to `width`."""
        keep = self.index_columns + columns
        more_columns = self.columns - columns
        gap = self.rows > 2 * rows
        body = self.cells[:rows] + [None] + self.cells[-rows:] if gap else self.cells
        headers = self.headers[:keep] + (["…"] if more_columns else [])
        lines = [_row(headers, width), "|" + "---|" * len(headers)]
        for cells in body:
            cells = ["…"] * keep if cells is None else cells[:keep]
            lines.append(_row(cells + (["…"] if more_columns else []), width))
        notes = [_more(self.rows - 2 * rows, "row")] if gap else []
        if more_columns:
            notes.append(_more(more_columns, "column")[2:] if notes else _more(more_columns, "column"))
        if notes:
            lines.append(", ".join(notes))
        return "\n".join(lines)


def _row(cells: list[str], width: int) -> str:
    return "| " + " | ".join(_escape(_cut(cell, width)) for cell in cells) + " |"
