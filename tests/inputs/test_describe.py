"""Tests for grok_magic.inputs.describe: every kind of value, the budget, the notes of what was cut."""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grok_magic.inputs import describe
from grok_magic.inputs.describe import describe_value, fit_text

ROOT = Path(__file__).resolve().parents[2]
BUDGETS = [0, 1, 2, 5, 10, 20, 40, 80, 120, 200, 300, 500, 1000, 2000, 4000]


def more(text: str, unit: str) -> int:
    """The N of the last "… N more <unit>s" note in `text`."""
    found = re.findall(rf"… ([\d,]+) more {unit}s?\b", text)
    assert found, f"no '… N more {unit}' note in {text!r}"
    return int(found[-1].replace(",", ""))


def mixed_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": np.arange(rows),
        "price": rng.normal(100, 10, rows),
        "name": [f"item {i}" for i in range(rows)],
        "when": pd.date_range("2024-01-01", periods=rows, freq="min"),
        "kind": pd.Categorical(rng.choice(["a", "b", "c"], rows)),
    })


@pytest.fixture(scope="module")
def million():
    return mixed_frame(1_000_000)


# --- strings, bytes and the text budget ------------------------------------------------------


def test_short_text_is_sent_as_it_is():
    assert describe_value("hello {world}\nline two") == "hello {world}\nline two"
    assert describe_value("") == ""


def test_long_text_is_cut_with_a_count_of_what_was_left_out():
    text = "abcdefghij" * 1000
    for budget in (30, 50, 200, 4000, 9999):
        out = describe_value(text, budget)
        assert len(out) <= budget
        head = out.split("… ")[0]
        assert text.startswith(head)
        assert len(head) + more(out, "character") == len(text)
    assert describe_value(text, 10_000) == text


def test_fit_text_without_room_for_a_note_still_marks_the_cut():
    assert fit_text("abcdefghijklmnopqrstuvwxyz", 5) == "abcd…"
    assert fit_text("abc", 0) == ""
    assert fit_text("abc", 3) == "abc"


def test_bytes_are_bounded_and_say_their_size():
    assert describe_value(b"abc") == "b'abc'"
    out = describe_value(b"\x00" * 100_000, 200)
    assert len(out) <= 200 and "100,000 bytes in all" in out


def test_max_chars_must_be_a_whole_number():
    with pytest.raises(ValueError):
        describe_value("x", -1)
    with pytest.raises(ValueError):
        describe_value("x", 2.5)


# --- containers ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    [1, 2, "three", None, 4.5], (1,), (), (1, "a"), set(), {3}, frozenset(), frozenset({1}),
    {}, {"a": 1, "b": [1, 2], "c": {"d": (1, 2)}}, [[1, [2, [3]]]], [b"x", True],
])
def test_small_containers_read_as_their_repr(value):
    assert describe_value(value) == repr(value)


def test_a_long_list_says_how_many_items_were_left_out():
    items = list(range(100_000))
    for budget in (30, 200, 500, 4000):
        out = describe_value(items, budget)
        assert len(out) <= budget
        assert out.startswith("[0, 1, 2") and out.endswith("more items]")
        shown = out[1:].split(", … ")[0].split(", ")
        assert shown == [str(i) for i in range(len(shown))]
        assert len(shown) + more(out, "item") == len(items)


def test_tuples_sets_and_dicts_are_cut_too():
    out = describe_value(tuple(range(10_000)), 100)
    assert out.startswith("(0, 1") and out.endswith("more items)") and len(out) <= 100
    out = describe_value(set(range(10_000)), 100)
    assert out.startswith("{") and "more items}" in out and len(out) <= 100
    out = describe_value(frozenset(range(10_000)), 100)
    assert out.startswith("frozenset({") and len(out) <= 100
    table = {f"key{i}": i for i in range(10_000)}
    out = describe_value(table, 200)
    assert out.startswith("{'key0': 0, 'key1': 1") and len(out) <= 200
    assert more(out, "item") + out.count(": ") == 10_000


def test_items_are_bounded_one_by_one():
    out = describe_value(["x" * 1_000_000, "short"], 200)
    assert len(out) <= 200 and "'short'" in out and "xxx…" in out


