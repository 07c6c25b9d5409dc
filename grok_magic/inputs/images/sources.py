"""Where images come from: a PIL image, a numpy array, a matplotlib figure, bytes, a file object,
a path, an http(s), file: or data: URL — each read by what it is (local URLs downloaded with a
timeout and a size cap) and handed to images.encode. Also what counts as image-like and how a
source is named in messages."""

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
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from grok_magic.inputs.images.encode import cached, encode_file, encode_pil, exif_orientation
from grok_magic.inputs.images.limits import (
    ACCEPTED,
    DNS_TIMEOUT,
    FIGURE_DPI,
    LOCAL_HOST_SUFFIXES,
    MIN_IMAGE_LIKE_SIDE,
    NON_XAI_SUFFIXES,
    OCTET_STREAM_TYPES,
    EncodedImage,
    Limits,
    image_error,
    pillow,
    pillow_errors,
    size_text,
)


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
        return f"bytes ({size_text(getattr(obj, 'nbytes', len(obj)))})"
    if isinstance(obj, str):
        text = obj.strip()
        lowered = text[:8].lower()
        if lowered.startswith("data:"):
            mime = text[5:].split(",", 1)[0].split(";", 1)[0] or "no type"
            return f"data URL ({mime}, {size_text(len(text) * 3 // 4)})"
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

def from_source(source: object, label: str, limits: Limits) -> EncodedImage:
    """Read a source by what it is and encode it (see grok_magic.inputs.images.encode_image)."""
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
    raise image_error(label, f"is not an image; pass {ACCEPTED}")

def _from_pil(image: Any, label: str, limits: Limits) -> EncodedImage:
    frame = image.tell()
    with pillow_errors(label):
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
                exif_orientation(image),
                limits[:2],
            )
            return cached(key, label, lambda: encode_pil(image, label, limits, own=False))
        finally:
            if frame:
                image.seek(frame)

def _from_array(array: Any, label: str, limits: Limits) -> EncodedImage:
    problem = _array_problem(array)
    if problem:
        raise image_error(label, problem)
    np = sys.modules["numpy"]
    array = np.ascontiguousarray(array)
    key = ("array", array.shape, array.dtype.str, hashlib.sha256(array).hexdigest(), limits[:2])

    def encode() -> EncodedImage:
        notes: list[str] = []
        image = _array_to_pil(array, label, notes)
        with pillow_errors(label):
            return encode_pil(image, label, limits, own=True, notes=notes)

    return cached(key, label, encode)

def _from_figure(figure: Any, label: str, limits: Limits) -> EncodedImage:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    except (ValueError, RuntimeError) as exc:  # e.g. bad mathtext or a missing LaTeX
        raise image_error(label, f"could not be drawn by matplotlib ({exc}); fix the plot") from exc
    # Figures are re-drawn each time (they may have changed); the PNG's hash finds the cached part.
    return _from_bytes(buffer.getvalue(), label, limits, prefer_png=True)

def _from_bytes(data: bytes, label: str, limits: Limits, prefer_png: bool = False) -> EncodedImage:
    if not data:
        raise image_error(label, "is empty (0 bytes); pass the image's contents")
    key = ("bytes", hashlib.sha256(data).hexdigest(), prefer_png, limits[:2])
    return cached(
        key,
        label,
        lambda: encode_file(io.BytesIO(data), len(data), lambda: data, label, limits, prefer_png),
    )

def _from_file_object(file: Any, label: str, limits: Limits) -> EncodedImage:
    seekable = getattr(file, "seekable", None)
    start = file.tell() if callable(seekable) and seekable() else None
    data = file.read()
    if start is not None:
        file.seek(start)  # left as found, so the same object can be sent again
    if isinstance(data, str):
        raise image_error(label, "was opened in text mode; open the image with open(path, 'rb')")
    if not data:
        raise image_error(label, "gave no bytes; if it was read already, call .seek(0) first")
    return _from_bytes(bytes(data), label, limits)

def _from_string(text: str, label: str, limits: Limits) -> EncodedImage:
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

def _from_path(path: Path, label: str, limits: Limits) -> EncodedImage:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise image_error(label, f"was not found; check the path (relative to {Path.cwd()})") from None
    except (OSError, ValueError) as exc:
        raise image_error(label, f"cannot be read ({exc}); check the path") from exc
    if stat.S_ISDIR(info.st_mode):
        raise image_error(label, "is a folder; name an image file inside it")
    key = ("file", str(path.resolve()), info.st_mtime_ns, info.st_size, limits[:2])
    return cached(key, label, lambda: encode_file(path, info.st_size, path.read_bytes, label, limits))

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
            raise image_error(label, "contains NaN or infinity; replace them (np.nan_to_num) first")
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
            raise image_error(label, f"has values {low}..{high}; scale them to uint8 0..255 or float 0..1")
        array = array.astype(np.uint8)
    return pillow().fromarray(np.ascontiguousarray(array))

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

def _download(url: str, label: str, limits: Limits) -> bytes:
    """Fetch a local URL for inlining: timeout, size cap, image content type only."""
    import requests

    cap = limits.max_download_bytes
    too_large = f"is larger than {size_text(cap)}; save a smaller image or raise the limit"
    session = requests.Session()
    session.trust_env = False  # the address is local: a proxy from the environment cannot reach it
    try:
        with session.get(url, stream=True, timeout=limits.timeout) as response:
            if response.status_code >= 400:
                raise image_error(label, f"download failed: HTTP {response.status_code} {response.reason}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type and not (content_type.startswith("image/") or content_type in OCTET_STREAM_TYPES):
                raise image_error(label, f"returned {content_type}, not an image; check the URL")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise image_error(label, too_large)
            chunks, total = [], 0
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > cap:
                    raise image_error(label, too_large)
                chunks.append(chunk)
    except requests.RequestException as exc:
        raise image_error(label, f"download failed ({exc}); check that the server is running") from exc
    finally:
        session.close()
    return b"".join(chunks)

def _file_url_path(url: str, label: str) -> Path:
    from urllib.request import url2pathname

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise image_error(label, f"names another machine ({parts.netloc}); copy the file here")
    return Path(url2pathname(parts.path))

def _data_url_bytes(url: str, label: str) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma:
        raise image_error(label, "is not a valid data: URL (no comma before the data)")
    if not header.lower().endswith(";base64"):
        return unquote_to_bytes(payload)
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except binascii.Error as exc:
        raise image_error(label, f"has damaged base64 ({exc})") from exc

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

def _shorten(text: str, limit: int = 60, keep: str = "end") -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if keep == "start" else "…" + text[-(limit - 1) :]
