"""The images package's floor: the limits and types its encoders and sources share — sizes,
timeouts, what is accepted, `EncodedImage`, `Limits` — and the small helpers both use (the
ImageError for a source, Pillow's errors, sizes as text). Imports nothing above grok_magic.errors
and the wire's message constants."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from grok_magic.errors import ImageError
from grok_magic.settings import DEFAULT_MAX_IMAGE_SIDE  # noqa: F401 - part of the limits
from grok_magic.xai.messages import DETAILS

# xAI's docs now say 20 MiB per image; older docs and the SDK say 10 MiB, so stay under both.
MAX_IMAGE_BYTES = 10 * 1024 * 1024

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024

DOWNLOAD_TIMEOUT = 10.0

# getaddrinfo has no timeout of its own; a slow resolver must not hang the cell.
DNS_TIMEOUT = 2.0

FIGURE_DPI = 150

OCTET_STREAM_TYPES = ("application/octet-stream", "binary/octet-stream")

# Names that never resolve to an address xAI's servers could reach.
LOCAL_HOST_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")

NON_XAI_SUFFIXES = (".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".avif", ".svg")

MIN_IMAGE_LIKE_SIDE = 16

ACCEPTED = (
    "a PIL image, a numpy array, a matplotlib Figure or Axes, bytes, a binary file object, "
    "a file path, an http(s) URL or a data: URL"
)

@dataclass(frozen=True)
class EncodedImage:
    """An image ready for xAI: a data URL (or a public URL xAI fetches) and what was done to it."""

    url: str = field(repr=False)
    mime: str | None  # None for a public URL passed through unread
    width: int | None
    height: int | None
    nbytes: int | None  # encoded size before base64
    source: str
    notes: tuple[str, ...] = ()

    @property
    def is_inline(self) -> bool:
        """True when the image travels inside the request as a data URL."""
        return self.url.startswith("data:")

    def to_part(self, detail: str | None = None) -> dict[str, Any]:
        """The chat content part ``{"type": "image_url", "image_url": {"url", "detail"?}}``."""
        check_detail(detail, self.source)
        image_url = {"url": self.url}
        if detail is not None:
            image_url["detail"] = detail
        return {"type": "image_url", "image_url": image_url}

class CacheInfo(NamedTuple):
    """Counters of the session's encode cache."""

    hits: int
    misses: int
    entries: int
    nbytes: int

class Limits(NamedTuple):
    max_side: int
    max_bytes: int
    max_download_bytes: int
    timeout: float

def image_error(label: str, reason: str) -> ImageError:
    return ImageError(f"{label} {reason}", source=label)

def size_text(nbytes: int) -> str:
    if nbytes < 1024:
        return f"{nbytes} bytes"
    if nbytes < 1024 * 1024:
        return f"{nbytes / 1024:.1f} KiB"
    return f"{nbytes / 1024 / 1024:.1f} MiB"

def pillow() -> Any:
    from PIL import Image

    return Image

@contextmanager
def pillow_errors(label: str) -> Iterator[None]:
    """Pillow's decoding failures as an ImageError naming the source."""
    Image = pillow()
    try:
        yield
    except Image.DecompressionBombError as exc:
        raise image_error(label, f"has too many pixels ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise image_error(
            label, "is not an image Pillow can read; use JPEG or PNG (GIF, WebP, BMP, TIFF work too)"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise image_error(label, f"could not be decoded ({exc}); the file may be corrupt") from exc

def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

def check_detail(detail: str | None, label: str) -> None:
    if detail is not None and detail not in DETAILS:
        raise image_error(label, f"cannot be sent with detail={detail!r}; use 'auto', 'low' or 'high'")