def test_nested_containers_stay_bounded_and_fast():
    huge = [list(range(1_000_000)) for _ in range(5)]
    deep: list = []
    for _ in range(50):
        deep = [deep, {"k": deep}]
    loop: list = [1]
    loop.append(loop)
    start = time.perf_counter()
    for value in (huge, {"a": huge}, deep, loop, (huge,)):
        out = describe_value(value, 500)
        assert len(out) <= 500
    assert time.perf_counter() - start < 0.5
    assert "more items" in describe_value(huge, 500)
    assert describe_value(loop, 500).startswith("[1, [1, [1, ")  # bounded, not recursed forever
    assert describe_value(loop, 100_000).count("[") == describe.MAX_DEPTH + 1


def test_a_wide_and_deep_nest_costs_little():
    nest: object = list(range(100_000))
    for _ in range(6):
        nest = [nest] * 60 + [1, 2, 3]
    start = time.perf_counter()
    out = describe_value(nest, 4000)
    assert time.perf_counter() - start < 0.5 and len(out) <= 4000 and "more items" in out


def test_a_huge_int_inside_a_list_is_not_printed():
    out = describe_value([10**20000, 5], 200)
    assert "bits>" in out and out.endswith("5]")


def test_arrays_and_frames_inside_containers_are_labelled():
    out = describe_value({"x": np.zeros((1000, 1000)), "df": mixed_frame(10)})
    assert "<array: shape (1000, 1000), dtype float64>" in out
    assert "<DataFrame: 10 rows × 5 columns>" in out


def test_a_namedtuple_keeps_its_own_text():
    point = collections.namedtuple("Point", "x y")(1, 2)
    assert describe_value(point) == "Point(x=1, y=2)"


# --- anything else ---------------------------------------------------------------------------


class BadStr:
    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        return "<BadStr ok>"


class Hopeless:
    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr")


def test_a_raising_str_falls_back_to_repr_then_to_the_type_name():
    assert describe_value(BadStr()) == "<BadStr ok>"
    assert describe_value(Hopeless()) == "<Hopeless>"
    assert describe_value([Hopeless(), BadStr()]) == "[<Hopeless>, <BadStr ok>]"


def test_other_values_are_their_str_cut_to_the_budget():
    assert describe_value(3.5) == "3.5"
    assert describe_value(None) == "None"

    class Long:
        def __str__(self):
            return "y" * 10_000

    out = describe_value(Long(), 300)
    assert len(out) <= 300 and more(out, "character") == 10_000 - out.count("y")


# --- pandas ----------------------------------------------------------------------------------


def test_a_large_frame_shows_shape_dtypes_head_tail_and_the_rows_left_out(million):
    out = describe_value(million)
    lines = out.splitlines()
    assert lines[0] == "DataFrame: 1,000,000 rows × 5 columns"
    assert lines[1] == ("dtypes: id: int64, price: float64, name: "
                        f"{million['name'].dtype}, when: {million['when'].dtype}, kind: category")
    assert lines[2] == "| id | price | name | when | kind |"
    assert lines[3] == "|---|---|---|---|---|"
    assert lines[4].startswith("| 0 | ") and "| item 0 | 2024-01-01 00:00:00 |" in lines[4]
    assert "| … | … | … | … | … |" in lines
    assert lines[-2].startswith("| 999999 | ") and "item 999999" in lines[-2]
    assert lines[-1] == "… 999,990 more rows"
    assert len(out) <= 4000


def test_a_plain_range_index_is_not_a_column_and_another_index_is(million):
    assert "index:" not in describe_value(million).splitlines()[0]
    indexed = million.set_index("when")
    out = describe_value(indexed)
    assert out.splitlines()[0].endswith("index: DatetimeIndex [when]")
    assert "| when | id | price | name | kind |" in out
    shifted = mixed_frame(30).iloc[10:]
    out = describe_value(shifted)
    assert "index: RangeIndex" in out and "| 10 | 10 |" in out


def test_cells_are_escaped_for_a_markdown_table():
    frame = pd.DataFrame({"text": ["a|b", "line\nbreak", "back\\slash|", "crlf\r\nend"],
                          "col|name": [1, 2, 3, 4]})
    out = describe_value(frame)
    assert "| a\\|b | 1 |" in out
    assert "| line\\nbreak | 2 |" in out
    assert "| back\\\\slash\\| | 3 |" in out
    assert "| crlf\\nend | 4 |" in out
    assert "| text | col\\|name |" in out
    for line in out.splitlines()[2:]:
        assert line.count("|") - line.count("\\|") == 3  # every row has exactly two cells


