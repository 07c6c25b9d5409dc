"""Images for xAI, from whatever a notebook holds: `to_image_part` and `encode_image` take a PIL
image, numpy array, matplotlib figure, bytes, file, path or URL and give a JPEG/PNG data URL within
xAI's limits, encoded once per content per session.

The package has three floors: `limits` (shared limits and types), `encode` (pixels to JPEG/PNG)
and `sources` (reading each kind of source); this module holds the public functions. Imports
grok_magic.errors and the wire's message constants only; no module below imports this one.
"""

from __future__ import annotations

from typing import Any

from grok_magic.inputs.images.encode import (
    CACHE_MAX_BYTES,
    CACHE_MAX_ENTRIES,
    GRAPHIC_MAX_COLOURS,
    GRAPHIC_MIN_SHARE,
    GRAPHIC_TOP_COLOURS,
    JPEG_QUALITY,
    ORIENTATION_TAG,
    ORIENTATION_TRANSPOSE,
    PARALLEL_RESIZE_PIXELS,
    PASSTHROUGH_MIMES,
    SAMPLE_SIDE,
    SHRINK_ATTEMPTS,
    cache_info,
    clear_cache,
)
from grok_magic.inputs.images.limits import (
    ACCEPTED,
    DEFAULT_MAX_IMAGE_SIDE,
    DETAILS,
    DNS_TIMEOUT,
    DOWNLOAD_TIMEOUT,
    FIGURE_DPI,
    LOCAL_HOST_SUFFIXES,
    MAX_DOWNLOAD_BYTES,
    MAX_IMAGE_BYTES,
    MIN_IMAGE_LIKE_SIDE,
    NON_XAI_SUFFIXES,
    OCTET_STREAM_TYPES,
    CacheInfo,
    EncodedImage,
    Limits,
    check_detail,
)
from grok_magic.inputs.images.sources import describe_source, from_source, is_image_like, is_local_url

__all__ = [
    "ACCEPTED",
    "CACHE_MAX_BYTES",
    "CACHE_MAX_ENTRIES",
    "DEFAULT_MAX_IMAGE_SIDE",
    "DETAILS",
    "DNS_TIMEOUT",
    "DOWNLOAD_TIMEOUT",
    "FIGURE_DPI",
    "GRAPHIC_MAX_COLOURS",
    "GRAPHIC_MIN_SHARE",
    "GRAPHIC_TOP_COLOURS",
    "JPEG_QUALITY",
    "LOCAL_HOST_SUFFIXES",
    "MAX_DOWNLOAD_BYTES",
    "MAX_IMAGE_BYTES",
    "MIN_IMAGE_LIKE_SIDE",
    "NON_XAI_SUFFIXES",
    "OCTET_STREAM_TYPES",
    "ORIENTATION_TAG",
    "ORIENTATION_TRANSPOSE",
    "PARALLEL_RESIZE_PIXELS",
    "PASSTHROUGH_MIMES",
    "SAMPLE_SIDE",
    "SHRINK_ATTEMPTS",
    "CacheInfo",
    "EncodedImage",
    "cache_info",
    "clear_cache",
    "describe_source",
    "encode_image",
    "is_image_like",
    "is_local_url",
    "to_image_part",
]


def to_image_part(
    source: object,
    detail: str | None = None,
    *,
    max_side: int = DEFAULT_MAX_IMAGE_SIDE,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> dict[str, Any]:
    """The chat content part for anything image-like; raises ImageError when it cannot be used.

    >>> to_image_part("https://example.com/cat.png", "high")  # doctest: +SKIP
    {'type': 'image_url', 'image_url': {'url': 'https://example.com/cat.png', 'detail': 'high'}}
    """
    check_detail(detail, describe_source(source))
    encoded = encode_image(
        source,
        max_side=max_side,
        max_bytes=max_bytes,
        max_download_bytes=max_download_bytes,
        timeout=timeout,
    )
    return encoded.to_part(detail)

def encode_image(
    source: object,
    *,
    max_side: int = DEFAULT_MAX_IMAGE_SIDE,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> EncodedImage:
    """Encode a source as JPEG/PNG (or keep a public URL), once per content per session.

    Accepts a PIL image, numpy array, matplotlib Figure/Axes, bytes, binary file object, path,
    http(s) URL, data: URL or an EncodedImage. ``notes`` on the result say what was changed.
    """
    if max_side < 1 or max_bytes < 1:
        raise ValueError("max_side and max_bytes must be positive")
    if isinstance(source, EncodedImage):
        return source
    limits = Limits(max_side, max_bytes, max_download_bytes, timeout)
    return from_source(source, describe_source(source), limits)
