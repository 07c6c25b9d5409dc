"""Anything image-like (PIL, numpy, matplotlib, bytes, files, URLs) -> an xAI JPEG/PNG image part."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import os
import socket
import stat
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote_to_bytes, urlsplit

from grok_magic.errors import ImageError

DEFAULT_MAX_IMAGE_SIDE = 2048
# xAI's docs now say 20 MiB per image; older docs and the SDK say 10 MiB, so stay under both.
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT = 10.0
# getaddrinfo has no timeout of its own; a slow resolver must not hang the cell.
DNS_TIMEOUT = 2.0
JPEG_QUALITY = 90
FIGURE_DPI = 150
DETAILS = ("auto", "low", "high")
PASSTHROUGH_MIMES = {"JPEG": "image/jpeg", "PNG": "image/png"}
OCTET_STREAM_TYPES = ("application/octet-stream", "binary/octet-stream")
# Names that never resolve to an address xAI's servers could reach.
LOCAL_HOST_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
NON_XAI_SUFFIXES = (".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".avif", ".svg")
# Photo or diagram: a diagram sampled on a small grid shows few colours, most pixels in a handful.
SAMPLE_SIDE = 128
GRAPHIC_MAX_COLOURS = 256
GRAPHIC_TOP_COLOURS = 16
GRAPHIC_MIN_SHARE = 0.5
SHRINK_ATTEMPTS = 8
# Above this many source pixels a resize runs as two bands on two threads (Pillow drops the GIL).
PARALLEL_RESIZE_PIXELS = 4_000_000
MIN_IMAGE_LIKE_SIDE = 16
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
        _check_detail(detail, self.source)
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


class _Limits(NamedTuple):
    max_side: int
    max_bytes: int
    max_download_bytes: int
    timeout: float


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
    _check_detail(detail, describe_source(source))
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
    limits = _Limits(max_side, max_bytes, max_download_bytes, timeout)
    label = describe_source(source)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(source, pil.Image):
        return _from_pil(source, label, limits)
    if _ndarray(source):
        return _from_array(source, label, limits)
    figure = _figure_of(source)
    if figure is not None:
        return _from_figure(figure, label, limits)
    if isinstance(source, bytes | bytearray | memoryview):
        return _from_bytes(bytes(source), label, limits)
    if isinstance(source, str):
        return _from_string(source.strip(), label, limits)
    if isinstance(source, os.PathLike):
        return _from_path(Path(source).expanduser(), label, limits)
    if hasattr(source, "read"):
        return _from_file_object(source, label, limits)
    raise _error(label, f"is not an image; pass {ACCEPTED}")


def describe_source(obj: object) -> str:
    """A short label for messages, e.g. "PIL image 640×480 RGB" or "file 'photo.jpg'"."""
    if isinstance(obj, EncodedImage):
        return obj.source
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(obj, pil.Image):
        return f"PIL image {obj.width}×{obj.height} {obj.mode}"
    if _ndarray(obj):
        return f"numpy array {tuple(obj.shape)} {obj.dtype}"
    figure = _figure_of(obj)
    if figure is not None:
        width, height = (round(float(v) * figure.dpi) for v in figure.get_size_inches())
        kind = "axes" if hasattr(obj, "plot") else "figure"
        return f"matplotlib {kind} ({width}×{height} figure)"
    if isinstance(obj, bytes | bytearray | memoryview):
        return f"bytes ({_size_text(getattr(obj, 'nbytes', len(obj)))})"
    if isinstance(obj, str):
        text = obj.strip()
        lowered = text[:8].lower()
        if lowered.startswith("data:"):
            mime = text[5:].split(",", 1)[0].split(";", 1)[0] or "no type"
            return f"data URL ({mime}, {_size_text(len(text) * 3 // 4)})"
        if lowered.startswith(("http://", "https://", "file:")):
            return f"URL {_shorten(text, keep='start')}"
        return f"file {_shorten(text)!r}"
    if isinstance(obj, os.PathLike):
        return f"file {_shorten(os.fspath(obj))!r}"
    if hasattr(obj, "read"):
        name = getattr(obj, "name", None)
        return f"file object {_shorten(name)!r}" if isinstance(name, str) else "file object"
    return f"{type(obj).__name__} object"


def is_image_like(obj: object) -> bool:
    """True for PIL images, matplotlib Figure/Axes and numpy arrays shaped like pictures.

    Arrays count when H×W×3/4 (uint8, uint16, float or bool), or H×W / H×W×1 in uint8 or bool,
    with both sides at least MIN_IMAGE_LIKE_SIDE: a 2-D float array is usually data, not a picture.
    """
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(obj, pil.Image):
        return True
    if _figure_of(obj) is not None:
        return True
    if not _ndarray(obj) or _array_problem(obj) or min(obj.shape[:2]) < MIN_IMAGE_LIKE_SIDE:
        return False
    kind, size = obj.dtype.kind, obj.dtype.itemsize
    if obj.ndim == 3 and obj.shape[2] in (3, 4):
        return kind in "bf" or (kind == "u" and size <= 2)
    return kind == "b" or (kind == "u" and size == 1)


def is_local_url(url: str) -> bool:
    """True when only this machine can reach the URL (file:, localhost, private addresses).

    A host name that does not resolve counts as public: xAI's servers may still know it.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return True
    host = (parts.hostname or "").rstrip(".").lower()
    try:
        return _is_local_address(ipaddress.ip_address(host))
    except ValueError:
        pass
    # A public name always has a dot; "nas" or "printer" can only be an intranet name.
    if not host or host == "localhost" or host.endswith(LOCAL_HOST_SUFFIXES) or "." not in host:
        return True
    addresses = _resolve(host)
    return bool(addresses) and all(
        _is_local_address(ipaddress.ip_address(a.split("%", 1)[0])) for a in addresses
    )