def test_long_cells_and_labels_are_shortened():
    frame = pd.DataFrame({"c" * 100: ["v" * 1000]})
    out = describe_value(frame)
    assert "v" * 31 + "…" in out and "v" * 40 not in out
    assert "c" * 39 + "…" in out


def test_nan_none_and_missing_values():
    frame = pd.DataFrame({"f": [1.5, np.nan, None], "o": ["x", None, np.nan],
                          "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
                          "i": pd.array([1, None, 3], dtype="Int64")})
    out = describe_value(frame)
    assert "| 1.5 | x | 2024-01-01 00:00:00 | 1 |" in out
    assert "| NaN |" in out and "NaT" in out and "<NA>" in out
    assert "more rows" not in out and "i: Int64" in out


def test_an_empty_frame():
    assert describe_value(pd.DataFrame()) == "DataFrame: 0 rows × 0 columns"
    out = describe_value(pd.DataFrame(columns=["a", "b"]))
    assert out == "DataFrame: 0 rows × 2 columns\ndtypes: a: object, b: object"
    out = describe_value(pd.DataFrame(index=range(3)))
    assert out == "DataFrame: 3 rows × 0 columns"


def test_a_multiindex_on_rows_and_on_columns():
    index = pd.MultiIndex.from_product([["a", "b"], range(50)], names=["key", "n"])
    frame = pd.DataFrame({"v": np.arange(100.0)}, index=index)
    out = describe_value(frame)
    assert out.splitlines()[0] == "DataFrame: 100 rows × 1 column, index: MultiIndex [key, n]"
    assert "| key | n | v |" in out and "| a | 0 | 0 |" in out and "| b | 49 | 99 |" in out
    assert out.endswith("… 90 more rows")
    columns = pd.MultiIndex.from_tuples([("x", "one"), ("x", "two"), ("y", "one")])
    out = describe_value(pd.DataFrame([[1, 2, 3]], columns=columns))
    assert "dtypes: x / one: int64, x / two: int64, y / one: int64" in out
    assert "| x / one | x / two | y / one |" in out


def test_a_wide_frame_cuts_columns_in_the_dtypes_and_in_the_sample():
    frame = pd.DataFrame(np.arange(20 * 500).reshape(20, 500),
                         columns=[f"col{i}" for i in range(500)])
    for budget in (300, 1000, 4000):
        out = describe_value(frame, budget)
        assert len(out) <= budget
        dtypes = out.splitlines()[1]
        assert dtypes.startswith("dtypes: col0: int64, ")
        assert dtypes.count(": int64") + more(dtypes, "column") == 500
        assert "more columns" in out.splitlines()[-1]
    out = describe_value(frame, 4000)
    assert "| col0 | col1 |" in out and "| … |" in out and "… 10 more rows, 480 more columns" in out


def test_a_tight_budget_shrinks_the_sample_before_the_dtypes(million):
    dtypes = describe_value(million).splitlines()[1]
    for budget in (250, 400, 700):
        out = describe_value(million, budget)
        assert len(out) <= budget
        assert out.splitlines()[1] == dtypes
        assert "| … |" in out and "more rows" in out
    rows = [describe_value(million, b).count("\n| ") for b in (250, 400, 700, 4000)]
    assert rows == sorted(rows) and rows[0] < rows[-1]


def test_a_series():
    series = pd.Series(np.arange(1000) / 4, name="quarter")
    out = describe_value(series)
    assert out.splitlines()[0] == "Series quarter: 1,000 rows, dtype float64"
    assert "| quarter |" in out and "| 0.25 |" in out and "| 249.75 |" in out
    assert out.endswith("… 990 more rows")
    unnamed = describe_value(pd.Series(["a", "b"], index=["x", "y"]))
    assert unnamed.splitlines()[0].startswith("Series: 2 rows, dtype ")
    assert "|  | value |" in unnamed and "| x | a |" in unnamed


# --- numpy -----------------------------------------------------------------------------------


