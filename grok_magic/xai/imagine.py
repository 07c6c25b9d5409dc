"""xAI's Imagine API: image generation and editing, video jobs — the bodies, checked before
anything is sent, and the answers read.

- `POST /v1/images/generations` `{"model", "prompt", "n"?: 1–10, "response_format"?: "url" |
  "b64_json", "aspect_ratio"?, "resolution"?: "1k" | "2k"}` → `{"data": [{"url" | "b64_json",
  "revised_prompt"?}], "usage"?: {"cost_in_usd_ticks"}}`; `size` and `style` are refused.
- `POST /v1/images/edits`: the same, with the reference image as `"image": {"url", "type":
  "image_url"}` (JSON, not multipart). xAI takes up to three; the field for more than one
  (`"images": [...]`) is unconfirmed, so one reference goes as `image`, several as `images`.
- `POST /v1/videos/generations` `{"model", "prompt", "image"?: {"url"}, "duration"?,
  "resolution"?: "480p" | "720p", "aspect_ratio"?}` → `{"request_id"}`; `GET /v1/videos/{id}`
  → `{"status": "pending" | "done" | "failed" | "expired", "progress"?, "video"?: {"url",
  "duration"}, "usage"?}`.

Generated files sit at temporary URLs on another host: `xai.downloads` fetches them, without
the key. Whether image answers carry `usage` is unconfirmed: without it the cost is the
built-in table's, marked as an estimate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from grok_magic.errors import InputError, UnexpectedResponseError
from grok_magic.safety.redaction import redact
from grok_magic.xai.pricing import USD_TICKS, imagine_cost
from grok_magic.xai.response import Response, Usage
from grok_magic.xai.transport import request_id_of

DEFAULT_IMAGE_MODEL = "grok-imagine-image"
DEFAULT_VIDEO_MODEL = "grok-imagine-video"
IMAGE_ENDPOINTS = {"generate": "/images/generations", "edit": "/images/edits"}
VIDEO_ENDPOINT = "/videos/generations"
MAX_IMAGES = 10
MAX_REFERENCES = 3
MAX_PROMPT_CHARS = 8_000
ASPECTS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "2:1", "1:2", "19.5:9", "9:19.5",
           "20:9", "9:20", "auto")
RESOLUTIONS = ("1k", "2k")
VIDEO_RESOLUTIONS = ("480p", "720p")
VIDEO_SECONDS = (1, 15)
DEFAULT_VIDEO_SECONDS = 6  # what xAI makes when no duration is given
RESPONSE_FORMATS = ("url", "b64_json")
VIDEO_STATES = ("pending", "done", "failed", "expired")
IMAGE_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def media_type_of(data: bytes) -> str | None:
    """The image type `data` holds by its first bytes (PNG or JPEG), else None."""
    return next((kind for kind, magic in IMAGE_TYPES.items() if data.startswith(magic)), None)


@dataclass
class Picture:
    """One generated image: its bytes once fetched (`data`), what xAI rewrote the prompt into,
    and, until fetched, where xAI put it (`url`: temporary, never shown or kept)."""

    revised_prompt: str = ""
    url: str | None = field(default=None, repr=False)
    data: bytes | None = field(default=None, repr=False)
    media_type: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else None

    def to_pil(self):
        """The image as a PIL image (loaded: it keeps no file open)."""
        import io

        from PIL import Image

        with Image.open(io.BytesIO(self.data)) as image:
            image.load()
            return image.copy() if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")

    def record(self) -> dict:
        """What the ledger keeps of it (the bytes go to the media folder, by hash)."""
        return {"kind": "image", "sha256": self.sha256, "media_type": self.media_type,
                "bytes": len(self.data or b""), "width": self.width, "height": self.height,
                "revised_prompt": self.revised_prompt}


@dataclass
class ImageResponse(Response):
    """Images xAI made for one request, as a Response (counted, priced and recorded like an
    answer): `pictures` in order; the cost is xAI's ticks when sent, else the built-in
    table's price per image (and per reference image), an estimate."""

    pictures: list = field(default_factory=list)
    references: int = 0
    count: int = 0  # images asked for
    kind: str = "image"  # "image" or "video"
    seconds: float = 0.0  # of video

    @property
    def images(self) -> list:
        """The pictures that arrived, as PIL images."""
        return [p.to_pil() for p in self.pictures if p.data is not None]

    @property
    def revised_prompts(self) -> list[str]:
        return [p.revised_prompt for p in self.pictures]

    @property
    def made(self) -> int:
        """Images xAI made (billed, whether or not each could be fetched)."""
        return len(self.pictures) or self.count

    @property
    def estimate(self) -> float | None:
        model = self.model or self.requested_model
        if self.kind == "video":
            return imagine_cost(model, seconds=self.seconds)
        return imagine_cost(model, images=self.made, references=self.references)

    @property
    def cost(self) -> float | None:
        if self.replay_of is not None:
            return 0.0
        if self.usage is not None and self.usage.cost_in_usd_ticks is not None:
            return self.usage.cost_in_usd_ticks / USD_TICKS
        return self.estimate

    @property
    def cost_exact(self) -> bool:
        return self.replay_of is not None or (
            self.usage is not None and self.usage.cost_in_usd_ticks is not None)

    @property
    def cost_source(self) -> str | None:
        from grok_magic.xai.pricing import BUILTIN_SOURCE, EXACT_SOURCE

        if self.replay_of is not None or self.cost is None:
            return None
        return EXACT_SOURCE if self.cost_exact else BUILTIN_SOURCE

    @property
    def billed_usage(self) -> Usage | None:
        return self.usage

    @property
    def cache_saving(self) -> float | None:
        return None

    def summary(self) -> str:
        """ "2 images", "1 image", "a 5 s video"."""
        if self.kind == "video":
            return f"a {self.seconds:g} s video"
        return f"{self.made} image{'s' if self.made != 1 else ''}"