# --- sources -------------------------------------------------------------------------------------


def _from_pil(image: Any, label: str, limits: _Limits) -> EncodedImage:
    frame = image.tell()
    with _pillow_errors(label):
        try:
            if frame:
                image.seek(0)
            image.load()
            digest = hashlib.sha256(image.tobytes())
            palette = image.getpalette()
            if palette:
                digest.update(bytes(palette))
            key = (
                "pil",
                image.mode,
                image.size,
                digest.hexdigest(),
                repr(image.info.get("transparency")),
                _orientation(image),
                limits[:2],
            )
            return _cached(key, label, lambda: _encode_pil(image, label, limits, own=False))
        finally:
            if frame:
                image.seek(frame)


def _from_array(array: Any, label: str, limits: _Limits) -> EncodedImage:
    problem = _array_problem(array)
    if problem:
        raise _error(label, problem)
    np = sys.modules["numpy"]
    array = np.ascontiguousarray(array)
    key = ("array", array.shape, array.dtype.str, hashlib.sha256(array).hexdigest(), limits[:2])

    def encode() -> EncodedImage:
        notes: list[str] = []
        image = _array_to_pil(array, label, notes)
        with _pillow_errors(label):
            return _encode_pil(image, label, limits, own=True, notes=notes)

    return _cached(key, label, encode)


def _from_figure(figure: Any, label: str, limits: _Limits) -> EncodedImage:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    except (ValueError, RuntimeError) as exc:  # e.g. bad mathtext or a missing LaTeX
        raise _error(label, f"could not be drawn by matplotlib ({exc}); fix the plot") from exc
    # Figures are re-drawn each time (they may have changed); the PNG's hash finds the cached part.
    return _from_bytes(buffer.getvalue(), label, limits, prefer_png=True)


