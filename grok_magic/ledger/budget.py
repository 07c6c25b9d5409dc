"""Spending limits, per kernel and per day: checked before a request is sent, never after.

A request is refused when the amount spent has reached a limit, or when its estimated prompt
cost alone (tokens estimated from text length and image sizes) exceeds what is left.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from grok_magic.errors import InputError
from grok_magic.xai.pricing import CHARS_PER_TOKEN, Price, format_cost

MESSAGE_TOKENS = 3  # role and separators per message
ASSUMED_ANSWER_TOKENS = 1_000  # an answer's length when nothing bounds or predicts it
# xAI does not publish how images are counted; this estimate (448-pixel tiles of 256 tokens, at
# most 6, plus one for the whole image) errs on the high side of what it reports.
TILE_SIDE = 448
TILE_TOKENS = 256
MAX_TILES = 6
HEADER_CHARS = 64 * 1024  # base64 characters decoded to find an image's size (48 KB of it)


class BudgetExceeded(InputError):
    """Budget reached."""


@dataclass(frozen=True)
class Limit:
    """One spending limit: its USD amount, what has been spent against it, and its setting;
    `measure` reads the spending afresh (for a request waiting for room)."""

    amount: float
    spent: float
    setting: str  # "budget" or "daily_budget"
    scope: str  # "this kernel", "today (every kernel)"
    measure: Callable[[], float] | None = field(default=None, compare=False, repr=False)

    @property
    def left(self) -> float:
        return max(self.amount - self.spent, 0.0)

    def shown(self) -> str:
        return f"{format_cost(self.spent)} of {format_cost(self.amount)}"

    def at(self, spent: float) -> Limit:
        return replace(self, spent=spent)

    def refreshed(self) -> Limit:
        return self if self.measure is None else replace(self, spent=self.measure())


def refusal(limit: Limit, estimate: float | None, question: str) -> BudgetExceeded | None:
    """Why `limit` refuses a request whose prompt costs about `estimate`, or None."""
    if limit.spent >= limit.amount:
        return BudgetExceeded(
            f"{limit.scope} has spent {limit.shown()} allowed by `{limit.setting}`, so "
            f"{quote(question)} was not sent", hint=_raise_hint(limit))
    if estimate is not None and estimate > limit.left:
        return BudgetExceeded(
            f"{quote(question)} would cost about {format_cost(estimate)} for its prompt "
            f"alone, more than the {format_cost(limit.left)} left of `{limit.setting}` "
            f"({limit.scope}: {limit.shown()}); nothing was sent", hint=_raise_hint(limit))
    return None


def check(limits: list[Limit], estimate: float | None, question: str) -> None:
    """Raise BudgetExceeded if any limit is reached or the estimate exceeds what it leaves."""
    for limit in limits:
        problem = refusal(limit, estimate, question)
        if problem is not None:
            raise problem


def _raise_hint(limit: Limit) -> str:
    return (f"To go on, raise the limit (in a notebook: %config GrokMagics.{limit.setting} = "
            f"{max(limit.amount * 2, 0.01):g}; in a script: Recorder.{limit.setting}), or set it "
            "to None to remove it.")


def quote(question: str, words: int = 8) -> str:
    parts = question.split()
    text = " ".join(parts[:words]) + ("…" if len(parts) > words else "")
    return f'the question "{text}"' if text else "the request"


def estimate_prompt_tokens(body: Mapping) -> int:
    """Prompt tokens of a chat request, estimated from its text length and image sizes."""
    chars = tokens = 0
    for message in body.get("messages") or body.get("input") or ():
        tokens += MESSAGE_TOKENS
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            chars += len(content)
            continue
        for part in content or ():
            if part.get("type") in ("text", "input_text"):
                chars += len(part.get("text") or "")
            elif part.get("type") in ("image_url", "input_image"):
                url = part.get("image_url")
                tokens += image_tokens(url.get("url") if isinstance(url, Mapping) else url)
    return tokens + math.ceil(chars / CHARS_PER_TOKEN)


def image_tokens(url: str | None) -> int:
    """Estimated tokens of one image; the most an image can take when its size is unknown."""
    size = _image_size(url) if url else None
    if size is None:
        return (MAX_TILES + 1) * TILE_TOKENS
    tiles = math.ceil(size[0] / TILE_SIDE) * math.ceil(size[1] / TILE_SIDE)
    return (min(tiles, MAX_TILES) + 1) * TILE_TOKENS


def _image_size(url: str) -> tuple[int, int] | None:
    header, sep, payload = url.partition(",")
    if not (url.startswith("data:") and sep and header.endswith(";base64")):
        return None
    try:
        from PIL import Image
    except ImportError:
        return None
    # Only the header is read (the size is near the start), so only the start is decoded from
    # base64; the whole image only when its header lies further in (a JPEG with large EXIF).
    for chunk in (payload[:HEADER_CHARS], payload):
        try:
            with Image.open(io.BytesIO(base64.b64decode(chunk[: len(chunk) // 4 * 4]))) as image:
                return image.size
        except (binascii.Error, ValueError, OSError):
            if len(chunk) == len(payload):
                return None
    return None


def estimate_prompt_cost(body: Mapping, price: Price | None) -> float | None:
    """USD for the estimated prompt tokens at the input price of their tier (None when the price
    is unknown)."""
    if price is None:
        return None
    tokens = estimate_prompt_tokens(body)
    return tokens * price.tier(tokens).input / 1_000_000
