"""What `--each` goes over: a list or tuple, a dict, a pandas Series, Index or DataFrame, or a glob
of image files — as an index and items read one at a time, only when a worker needs them.

Data never names files by itself: a string in the data is text, whatever it looks like (a path
read from a CSV, a model's earlier answer). An item is an image when it is an image object (PIL
image, numpy array, matplotlib figure, image bytes), when the run is over a glob the user typed
(`--each "photos/*.png"`), or when the user marks its column with `--image-col` (`image_cols=` in
Python): then its strings are files, read only under one folder (grok_magic.runs.files).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from grok_magic.errors import InputError
from grok_magic.inputs.prompt import AsImage
from grok_magic.runs.files import ImageColumns, image_columns, where


@dataclass
class Items:
    """`index[i]` is item i's index (or key, or file path); `get(i)` its placeholder values."""

    index: list
    data: object
    kind: str  # list, dict, series, index, dataframe, files
    image_cols: ImageColumns | None = None  # --image-col: the columns whose strings are files

    def __len__(self) -> int:
        return len(self.index)

    def get(self, position: int) -> dict:
        """`{item}`, `{index}` and, for a DataFrame row, every column by its bare name."""
        key = self.index[position]
        if self.kind == "files":
            return {"item": AsImage(key), "index": key}
        if self.kind == "dataframe":
            row = self.data.iloc[position]
            values = {str(c): self._value(str(c), v, key) for c, v in row.items()
                      if str(c).isidentifier()}
            return {**values, "item": row, "index": key}
        if self.kind == "dict":
            return {"item": self._value("item", self.data[key], key), "index": key}
        if self.kind == "series":
            return {"item": self._value("item", self.data.iloc[position], key), "index": key}
        return {"item": self._value("item", self.data[position], key), "index": key}

    def label(self, position: int) -> str:
        """Item `position` as a table shows it: a file by its name (not its whole path)."""
        key = self.index[position]
        return os.path.basename(key) if self.kind == "files" else str(key)

    def preview(self, position: int) -> str:
        """What item `position` holds, as one short line of text (no file is read): a file's
        name, a DataFrame row's columns ("review: Great battery · stars: 5"), else the value."""
        if self.kind == "files":
            return os.path.basename(self.index[position])
        if self.kind == "dataframe":
            row = self.data.iloc[position]
            return " · ".join(f"{c}: {v}" for c, v in row.items())
        if self.kind == "dict":
            return str(self.data[self.index[position]])
        if self.kind == "series":
            return str(self.data.iloc[position])
        return str(self.data[position])

    def _value(self, column: str, value: object, key: object) -> object:
        """A value as its placeholder inserts it: a file of an --image-col column (checked again,
        in case it changed since the run's start) as an image, anything else by `as_value`."""
        if self.image_cols is not None and column in self.image_cols.names:
            return self.image_cols.value(column, value, where(self.kind, key))
        return as_value(value)


def as_value(value: object) -> object:
    """An item as `{item}` inserts it: image bytes become an image, anything else stays itself —
    image objects (PIL, arrays, figures) are images by themselves, and text, numbers and paths
    are described as text. A string is never read as a file here."""
    if isinstance(value, bytes | bytearray):
        return AsImage(bytes(value))
    return value


def items_of(data: object, name: str = "the data", *, image_cols: Iterable[str] = (),
             root: str | os.PathLike | None = None) -> Items:
    """`data` as Items, or a clear InputError naming what it is and what would work.

    `image_cols` names the DataFrame columns whose strings are image files (`"item"`: the items
    of a list, tuple, Series or dict); every row is checked now, before anything is sent (see
    grok_magic.runs.files). `root` is the folder they must be in (default: the working
    directory, the notebook's folder)."""
    items = _items(data, name)
    items.image_cols = image_columns(items.kind, items.data, list(image_cols), root, name)
    return items


def _items(data: object, name: str) -> Items:
    kind = _pandas_kind(data)
    if kind == "dataframe":
        return Items(list(data.index), data, kind)
    if kind == "series":
        return Items(list(data.index), data, kind)
    if kind == "index":
        return Items(list(range(len(data))), list(data), "list")
    if isinstance(data, str):
        return _glob_items(data, name)
    if isinstance(data, Mapping):
        return Items(list(data.keys()), data, "dict")
    if isinstance(data, Sequence) and not isinstance(data, bytes | bytearray):
        return Items(list(range(len(data))), data, "list")
    raise InputError(
        f"{name} is a {type(data).__name__}, which --each cannot go over",
        hint="Use a list or tuple, a dict, a pandas Series, Index or DataFrame, or a glob string "
             "of image files such as \"photos/*.jpg\".")


def _glob_items(pattern: str, name: str) -> Items:
    """The files a glob the user typed matches (`~` expanded: the user wrote it), sorted."""
    files = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise InputError(f"{name} is the pattern {pattern!r}, which matches no files",
                         hint="Check the folder and the pattern, e.g. \"photos/*.jpg\".")
    return Items(files, None, "files")


def _pandas_kind(data: object) -> str | None:
    # The first pandas class of its MRO: a subclass (a result table, ResultFrame) is still a
    # DataFrame, and pandas need not be imported to tell.
    cls = next((c for c in type(data).__mro__ if c.__module__.startswith("pandas")), None)
    if cls is None:
        return None
    name = cls.__name__
    if name == "DataFrame":
        return "dataframe"
    if name == "Series":
        return "series"
    if name.endswith("Index"):
        return "index"
    return None