def _from_bytes(data: bytes, label: str, limits: _Limits, prefer_png: bool = False) -> EncodedImage:
    if not data:
        raise _error(label, "is empty (0 bytes); pass the image's contents")
    key = ("bytes", hashlib.sha256(data).hexdigest(), prefer_png, limits[:2])
    return _cached(
        key,
        label,
        lambda: _encode_file(io.BytesIO(data), len(data), lambda: data, label, limits, prefer_png),
    )


def _from_file_object(file: Any, label: str, limits: _Limits) -> EncodedImage:
    seekable = getattr(file, "seekable", None)
    start = file.tell() if callable(seekable) and seekable() else None
    data = file.read()
    if start is not None:
        file.seek(start)  # left as found, so the same object can be sent again
    if isinstance(data, str):
        raise _error(label, "was opened in text mode; open the image with open(path, 'rb')")
    if not data:
        raise _error(label, "gave no bytes; if it was read already, call .seek(0) first")
    return _from_bytes(bytes(data), label, limits)


def _from_string(text: str, label: str, limits: _Limits) -> EncodedImage:
    lowered = text[:8].lower()
    if lowered.startswith("data:"):
        return _from_bytes(_data_url_bytes(text, label), label, limits)
    if lowered.startswith("file:"):
        return _from_path(_file_url_path(text, label), label, limits)
    if lowered.startswith(("http://", "https://")):
        if not is_local_url(text):
            suffix = os.path.splitext(urlsplit(text).path)[1].lower()
            notes = ()
            if suffix in NON_XAI_SUFFIXES:
                notes = (f"xAI accepts only JPEG and PNG, and this URL looks like a {suffix} file",)
            return EncodedImage(text, None, None, None, None, label, notes)
        return _from_bytes(_download(text, label, limits), label, limits)
    return _from_path(Path(text).expanduser(), label, limits)


def _from_path(path: Path, label: str, limits: _Limits) -> EncodedImage:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _error(label, f"was not found; check the path (relative to {Path.cwd()})") from None
    except (OSError, ValueError) as exc:
        raise _error(label, f"cannot be read ({exc}); check the path") from exc
    if stat.S_ISDIR(info.st_mode):
        raise _error(label, "is a folder; name an image file inside it")
    key = ("file", str(path.resolve()), info.st_mtime_ns, info.st_size, limits[:2])
    return _cached(key, label, lambda: _encode_file(path, info.st_size, path.read_bytes, label, limits))


# --- encoding ------------------------------------------------------------------------------------


def _encode_file(
    file: Path | io.BytesIO,
    nbytes: int,
    read_original: Callable[[], bytes],
    label: str,
    limits: _Limits,
    prefer_png: bool = False,
) -> EncodedImage:
    """Send a JPEG/PNG within limits as its own bytes; decode and re-encode anything else."""
    Image = _pil()
    with _pillow_errors(label), Image.open(file) as image:
        mime = PASSTHROUGH_MIMES.get(image.format)
        if (
            mime
            and nbytes <= limits.max_bytes
            and max(image.size) <= limits.max_side
            and not getattr(image, "is_animated", False)
            and image.mode != "CMYK"  # many decoders get CMYK JPEG colours wrong
        ):
            image.load()  # a corrupt file fails here instead of failing the whole request
            if _orientation(image) == 1:
                return EncodedImage(_data_url(read_original(), mime), mime, *image.size, nbytes, label)
        return _encode_pil(image, label, limits, own=True, prefer_png=prefer_png)