# -- bodies ------------------------------------------------------------------------------------
def _choice(value: str | None, allowed: Sequence[str], option: str) -> str | None:
    if value is None:
        return None
    wanted = value.strip().lower()
    if wanted not in allowed:
        raise InputError(f"{option} {value!r} is not one xAI takes",
                         hint=f"Use one of: {', '.join(allowed)}.")
    return wanted


def _prompt(prompt: str) -> str:
    prompt = prompt.strip()
    if not prompt:
        raise InputError("the cell has no prompt: nothing was sent",
                         hint="Write what the picture should show in the cell, below the "
                              "%%grok line.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"the prompt is {len(prompt):,} characters, and xAI takes at most "
                         f"{MAX_PROMPT_CHARS:,}: nothing was sent", hint="Shorten it.")
    return prompt


def image_body(prompt: str, *, model: str = DEFAULT_IMAGE_MODEL, count: int = 1,
               aspect: str | None = None, resolution: str | None = None,
               references: Sequence[str] = (), response_format: str = "url") -> dict:
    """The body of a generation (no `references`) or an edit (1–3 reference image URLs: data
    URIs or public http(s) URLs). Raises InputError, naming the option, for what xAI refuses.

    >>> image_body("a red fox", count=2, aspect="16:9")  # doctest: +NORMALIZE_WHITESPACE
    {'model': 'grok-imagine-image', 'prompt': 'a red fox', 'n': 2,
     'response_format': 'url', 'aspect_ratio': '16:9'}
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_IMAGES:
        raise InputError(f"--count is {count!r}, and xAI makes 1 to {MAX_IMAGES} images a request",
                         hint=f"Use --count 1 to {MAX_IMAGES}.")
    if len(references) > MAX_REFERENCES:
        raise InputError(f"the cell holds {len(references)} images, and an edit takes at most "
                         f"{MAX_REFERENCES}: nothing was sent",
                         hint=f"Keep {MAX_REFERENCES} or fewer images in the cell.")
    body: dict = {"model": model, "prompt": _prompt(prompt), "n": count,
                  "response_format": _choice(response_format, RESPONSE_FORMATS, "response_format")}
    if aspect is not None:
        body["aspect_ratio"] = _choice(aspect, ASPECTS, "--aspect")
    if resolution is not None:
        body["resolution"] = _choice(resolution, RESOLUTIONS, "--resolution")
    parts = [{"url": url, "type": "image_url"} for url in references]
    if len(parts) == 1:
        body["image"] = parts[0]
    elif parts:
        body["images"] = parts
    return body


def video_body(prompt: str, *, model: str = DEFAULT_VIDEO_MODEL, seconds: int | None = None,
               resolution: str | None = None, aspect: str | None = None,
               image: str | None = None) -> dict:
    """The body of a video job: text-to-video, or image-to-video from `image` (a data URI)."""
    body: dict = {"model": model, "prompt": _prompt(prompt)}
    if seconds is not None:
        low, high = VIDEO_SECONDS
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
            raise InputError(f"--duration is {seconds!r}, and xAI makes videos of {low} to "
                             f"{high} seconds", hint=f"Use --duration {low} to {high}.")
        body["duration"] = seconds
    if resolution is not None:
        body["resolution"] = _choice(resolution, VIDEO_RESOLUTIONS, "--resolution")
    if aspect is not None:
        body["aspect_ratio"] = _choice(aspect, ASPECTS, "--aspect")
    if image is not None:
        body["image"] = {"url": image}
    return body


def references_of(body: Mapping) -> list[str]:
    """The reference image URLs an edit body sends."""
    parts = [body["image"]] if isinstance(body.get("image"), Mapping) else body.get("images") or []
    return [p.get("url") for p in parts if isinstance(p, Mapping) and isinstance(p.get("url"), str)]


def endpoint_of(body: Mapping) -> str:
    """Where an image body goes: an edit when it holds a reference image."""
    return IMAGE_ENDPOINTS["edit" if references_of(body) else "generate"]


def video_seconds(body: Mapping) -> int:
    seconds = body.get("duration")
    return seconds if isinstance(seconds, int) else DEFAULT_VIDEO_SECONDS


# -- answers -----------------------------------------------------------------------------------
def _ticks(data: Mapping) -> Usage | None:
    usage = data.get("usage")
    ticks = usage.get("cost_in_usd_ticks") if isinstance(usage, Mapping) else None
    if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 0:
        return None
    return Usage(cost_in_usd_ticks=ticks)


def _text(value: object, limit: int = MAX_PROMPT_CHARS * 2) -> str:
    return redact(value[:limit]) if isinstance(value, str) else ""


def read_images(data: object, body: Mapping, *, request_id: str | None = None) -> ImageResponse:
    """xAI's answer to an image request: each picture's URL (to fetch) or bytes (b64_json)."""
    items = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not items or len(items) > MAX_IMAGES:
        raise UnexpectedResponseError("xAI's answer to the image request holds no images",
                                      request_id=request_id)
    response = ImageResponse(requested_model=body.get("model"), count=int(body.get("n") or 1),
                             references=len(references_of(body)), request_id=request_id)
    response.model = _text(data.get("model"), 200) or body.get("model")
    response.usage = _ticks(data)
    for item in items:
        if not isinstance(item, Mapping):
            raise UnexpectedResponseError("xAI's answer lists an image that is not an object",
                                          request_id=request_id)
        picture = Picture(revised_prompt=_text(item.get("revised_prompt")))
        if isinstance(item.get("b64_json"), str):
            picture.data = _decoded(item["b64_json"], request_id)
        elif isinstance(item.get("url"), str):
            picture.url = item["url"]
        else:
            raise UnexpectedResponseError("xAI's answer lists an image with neither a URL nor "
                                          "data", request_id=request_id)
        response.pictures.append(picture)
    return response


def _decoded(payload: str, request_id: str | None) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise UnexpectedResponseError("xAI sent image data that is not base64",
                                      request_id=request_id) from None


@dataclass
class VideoState:
    """Where a video job stands, as xAI last said: status, progress (0–100, when said), and
    once done the video's URL (temporary), its length and xAI's cost."""

    request_id: str
    status: str = "pending"
    progress: int | None = None
    url: str | None = field(default=None, repr=False)
    seconds: float | None = None
    usage: Usage | None = None
    model: str | None = None
    error: str = ""

    @property
    def ended(self) -> bool:
        return self.status != "pending"


ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}\Z")


def read_video(data: object, request_id: str) -> VideoState:
    """A `GET /v1/videos/{id}` answer."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponseError("xAI's answer about the video job is not an object",
                                      request_id=request_id)
    status = data.get("status")
    video = data.get("video") if isinstance(data.get("video"), Mapping) else {}
    if status not in VIDEO_STATES:
        status = "done" if isinstance(video.get("url"), str) else "pending"
    state = VideoState(request_id, status=status, model=_text(data.get("model"), 200) or None,
                       usage=_ticks(data), error=_text(data.get("error"), 2_000))
    progress = data.get("progress")
    if isinstance(progress, int | float) and not isinstance(progress, bool) \
            and math.isfinite(progress):
        state.progress = max(0, min(100, int(progress)))
    if status == "done":
        if not isinstance(video.get("url"), str):
            raise UnexpectedResponseError("xAI says the video is done but gives no URL for it",
                                          request_id=request_id)
        state.url = video["url"]
        seconds = video.get("duration")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) \
                and 0 < seconds < 3600:
            state.seconds = float(seconds)
    return state


