"""An exception as text for Grok: its type, message and the frames of the user's own code."""

from __future__ import annotations

import re
import sys
import sysconfig
import traceback
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_FRAMES = 12
MAX_HEADLINE_CHARS = 120


def _library_roots() -> tuple[str, ...]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            paths.add(sysconfig.get_path(name))
        except KeyError:
            pass
    paths.add(str(Path(__file__).resolve().parent))  # grok_magic itself
    return tuple(str(Path(p).resolve()) for p in paths if p)


def is_user_frame(filename: str, roots: tuple[str, ...] | None = None) -> bool:
    """Whether a frame belongs to the user's code: a notebook cell or a file outside Python's
    own library folders (site-packages, the standard library, grok_magic).

    >>> is_user_frame("<ipython-input-3-abc>"), is_user_frame(traceback.__file__)
    (True, False)
    """
    if filename.startswith("<"):
        return "frozen" not in filename
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        return True
    return not resolved.startswith(roots or _library_roots())


def describe_error(error: BaseException, max_frames: int = MAX_FRAMES) -> str:
    """`error` as plain text: the user's frames (newest last), then `Type: message`.

    Library frames are dropped (a note says how many); colours never appear.

    >>> try:
    ...     {}["missing"]
    ... except KeyError as err:
    ...     print(describe_error(err).splitlines()[-1])
    KeyError: 'missing'
    """
    roots = _library_roots()
    frames = traceback.extract_tb(error.__traceback__)
    user = [f for f in frames if is_user_frame(f.filename, roots)]
    dropped = len(frames) - len(user)
    if len(user) > max_frames:
        dropped += len(user) - max_frames
        user = user[-max_frames:]
    lines = ["Traceback (most recent call last):"] if user else []
    lines += [line.rstrip("\n") for line in traceback.format_list(user)]
    if dropped:
        lines.append(f"  ({dropped} frame{'s' if dropped != 1 else ''} inside libraries not shown)")
    lines += [line.rstrip("\n") for line in traceback.format_exception_only(type(error), error)]
    return ANSI.sub("", "\n".join(lines))


def error_headline(error: BaseException, max_chars: int = MAX_HEADLINE_CHARS) -> str:
    """`Type: message` on one line, at most `max_chars` (a long message ends in "…").

    >>> error_headline(ZeroDivisionError("division by zero"))
    'ZeroDivisionError: division by zero'
    """
    message = " ".join(ANSI.sub("", str(error)).split())
    line = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return line if len(line) <= max_chars else line[: max_chars - 1] + "…"
