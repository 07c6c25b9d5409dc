"""Encoding pixels for xAI: JPEG or PNG data URLs within the size limits (a fast JPEG draft
decode, mode and orientation fixed, resized, shrunk until it fits), each content encoded once
per session in a bounded cache. Built on images.limits; the sources call it."""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from pathlib import Path
from typing import Any

from grok_magic.inputs.images.limits import (
    CacheInfo,
    EncodedImage,
    Limits,
    data_url,
    image_error,
    pillow,
    pillow_errors,
    size_text,
)

DRAFT_SLACK = 0.95  # a JPEG may be decoded at a scale up to 5 % under the target size

JPEG_QUALITY = 90

PASSTHROUGH_MIMES = {"JPEG": "image/jpeg", "PNG": "image/png"}

# Photo or diagram: a diagram sampled on a small grid shows few colours, most pixels in a handful.
SAMPLE_SIDE = 128

GRAPHIC_MAX_COLOURS = 256

GRAPHIC_TOP_COLOURS = 16

GRAPHIC_MIN_SHARE = 0.5

SHRINK_ATTEMPTS = 8

# Above this many source pixels a resize runs as two bands on two threads (Pillow drops the GIL).
PARALLEL_RESIZE_PIXELS = 4_000_000

CACHE_MAX_ENTRIES = 64

CACHE_MAX_BYTES = 256 * 1024 * 1024

ORIENTATION_TAG = 0x0112

ORIENTATION_TRANSPOSE = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}

class _EncodeCache:
    """A bounded LRU of encoded images, safe to share with the chat panel's worker thread."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, EncodedImage] = OrderedDict()
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = self.nbytes = 0

    def get(self, key: Hashable) -> EncodedImage | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, value: EncodedImage) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self.nbytes += len(value.url)
            while len(self._items) > self.max_entries or self.nbytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.nbytes -= len(dropped.url)

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self.hits, self.misses, len(self._items), self.nbytes)

_CACHE = _EncodeCache(CACHE_MAX_ENTRIES, CACHE_MAX_BYTES)

def cache_info() -> CacheInfo:
    """Hits, misses, entries and data-URL bytes of the session's encode cache."""
    return _CACHE.info()

def clear_cache() -> None:
    """Forget every encoded image and reset the counters."""
    _CACHE.clear()

def cached(key: Hashable, label: str, encode: Callable[[], EncodedImage]) -> EncodedImage:
    found = _CACHE.get(key)
    if found is None:
        found = encode()
        _CACHE.put(key, found)
    # The same pixels may arrive from another source; messages should name this one.
    return found if found.source == label else replace(found, source=label)

def encode_file(
    file: Path | io.BytesIO,
    nbytes: int,
    read_original: Callable[[], bytes],
    label: str,
    limits: Limits,
    prefer_png: bool = False,
) -> EncodedImage:
    """Send a JPEG/PNG within limits as its own bytes; decode and re-encode anything else."""
    Image = pillow()
    with pillow_errors(label), Image.open(file) as image:
        mime = PASSTHROUGH_MIMES.get(image.format)
        if (
            mime
            and nbytes <= limits.max_bytes
            and max(image.size) <= limits.max_side
            and not getattr(image, "is_animated", False)
            and image.mode != "CMYK"  # many decoders get CMYK JPEG colours wrong
        ):
            image.load()  # a corrupt file fails here instead of failing the whole request
            if exif_orientation(image) == 1:
                return EncodedImage(data_url(read_original(), mime), mime, *image.size, nbytes, label)
        return encode_pil(image, label, limits, own=True, prefer_png=prefer_png)

def encode_pil(
    image: Any,
    label: str,
    limits: Limits,
    *,
    own: bool,
    prefer_png: bool = False,
    notes: list[str] | None = None,
) -> EncodedImage:
    """Decode (fast JPEG draft when we own the image), fix mode, size and orientation, encode."""
    Image = pillow()
    notes = [] if notes is None else notes
    if 0 in image.size:
        raise image_error(label, "is empty (0 pixels)")
    if getattr(image, "is_animated", False):
        notes.append("animated: only the first frame is sent")
    orientation = exif_orientation(image)
    original = image.size[::-1] if orientation >= 5 else image.size
    target = _fit(image.size, limits.max_side)
    if own and target != image.size and image.format in ("JPEG", "MPO"):
        # libjpeg decodes straight to 1/2, 1/4 or 1/8 scale: a fraction of a full decode's work
        # and memory. A scale just short of the target (a 4032-pixel photo halved to 2016 for
        # 2048) is taken as it is: a few percent fewer pixels instead of a full-size decode.
        image.draft(None, (max(1, int(target[0] * DRAFT_SLACK)),
                           max(1, int(target[1] * DRAFT_SLACK))))
        if image.size[0] < target[0]:
            target = image.size
    image = _standard_mode(image, notes)
    if image.size != target:
        image = _resize(image, target)
    if orientation != 1:
        image = image.transpose(getattr(Image.Transpose, ORIENTATION_TRANSPOSE[orientation]))
        notes.append("EXIF orientation applied")
    if image.size != original:
        notes.append(f"resized from {original[0]}×{original[1]} to {image.width}×{image.height}")
    if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema() == (255, 255):
        image = image.convert(image.mode[:-1])  # opaque after all: may still go as JPEG
    graphic = prefer_png or image.mode in ("RGBA", "LA") or _looks_like_graphic(image)
    return _save_within(image, "PNG" if graphic else "JPEG", label, limits, notes)