def _encode_pil(
    image: Any,
    label: str,
    limits: _Limits,
    *,
    own: bool,
    prefer_png: bool = False,
    notes: list[str] | None = None,
) -> EncodedImage:
    """Decode (fast JPEG draft when we own the image), fix mode, size and orientation, encode."""
    Image = _pil()
    notes = [] if notes is None else notes
    if 0 in image.size:
        raise _error(label, "is empty (0 pixels)")
    if getattr(image, "is_animated", False):
        notes.append("animated: only the first frame is sent")
    orientation = _orientation(image)
    original = image.size[::-1] if orientation >= 5 else image.size
    target = _fit(image.size, limits.max_side)
    if own and target != image.size and image.format in ("JPEG", "MPO"):
        # libjpeg decodes straight to 1/2, 1/4 or 1/8 scale: a fraction of a full decode's work.
        image.draft(None, target)
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

    Image = _pil()
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
    Image = _pil()
    size = (min(image.width, SAMPLE_SIDE), min(image.height, SAMPLE_SIDE))
    sample = image.resize(size, Image.Resampling.NEAREST)
    colours = sample.getcolors(GRAPHIC_MAX_COLOURS)
    if colours is None:
        return False
    top = sorted((count for count, _ in colours), reverse=True)[:GRAPHIC_TOP_COLOURS]
    return sum(top) >= GRAPHIC_MIN_SHARE * size[0] * size[1]


def _save_within(image: Any, fmt: str, label: str, limits: _Limits, notes: list[str]) -> EncodedImage:
    """Encode, shrinking the image until the file fits in limits.max_bytes."""
    Image = _pil()
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
                _data_url(data, mime),
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
    raise _error(label, f"cannot be made smaller than {_size_text(limits.max_bytes)}")


def _array_to_pil(array: Any, label: str, notes: list[str]) -> Any:
    """uint8 as is, bool as 0/255, float [0, 1] scaled, uint16 full range, other ints if 0..255."""
    np = sys.modules["numpy"]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    kind = array.dtype.kind
    if kind == "b":
        array = array.astype(np.uint8) * 255
    elif kind == "f":
        if not np.isfinite(array).all():
            raise _error(label, "contains NaN or infinity; replace them (np.nan_to_num) first")
        low, high = float(array.min()), float(array.max())
        if array.ndim == 2 and (low < 0 or high > 1):
            array = (array - low) / (high - low) if high > low else np.zeros_like(array)
            notes.append(f"values {low:g}..{high:g} stretched to 0..1")
        elif low < 0 or high > 1:
            array = np.clip(array, 0, 1)
            notes.append("values outside 0..1 clipped")
        array = (array * 255 + 0.5).astype(np.uint8)
    elif array.dtype == np.uint16:
        array = (array // 257).astype(np.uint8)
        notes.append("16-bit values scaled to 8 bits")
    elif array.dtype != np.uint8:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise _error(label, f"has values {low}..{high}; scale them to uint8 0..255 or float 0..1")
        array = array.astype(np.uint8)
    return _pil().fromarray(np.ascontiguousarray(array))


def _array_problem(array: Any) -> str | None:
    """Why an array cannot be a picture, or None."""
    shape = tuple(array.shape)
    if not (array.ndim == 2 or (array.ndim == 3 and shape[2] in (1, 3, 4))):
        hint = ""
        if array.ndim == 3 and shape[0] in (1, 3, 4):
            hint = "; channels first? use array.transpose(1, 2, 0)"
        return f"has shape {shape}; an image is H×W (grey), H×W×3 (RGB) or H×W×4 (RGBA){hint}"
    if 0 in shape:
        return "is empty"
    if array.dtype.kind not in "buif":
        return f"has dtype {array.dtype}; use uint8 (0..255), float (0..1) or bool"
    return None


# --- URLs and downloads --------------------------------------------------------------------------


def _is_local_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    # not is_global adds shared address space (100.64/10, e.g. Tailscale) to the named ranges.
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or not address.is_global
    )


def _resolve(host: str) -> list[str]:
    """Addresses of host, or [] when it does not resolve within DNS_TIMEOUT."""
    found: list[str] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        found.extend(str(info[4][0]) for info in infos)

    worker = threading.Thread(target=lookup, name="grok-dns", daemon=True)
    worker.start()
    worker.join(DNS_TIMEOUT)
    return list(found) if not worker.is_alive() else []


