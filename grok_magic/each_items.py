"""What `--each` goes over: a list or tuple, a dict, a pandas Series, Index or DataFrame, or a glob
of image files — as an index and items read one at a time, only when a worker needs them."""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grok_magic.errors import InputError
from grok_magic.prompt import AsImage

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class Items:
    """`index[i]` is item i's index (or key, or file path); `get(i)` its placeholder values."""

    index: list
    data: object
    kind: str  # list, dict, series, index, dataframe, files

    def __len__(self) -> int:
        return len(self.index)

    def get(self, position: int) -> dict:
        """`{item}`, `{index}` and, for a DataFrame row, every column by its bare name."""
        key = self.index[position]
        if self.kind == "files":
            return {"item": AsImage(key), "index": key}
        if self.kind == "dataframe":
            row = self.data.iloc[position]
            values = {str(c): as_value(v) for c, v in row.items() if str(c).isidentifier()}
            return {**values, "item": row, "index": key}
        if self.kind == "dict":
            return {"item": as_value(self.data[key]), "index": key}
        if self.kind == "series":
            return {"item": as_value(self.data.iloc[position]), "index": key}
        return {"item": as_value(self.data[position]), "index": key}


def as_value(value: object) -> object:
    """An item as `{item}` inserts it: image bytes and paths of existing image files become
    images (the user listed them), anything else stays itself (text, numbers, PIL images…)."""
    if isinstance(value, bytes | bytearray):
        return AsImage(bytes(value))
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if text.lower().endswith(IMAGE_SUFFIXES) and len(text) < 4096:
            try:
                if Path(text).expanduser().is_file():
                    return AsImage(text)
            except (OSError, ValueError):
                pass
    return value


def items_of(data: object, name: str = "the data") -> Items:
    """`data` as Items, or a clear InputError naming what it is and what would work."""
    kind = _pandas_kind(data)
    if kind == "dataframe":
        return Items(list(data.index), data, kind)
    if kind == "series":
        return Items(list(data.index), data, kind)
    if kind == "index":
        return Items(list(range(len(data))), list(data), "list")
    if isinstance(data, str):
        files = sorted(glob.glob(os.path.expanduser(data), recursive=True))
        files = [f for f in files if os.path.isfile(f)]
        if not files:
            raise InputError(f"{name} is the pattern {data!r}, which matches no files",
                             hint="Check the folder and the pattern, e.g. \"photos/*.jpg\".")
        return Items(files, None, "files")
    if isinstance(data, Mapping):
        return Items(list(data.keys()), data, "dict")
    if isinstance(data, Sequence) and not isinstance(data, bytes | bytearray):
        return Items(list(range(len(data))), data, "list")
    raise InputError(
        f"{name} is a {type(data).__name__}, which --each cannot go over",
        hint="Use a list or tuple, a dict, a pandas Series, Index or DataFrame, or a glob string "
             "of image files such as \"photos/*.jpg\".")


def _pandas_kind(data: object) -> str | None:
    module = type(data).__module__
    if not module.startswith("pandas"):
        return None
    name = type(data).__name__
    if name == "DataFrame":
        return "dataframe"
    if name == "Series":
        return "series"
    if name.endswith("Index"):
        return "index"
    return None