def _standard_mode(image: Any, notes: list[str]) -> Any:
    """The image in L, LA, RGB or RGBA, 8 bits per channel."""
    mode = image.mode
    if mode in ("P", "PA", "L", "RGB") and "transparency" in image.info:
        return image.convert("RGBA")
    if mode in ("L", "LA", "RGB", "RGBA"):
        image.load()
        return image
    if mode == "P":
        return image.convert("RGB")
    if mode in ("1", "La"):
        return image.convert("L" if mode == "1" else "LA")
    if mode in ("PA", "RGBa"):
        return image.convert("RGBA")
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _scale_to_l(image, notes)
    notes.append(f"converted from {mode} to RGB")
    return image.convert("RGB")

def _scale_to_l(image: Any, notes: list[str]) -> Any:
    """16-bit, 32-bit and float greys to 8 bits: full 16-bit range, [0, 1], or min..max."""
    low, high = image.getextrema()
    if image.mode.startswith("I;16"):
        scale, offset = 255 / 65535, 0.0
        notes.append("16-bit values scaled to 8 bits")
    elif image.mode == "F" and low >= 0 and high <= 1:
        scale, offset = 255.0, 0.0
    elif low >= 0 and high <= 255:
        scale, offset = 1.0, 0.0
    else:
        scale = 255 / (high - low) if high > low else 1.0
        offset = -low * scale
        notes.append(f"values {low:g}..{high:g} stretched to 0..255")
    return image.convert("F").point(lambda v: v * scale + offset + 0.5).convert("L")

def _resize(image: Any, size: tuple[int, int]) -> Any:
    """Bicubic resize; a big image as top and bottom bands in parallel, seamlessly (box=)."""
    from concurrent.futures import ThreadPoolExecutor

    Image = pillow()
    image.load()  # once, before two threads touch it
    if image.width * image.height < PARALLEL_RESIZE_PIXELS or (os.cpu_count() or 1) < 2:
        return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    width, height = size
    middle, scale = height // 2, image.height / height

    def band(top: int, bottom: int) -> Any:
        box = (0, top * scale, image.width, bottom * scale)
        return image.resize((width, bottom - top), Image.Resampling.BICUBIC, box, 3.0)

    with ThreadPoolExecutor(1) as pool:
        lower = pool.submit(band, middle, height)
        upper = band(0, middle)
        result = Image.new(image.mode, size)
        result.paste(upper, (0, 0))
        result.paste(lower.result(), (0, middle))
    return result

def _looks_like_graphic(image: Any) -> bool:
    """Diagram, chart or screenshot (→ PNG) rather than a photo (→ JPEG), from a small sample."""
    Image = pillow()
    size = (min(image.width, SAMPLE_SIDE), min(image.height, SAMPLE_SIDE))
    sample = image.resize(size, Image.Resampling.NEAREST)
    colours = sample.getcolors(GRAPHIC_MAX_COLOURS)
    if colours is None:
        return False
    top = sorted((count for count, _ in colours), reverse=True)[:GRAPHIC_TOP_COLOURS]
    return sum(top) >= GRAPHIC_MIN_SHARE * size[0] * size[1]

def _save_within(image: Any, fmt: str, label: str, limits: Limits, notes: list[str]) -> EncodedImage:
    """Encode, shrinking the image until the file fits in limits.max_bytes."""
    Image = pillow()
    mime = f"image/{fmt.lower()}"
    for attempt in range(SHRINK_ATTEMPTS):
        buffer = io.BytesIO()
        if fmt == "JPEG":
            image.save(buffer, "JPEG", quality=JPEG_QUALITY)
        else:
            image.save(buffer, "PNG")
        data = buffer.getvalue()
        if len(data) <= limits.max_bytes:
            if attempt:
                notes.append(f"shrunk to {image.width}×{image.height} to fit the size limit")
            return EncodedImage(
                data_url(data, mime),
                mime,
                image.width,
                image.height,
                len(data),
                label,
                tuple(notes),
            )
        factor = min(0.9, 0.95 * (limits.max_bytes / len(data)) ** 0.5)
        size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
        image = image.resize(size, Image.Resampling.BICUBIC)
    raise image_error(label, f"cannot be made smaller than {size_text(limits.max_bytes)}")

def exif_orientation(image: Any) -> int:
    value = image.getexif().get(ORIENTATION_TAG, 1)
    return value if value in ORIENTATION_TRANSPOSE else 1

def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    if max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