def _download(url: str, label: str, limits: _Limits) -> bytes:
    """Fetch a local URL for inlining: timeout, size cap, image content type only."""
    import requests

    cap = limits.max_download_bytes
    too_large = f"is larger than {_size_text(cap)}; save a smaller image or raise the limit"
    session = requests.Session()
    session.trust_env = False  # the address is local: a proxy from the environment cannot reach it
    try:
        with session.get(url, stream=True, timeout=limits.timeout) as response:
            if response.status_code >= 400:
                raise _error(label, f"download failed: HTTP {response.status_code} {response.reason}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type and not (content_type.startswith("image/") or content_type in OCTET_STREAM_TYPES):
                raise _error(label, f"returned {content_type}, not an image; check the URL")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise _error(label, too_large)
            chunks, total = [], 0
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > cap:
                    raise _error(label, too_large)
                chunks.append(chunk)
    except requests.RequestException as exc:
        raise _error(label, f"download failed ({exc}); check that the server is running") from exc
    finally:
        session.close()
    return b"".join(chunks)


def _file_url_path(url: str, label: str) -> Path:
    from urllib.request import url2pathname

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _error(label, f"names another machine ({parts.netloc}); copy the file here")
    return Path(url2pathname(parts.path))


def _data_url_bytes(url: str, label: str) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma:
        raise _error(label, "is not a valid data: URL (no comma before the data)")
    if not header.lower().endswith(";base64"):
        return unquote_to_bytes(payload)
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except binascii.Error as exc:
        raise _error(label, f"has damaged base64 ({exc})") from exc


# --- small helpers -------------------------------------------------------------------------------


def _cached(key: Hashable, label: str, encode: Callable[[], EncodedImage]) -> EncodedImage:
    found = _CACHE.get(key)
    if found is None:
        found = encode()
        _CACHE.put(key, found)
    # The same pixels may arrive from another source; messages should name this one.
    return found if found.source == label else replace(found, source=label)


@contextmanager
def _pillow_errors(label: str) -> Iterator[None]:
    """Pillow's decoding failures as an ImageError naming the source."""
    Image = _pil()
    try:
        yield
    except Image.DecompressionBombError as exc:
        raise _error(label, f"has too many pixels ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise _error(
            label, "is not an image Pillow can read; use JPEG or PNG (GIF, WebP, BMP, TIFF work too)"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _error(label, f"could not be decoded ({exc}); the file may be corrupt") from exc


def _pil() -> Any:
    from PIL import Image

    return Image


def _ndarray(obj: object) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, numpy.ndarray)


def _figure_of(obj: object) -> Any:
    """The root matplotlib Figure of a Figure, SubFigure or Axes; None for anything else."""
    figures, axes = sys.modules.get("matplotlib.figure"), sys.modules.get("matplotlib.axes")
    if figures is None or axes is None or not isinstance(obj, figures.FigureBase | axes.Axes):
        return None
    for _ in range(8):  # Axes -> SubFigure -> ... -> Figure
        if isinstance(obj, figures.Figure):
            return obj
        obj = getattr(obj, "figure", None)
    return None


def _orientation(image: Any) -> int:
    value = image.getexif().get(ORIENTATION_TAG, 1)
    return value if value in ORIENTATION_TRANSPOSE else 1


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    if max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _check_detail(detail: str | None, label: str) -> None:
    if detail is not None and detail not in DETAILS:
        raise _error(label, f"cannot be sent with detail={detail!r}; use 'auto', 'low' or 'high'")


def _error(label: str, reason: str) -> ImageError:
    return ImageError(f"{label} {reason}", source=label)


def _size_text(nbytes: int) -> str:
    if nbytes < 1024:
        return f"{nbytes} bytes"
    if nbytes < 1024 * 1024:
        return f"{nbytes / 1024:.1f} KiB"
    return f"{nbytes / 1024 / 1024:.1f} MiB"


def _shorten(text: str, limit: int = 60, keep: str = "end") -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if keep == "start" else "…" + text[-(limit - 1) :]
