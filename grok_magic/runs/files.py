"""`--image-col`: the strings of the columns a user marks are image files, read only under one
folder — the notebook's (the working directory) or `--root DIR`.

Data must not name local files by itself (a path in a CSV, a model's answer), so a string is text
unless the user marks its column. Even then a file is read only when its path, with every
symbolic link resolved, is inside that folder; a path with a `..` part is refused outright, `~`
is not expanded, and relative paths are read from the folder. Every row is checked before
anything is sent, and again when its request is built (the file may have changed meanwhile).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grok_magic.errors import InputError
from grok_magic.inputs.images.sources import is_image_like
from grok_magic.inputs.prompt import AsImage

IMAGE_COL = "--image-col"
ITEM = "item"  # `--image-col item`: the items of a list, tuple, Series or dict themselves
NOTEBOOK_FOLDER = "the folder of the notebook"
SHOWN_CHARS = 120  # of a refused value, in a message
# How image files start; anything else is not read as one.
SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
              b"MM\x00*")
FORMATS = "PNG, JPEG, GIF, WebP, BMP or TIFF"


class Refused(Exception):
    """Why one value is not read as a file: `reason` follows "row 3", `hint` says what to do."""

    def __init__(self, reason: str, hint: str = "") -> None:
        self.reason, self.hint = reason, hint
        super().__init__(reason)


@dataclass(frozen=True)
class FileRoot:
    """The folder --image-col files must be in (resolved), and whether `--root` chose it."""

    folder: Path
    given: bool = False

    @classmethod
    def of(cls, root: str | os.PathLike | None) -> FileRoot:
        """`root` (typed by the user, so `~` is expanded), else the working directory."""
        if root is None:
            return cls(Path.cwd().resolve())
        folder = Path(os.path.expanduser(os.fspath(root)))
        try:
            resolved = folder.resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            resolved = None
        if resolved is None or not resolved.is_dir():
            raise InputError(f"--root {os.fspath(root)}: there is no such folder",
                             hint="Give the folder that holds the --image-col files.")
        return cls(resolved, given=True)

    @property
    def label(self) -> str:
        return "--root" if self.given else NOTEBOOK_FOLDER

    def rule(self) -> str:
        if self.given:
            return "Only files under --root are read."
        return "Only files under that folder, or under --root, are read."


def image_file(text: str, root: FileRoot) -> Path:
    """The image file `text` names, resolved and inside `root`, or Refused saying why not."""
    shown = _shown(text)
    if not text.strip():
        raise Refused("is an empty string, not a file name", _FILL_HINT)
    if "://" in text or text[:5].lower() in ("data:", "file:"):
        raise Refused(f"holds {shown}, a URL: {IMAGE_COL} reads local files only", _FILL_HINT)
    path = Path(text)
    if ".." in path.parts:
        raise Refused(f"names {shown}, which has a '..' part", "Paths that step up a folder are "
                      f"not read; write it without '..'. {root.rule()}")
    full = path if path.is_absolute() else root.folder / path
    try:
        resolved = full.resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise Refused(f"names {shown}, which cannot be read as a path ({exc})", _FILL_HINT) from None
    _inside(resolved, full, shown, root)
    _image_file(resolved, shown, text, root)
    return resolved


def _inside(resolved: Path, full: Path, shown: str, root: FileRoot) -> None:
    if resolved.is_relative_to(root.folder):
        return
    where = f"{root.folder} ({root.label})"
    if Path(os.path.abspath(full)).is_relative_to(root.folder):
        raise Refused(f"names {shown}, a symbolic link that leads to {resolved}, outside {where}",
                      root.rule())
    raise Refused(f"names {shown}, which is outside {where}", root.rule())


def _image_file(resolved: Path, shown: str, text: str, root: FileRoot) -> None:
    if resolved.is_dir():
        raise Refused(f"names {shown}, which is a folder", "Name an image file inside it.")
    if not resolved.is_file():
        tilde = " and ~ is not expanded" if text.startswith("~") else ""
        raise Refused(f"names {shown}, which does not exist",
                      f"Relative paths are read from {root.folder}{tilde}.")
    try:
        with open(resolved, "rb") as file:
            head = file.read(12)
    except OSError as exc:
        raise Refused(f"names {shown}, which cannot be read ({exc.strerror or exc})") from None
    if not (head.startswith(SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
        raise Refused(f"names {shown}, which is not an image file", f"Name {FORMATS} files.")


_FILL_HINT = (f"Put image file names (or image objects) in this column, or leave it out of "
              f"{IMAGE_COL}.")


def _shown(text: str) -> str:
    """A value as a message quotes it: as it is when printable, else its repr; shortened."""
    shown = text if text.isprintable() else repr(text)
    return shown if len(shown) <= SHOWN_CHARS else shown[: SHOWN_CHARS - 1] + "…"


def checked_value(value: object, root: FileRoot) -> object:
    """An --image-col value as its placeholder inserts it: an image object stays itself, image
    bytes and a file name (checked by `image_file`) become images; anything else is Refused."""
    if isinstance(value, bytes | bytearray):
        return AsImage(bytes(value))
    if is_image_like(value):
        return value
    name = os.fspath(value) if isinstance(value, str | os.PathLike) else None
    if isinstance(name, str):
        return AsImage(str(image_file(name, root)))
    text = repr(value)
    raise Refused(f"holds {type(value).__name__} {_shown(text)}, not a file name", _FILL_HINT)


@dataclass(frozen=True)
class ImageColumns:
    """The columns (or `item`) whose strings are image files, and the folder they must be in."""

    names: frozenset[str]
    root: FileRoot

    def value(self, column: str, value: object, where: str) -> object:
        """`checked_value`, or one InputError naming the column, the row and the value."""
        try:
            return checked_value(value, self.root)
        except Refused as refused:
            raise _error(column, where, refused) from None

    def check_all(self, kind: str, data: object) -> None:
        """Every row of every column of `data` (an Items' kind and data), before anything is
        sent: the first problem as one InputError that also says how many other rows have one."""
        problems = []
        for column, key, value in _cells(kind, data, self.names):
            try:
                checked_value(value, self.root)
            except Refused as refused:
                problems.append((column, where(kind, key), refused))
        if problems:
            column, at, refused = problems[0]
            raise _error(column, at, refused, others=len(problems) - 1, up_front=True)


def _error(column: str, where: str, refused: Refused, *, others: int = 0,
           up_front: bool = False) -> InputError:
    """The one message: what is wrong with which value; what to do; whether anything was sent."""
    more = (f" {others:,} other value{'s' if others > 1 else ''} of --image-col "
            f"{'have' if others > 1 else 'has'} a problem too." if others else "")
    sent = " Nothing was sent." if up_front else ""
    message = f"{IMAGE_COL} {column}: {where} {refused.reason}"
    return InputError(message + ("." if message.endswith(")") else ""),
                      hint=f"{refused.hint}{more}{sent}".strip())


def where(kind: str, key: object) -> str:
    """How a message names an item: "row 3" (DataFrame, Series), "item 3" (list), "item 'a'"."""
    label = "row" if kind in ("dataframe", "series") else "item"
    return f"{label} {key}" if isinstance(key, int) else f"{label} {key!r}"


def _cells(kind: str, data, names: frozenset[str]) -> Iterator[tuple[str, object, object]]:
    """(column, index, value) for every value of the named columns (`item`: the items)."""
    if kind == "dataframe":
        for position, column in enumerate(data.columns):
            if str(column) in names:
                yield from ((str(column), k, v) for k, v in zip(data.index, data.iloc[:, position],
                                                                strict=True))
    elif kind == "series":
        yield from ((ITEM, k, v) for k, v in zip(data.index, data, strict=True))
    elif kind == "dict":
        yield from ((ITEM, k, v) for k, v in data.items())
    else:
        yield from ((ITEM, k, v) for k, v in enumerate(data))


def image_columns(kind: str, data: object, names: list[str], root: str | os.PathLike | None,
                  name: str) -> ImageColumns | None:
    """`names` checked against what `data` (an Items' kind and data) has, and every row of them
    checked; None when there are none (or the run is over a glob, whose files are images
    already)."""
    if not names:
        if root is not None:
            raise InputError("--root says where --image-col files may be, and no --image-col "
                             "is given", hint="Add --image-col COLUMN, or leave out --root.")
        return None
    for column in names:
        _check_name(kind, data, column, name)
    if kind == "files":
        return None
    columns = ImageColumns(frozenset(names), FileRoot.of(root))
    columns.check_all(kind, data)
    return columns


def _check_name(kind: str, data, column: str, name: str) -> None:
    """A clear InputError unless `column` is one of the DataFrame's placeholder columns, or
    `item` for any other data."""
    if kind != "dataframe":
        if column != ITEM:
            raise InputError(f"{IMAGE_COL} {column}: {name} has no columns",
                             hint=f"Use {IMAGE_COL} item to read its items as image files.")
        return
    placeholders = [str(c) for c in data.columns if str(c).isidentifier()]
    if column in placeholders and column != ITEM:
        return
    if column == ITEM:
        hint = "For a DataFrame, {item} is the whole row: name the column that holds file names."
    else:
        hint = f"Its columns are {', '.join(placeholders) or 'none usable as placeholders'}."
    raise InputError(f"{IMAGE_COL} {column}: {name} has no column {column!r}", hint=hint)