def test_an_array_shows_shape_dtype_stats_and_a_slice():
    array = np.arange(3000.0).reshape(1000, 3)
    out = describe_value(array)
    lines = out.splitlines()
    assert lines[0] == "numpy array: shape (1000, 3), dtype float64, 3,000 elements"
    assert lines[1] == "min 0, mean 1499.5, max 2999"
    assert out.splitlines()[2].startswith("[[0.") and "\n ...\n" in out and out.count("\n [") == 5
    assert more(out, "element") == 3000 - 18


def test_array_stats_ignore_nan_and_count_it():
    array = np.array([1.0, np.nan, 3.0, np.nan])
    assert describe_value(array).splitlines()[1] == "min 1, mean 2, max 3 (2 NaN ignored)"
    assert describe_value(np.full(5, np.nan)).splitlines()[1] == "all 5 values are NaN"
    assert describe_value(np.array([1, 2, 4])).splitlines()[1] == "min 1, mean 2.33333, max 4"
    assert describe_value(np.array([True, False])).splitlines()[1] == "min False, mean 0.5, max True"


def test_arrays_without_stats():
    assert describe_value(np.array(["a", "b"])) == "numpy array: shape (2,), dtype <U1\n['a' 'b']"
    assert describe_value(np.array([], dtype=float)) == "numpy array: shape (0,), dtype float64\n[]"
    out = describe_value(np.array([BadStr(), Hopeless()], dtype=object))
    assert out.startswith("numpy array: shape (2,), dtype object") and len(out) <= 4000


def test_huge_arrays_skip_the_stats(monkeypatch):
    monkeypatch.setattr(describe, "MAX_STATS_ELEMENTS", 1000)
    out = describe_value(np.zeros(1001))
    assert out.splitlines()[1] == "min/mean/max skipped: more than 1,000 elements"


def test_many_dimensions_show_one_slice():
    out = describe_value(np.zeros((3, 4, 5, 6, 7)))
    assert "slice [0, 0, 0, :, :]:" in out and more(out, "element") == 3 * 4 * 5 * 6 * 7 - 6 * 7


def test_big_arrays_are_fast_and_bounded():
    array = np.random.default_rng(1).normal(size=(4000, 2500))
    start = time.perf_counter()
    out = describe_value(array, 300)
    assert time.perf_counter() - start < 1.0
    assert len(out) <= 300 and "mean" in out and "more elements" in out


# --- every budget, every shape ---------------------------------------------------------------


def values_of_every_kind():
    index = pd.MultiIndex.from_product([["a", "b"], range(50)], names=["key", "n"])
    return [
        "z" * 5000, b"q" * 5000, list(range(5000)), {i: str(i) * 20 for i in range(500)},
        tuple("abc" * 300), set(range(3000)), [[list(range(100))] * 50] * 10, BadStr(), Hopeless(),
        mixed_frame(5000), mixed_frame(3), pd.DataFrame(), pd.DataFrame(columns=list("abc")),
        pd.DataFrame(np.zeros((10, 500))), pd.DataFrame({"v": range(100)}, index=index),
        pd.DataFrame({"text": ["a|b\n" * 30] * 30}), pd.Series(range(5000), name="s"),
        np.arange(10_000).reshape(100, 100), np.zeros((2, 3, 4, 5, 6)), np.array(3.5),
        np.array(["x" * 200] * 40), np.linspace(0, 1, 10_000),
    ]


@pytest.mark.parametrize("budget", BUDGETS)
def test_the_budget_is_a_hard_limit(budget):
    for value in values_of_every_kind():
        out = describe_value(value, budget)
        assert len(out) <= budget, (type(value), budget, out)


def test_a_large_budget_keeps_a_large_value_whole_enough():
    out = describe_value(mixed_frame(5000), 100_000)
    assert "… 4,990 more rows" in out  # the sample stays a sample, whatever the budget


def test_a_million_rows_describe_quickly(million):
    describe_value(million)  # warm up
    start = time.perf_counter()
    for _ in range(5):
        describe_value(million)
    assert (time.perf_counter() - start) / 5 < 0.5  # the real target (50 ms) is bench/describe.py


def test_importing_describe_loads_neither_pandas_nor_numpy():
    probe = ("import sys, grok_magic.inputs.describe as d; d.describe_value([1, 'a'])\n"
             "print(sorted({'pandas', 'numpy', 'IPython', 'ipywidgets'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"