def request_id_from(data: object, http) -> str:
    """The job id a `POST /v1/videos/generations` answer gives."""
    job = data.get("request_id") if isinstance(data, Mapping) else None
    if not isinstance(job, str) or not ID_PATTERN.match(job):
        raise UnexpectedResponseError("xAI's answer to the video request has no job id",
                                      request_id=request_id_of(http))
    return job


# -- requests ----------------------------------------------------------------------------------
def request_images(client, body: Mapping, *, timeout: float | None = None) -> ImageResponse:
    """Send an image body (a generation, or an edit when it holds references) through
    `client` (a Transport: the key, retries before any answer, the usual redirect refusal);
    the pictures' bytes are still to be fetched (`xai.downloads.fetch_pictures`)."""
    started = Response().started
    http = client.send("POST", endpoint_of(body), body, timeout=timeout)
    data = client.read_json(http, "the answer", capped=True)
    response = read_images(data, body, request_id=request_id_of(http))
    response.started = started
    return response


def submit_video(client, body: Mapping, *, timeout: float | None = None) -> str:
    """Start a video job; its request id (poll it with `video_state`)."""
    http = client.send("POST", VIDEO_ENDPOINT, body, timeout=timeout)
    return request_id_from(client.read_json(http, "the answer"), http)


def video_state(client, request_id: str, *, timeout: float | None = 30.0) -> VideoState:
    """Where the video job `request_id` stands."""
    if not ID_PATTERN.match(request_id):
        raise InputError(f"{request_id!r} is not a video job id",
                         hint="Use the id the video cell showed (%grok videos lists them).")
    http = client.send("GET", f"/videos/{request_id}", timeout=timeout)
    return read_video(client.read_json(http, "the answer"), request_id)
