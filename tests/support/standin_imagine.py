"""The stand-in's Grok Imagine routes: `POST /v1/images/generations`, `POST /v1/images/edits`,
`POST /v1/videos/generations` and `GET /v1/videos/{request_id}`.

The contract, as far as xAI's behaviour is known (*unconfirmed* items are our guesses; the client
must cope either way):

Auth on every route as elsewhere (wrong key -> 400, none -> 401). Errors are flat
`{"code", "error"}` bodies; a body that is not a JSON object -> 422 (as chat), anything else
invalid -> 400. A known model of the wrong kind (a chat model, a video model for images) -> 400
naming it; an unknown model -> 404 as chat answers it.

POST /v1/images/generations, JSON body:
- `model` required: grok-imagine-image, grok-imagine-image-2.0 or grok-imagine-image-quality.
- `prompt` required non-empty string of at most 8,000 characters.
- `n` int 1-10 (a bool is not an int), default 1.
- `response_format` "url" (default) or "b64_json".
- `aspect_ratio` one of ASPECT_RATIOS (1:1, 16:9, ... auto); `resolution` "1k" or "2k".
- `quality` ("low" | "medium") only on grok-imagine-image-2.0, elsewhere 400.
- `user` optional string. `size`, `style` and any other field -> 400 "Argument not supported: x".
-> 200 `{"data": [{"url": ..., "revised_prompt": ...}, ...], "usage": {"cost_in_usd_ticks": N}}`
(`b64_json` instead of `url` when asked), n items. 1 USD = 10^10 ticks; each image made costs
$0.02 (200_000_000 ticks), each input image of an edit $0.002 (20_000_000). Whether xAI sends
`usage` at all is *unconfirmed* (knob `send_usage`).
- The images are real JPEGs (knob `file_format` "jpeg" | "png"), made with Pillow
  deterministically from (prompt, index): a gradient, blurred colour blobs, a few shapes and a
  fine grain, so a 2K JPEG (quality 90) weighs a realistic few hundred KB. Size: the long side
  1024 px for 1k (default) or 2048 px for 2k, the other side by the aspect ratio, rounded
  (auto and the default are 1:1; the sizes xAI really returns are *unconfirmed*).
- URLs are served by the stand-in at http://127.0.0.1:PORT/files/imagine/<uuid>.jpeg, with no
  auth (a different path than the API); fetching them is recorded in `srv.requests`.
- `revised_prompt`: f"{prompt.strip()} — rendered as a detailed illustration", plus
  ", variation {i + 1}" from the second image on (knob `revised` to leave it out).
- Moderation: a prompt with the word "forbidden" (any case) -> 400 "Generated image rejected by
  content moderation." (the same for videos).

POST /v1/images/edits: the same fields, plus the reference image(s): `"image": {"url": ...,
"type": "image_url"}` for one, or `"images": [{...}, ...]` for up to 3 (the list field is
*unconfirmed*); exactly one of the two; 0 or more than 3 images -> 400; `type`, when present,
must be "image_url". Each url is checked like a chat image (data URIs must hold a JPEG or PNG
that Pillow reads; 127.0.0.1 and private hosts are refused as xAI cannot fetch them). The cost
includes the input images.

POST /v1/videos/generations: `model` grok-imagine-video | grok-imagine-video-1.5, `prompt`
(required, non-empty), `image` ({"url": ...}, checked as above), `duration` int 1-15 (default
6), `resolution` 480p | 720p (1080p only on -1.5; default 480p), `aspect_ratio`; other fields
-> 400. -> 200 `{"request_id": "<uuid>"}`.
GET /v1/videos/{request_id}: while pending `{"status": "pending", "progress": 0-99, "model"}`;
then `{"status": "done", "model", "video": {"url": <an .mp4 served as video/mp4>, "duration",
"respect_moderation": true}, "usage": {"cost_in_usd_ticks": duration * 500_000_000}}` ($0.05 a
second); unknown id -> 404. The mp4 is a minimal well-formed ISO BMFF file (ftyp with major
brand isom, free, mdat growing with the duration); it does not play.

Knobs (`imagine_state(srv)`; `srv.reset()` forgets them, and the jobs):
- `send_usage`, `revised`, `file_format` (above); `latency`: seconds each image route (both
  /v1/images routes) waits before answering.
- `video_polls`: how many GETs of a new job answer pending before it ends (default 2);
  `video_fail` (True or an error message) / `video_expire`: jobs created while set end
  `{"status": "failed", "error": ...}` / `{"status": "expired"}` instead of done.
- `file_fault`, taken by the next generation that answers with URLs (images or a video):
  "expired" (403 with an S3-like AccessDenied XML body), "redirect" (302 to another served URL
  that holds the file), "html" (text/html page), "huge" (the real file, then zeros up to a
  declared Content-Length of HUGE_BYTES, written lazily so a size cap is testable without
  allocating 60 MB), "mismatch" (Content-Type image/png on JPEG bytes, image/jpeg on PNG ones).
- Read back: `generated` (every image made: Generated(data, prompt, index, url, ...)) and
  `jobs` (request id -> VideoJob). Jobs live as long as the stand-in: a new client (a restarted
  kernel) can poll an old id.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import struct
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.xai_standin import ApiError, _check_image_url, _unprocessable, resolve_model

IMAGE_MODELS = ("grok-imagine-image", "grok-imagine-image-2.0", "grok-imagine-image-quality")
VIDEO_MODELS = ("grok-imagine-video", "grok-imagine-video-1.5")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "2:1", "1:2", "19.5:9",
                 "9:19.5", "20:9", "9:20", "auto")
IMAGE_FIELDS = {"model", "prompt", "n", "response_format", "aspect_ratio", "resolution",
                "quality", "user"}
VIDEO_FIELDS = {"model", "prompt", "image", "duration", "resolution", "aspect_ratio"}
MAX_PROMPT_CHARS = 8000
MAX_EDIT_IMAGES = 3
TICKS_PER_IMAGE = 200_000_000  # $0.02
TICKS_PER_INPUT_IMAGE = 20_000_000  # $0.002
TICKS_PER_VIDEO_SECOND = 500_000_000  # $0.05
LONG_SIDE = {"1k": 1024, "2k": 2048}
FILE_FAULTS = ("expired", "redirect", "html", "huge", "mismatch")
HUGE_BYTES = 60 * 1024 * 1024
MODERATED = "Generated image rejected by content moderation."
EXPIRED_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
               b"<Message>Request has expired</Message><X-Amz-Expires>3600</X-Amz-Expires>"
               b"</Error>")
HTML_PAGE = (b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
             b"<body><h1>Please sign in</h1></body></html>")
MIME = {"jpeg": "image/jpeg", "png": "image/png", "mp4": "video/mp4"}


@dataclass
class Generated:
    """One image the stand-in made (and, for URL answers, where it is served)."""

    data: bytes
    prompt: str
    index: int
    url: str | None
    model: str
    content_type: str


@dataclass
class VideoJob:
    """One video request: it answers `pending` for `polls` GETs, then ends as `outcome`."""

    id: str
    model: str
    prompt: str
    duration: int
    resolution: str
    aspect_ratio: str
    polls: int
    outcome: str = "done"  # "done" | "failed" | "expired"
    error: str = ""
    fault: str | None = None
    seen: int = 0
    url: str | None = None


@dataclass
class ImagineState:
    """The Imagine side of one stand-in, with its knobs (see the module docstring)."""

    send_usage: bool = True
    revised: bool = True
    file_format: str = "jpeg"
    file_fault: str | None = None
    latency: float = 0.0
    video_polls: int = 2
    video_fail: bool | str = False
    video_expire: bool = False
    generated: list[Generated] = field(default_factory=list)
    jobs: dict[str, VideoJob] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def take_fault(self) -> str | None:
        """The file fault for the next generation's URLs (taken: later ones are clean)."""
        with self.lock:
            fault, self.file_fault = self.file_fault, None
        if fault is not None and fault not in FILE_FAULTS:
            raise ValueError(f"unknown file_fault {fault!r}; one of {FILE_FAULTS}")
        return fault


def imagine_state(srv) -> ImagineState:
    """The stand-in's Imagine state (made on first use; `srv.reset()` drops it)."""
    with srv._lock:
        state = srv.__dict__.get("_imagine_state")
        if state is None:
            state = srv.__dict__["_imagine_state"] = ImagineState()
        return state


def serve_imagine(handler, method: str, path: str, raw: bytes) -> None:
    """Answer one (authenticated) request to an Imagine route."""
    state = imagine_state(handler.standin)
    if path in ("/v1/images/generations", "/v1/images/edits"):
        if method != "POST":
            raise ApiError(405, f"{method} is not allowed on {path}.")
        body = _json_body(handler, raw)
        if state.latency and handler.standin._sleep(state.latency):
            return handler._abort()
        return handler._send_json(200, _images(handler.standin, state, body,
                                               edit=path.endswith("/edits")))
    if path == "/v1/videos/generations":
        if method != "POST":
            raise ApiError(405, f"{method} is not allowed on {path}.")
        return handler._send_json(200, _create_video(state, _json_body(handler, raw)))
    rest = path[len("/v1/videos/"):] if path.startswith("/v1/videos/") else ""
    if rest and "/" not in rest:
        if method != "GET":
            raise ApiError(405, f"{method} is not allowed on {path}.")
        return handler._send_json(200, _poll_video(handler.standin, state, rest))
    raise ApiError(404, f"No route for {method} {path}.")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def _json_body(handler, raw: bytes) -> dict:
    ctype = handler.headers.get("Content-Type", "")
    if ctype.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "Expected request with `Content-Type: application/json`")
    try:
        body = json.loads(raw) if raw else None
    except ValueError as err:
        raise ApiError(400, f"Failed to parse the request body as JSON: {err}") from None
    if not isinstance(body, dict):
        raise _unprocessable("invalid type, expected a map")
    return body


def _check_fields(body: dict, allowed: set[str]) -> None:
    for name in body:
        if name not in allowed:
            raise ApiError(400, f"Argument not supported: {name}")


def _check_model(body: dict, allowed: tuple[str, ...], kind: str) -> str:
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(400, f"`model` is required: one of {', '.join(allowed)}.")
    if name in allowed:
        return name
    if resolve_model(name) is not None or name in IMAGE_MODELS + VIDEO_MODELS:
        raise ApiError(400, f"The model {name} cannot generate {kind}; use one of "
                            f"{', '.join(allowed)}.")
    # as chat: an unknown model is "not found"
    raise ApiError(404, f"The model {name} does not exist or your team does not have access "
                        f"to it.")


def _check_prompt(body: dict) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "`prompt` is required and must be a non-empty string.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(400, f"`prompt` is {len(prompt):,} characters long; the maximum is "
                            f"{MAX_PROMPT_CHARS:,}.")
    if re.search(r"\bforbidden\b", prompt, flags=re.I):
        raise ApiError(400, MODERATED)
    return prompt


def _choice(body: dict, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value not in allowed:
        raise ApiError(400, f"Invalid `{name}` {value!r}: expected one of {', '.join(allowed)}.")
    return value


def _int_in(body: dict, name: str, low: int, high: int, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ApiError(400, f"`{name}` must be an integer from {low} to {high}; got {value!r}.")
    return value


def _reference(image: Any, where: str) -> str:
    """The url of one reference image `{"url": ..., "type": "image_url"}`, checked."""
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        raise ApiError(400, f"{where}: expected an object with a `url` string.")
    extra = set(image) - {"url", "type"}
    if extra:
        raise ApiError(400, f"{where}: argument not supported: {sorted(extra)[0]}")
    if image.get("type", "image_url") != "image_url":
        raise ApiError(400, f"{where}.type must be \"image_url\"; got {image.get('type')!r}.")
    _check_image_url(image["url"], where)
    return image["url"]


def _edit_references(body: dict) -> list[str]:
    """The reference image urls of an edit: `image` (one) or `images` (1 to 3), not both."""
    if ("image" in body) == ("images" in body):
        raise ApiError(400, "An edit needs exactly one of `image` (one reference image) or "
                            "`images` (a list of up to 3).")
    if "image" in body:
        return [_reference(body["image"], "image")]
    images = body["images"]
    if not isinstance(images, list) or not 1 <= len(images) <= MAX_EDIT_IMAGES:
        count = len(images) if isinstance(images, list) else "no list of"
        raise ApiError(400, f"`images` must hold 1 to {MAX_EDIT_IMAGES} images; got {count}.")
    return [_reference(image, f"images[{i}]") for i, image in enumerate(images)]


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def _images(srv, state: ImagineState, body: dict, *, edit: bool) -> dict:
    _check_fields(body, IMAGE_FIELDS | ({"image", "images"} if edit else set()))
    model = _check_model(body, IMAGE_MODELS, "images")
    prompt = _check_prompt(body)
    n = _int_in(body, "n", 1, 10, 1)
    response_format = _choice(body, "response_format", ("url", "b64_json"), "url")
    aspect = _choice(body, "aspect_ratio", ASPECT_RATIOS, "1:1")
    resolution = _choice(body, "resolution", tuple(LONG_SIDE), "1k")
    if "quality" in body:
        if model != "grok-imagine-image-2.0":
            raise ApiError(400, f"Argument not supported on {model}: quality")
        _choice(body, "quality", ("low", "medium"), "medium")
    if "user" in body and not isinstance(body["user"], str):
        raise ApiError(400, "`user` must be a string.")
    references = _edit_references(body) if edit else []
    size = image_size(aspect, resolution)
    ext = "png" if state.file_format == "png" else "jpeg"
    fault = state.take_fault() if response_format == "url" else None
    data = []
    for index in range(n):
        image = make_image(prompt, index, size, ext)
        item: dict[str, Any] = {}
        url = None
        if response_format == "url":
            url = item["url"] = _publish(srv, f"imagine/{uuid.uuid4()}.{ext}", image, MIME[ext],
                                         fault)
        else:
            item["b64_json"] = base64.b64encode(image).decode("ascii")
        if state.revised:
            item["revised_prompt"] = revised_prompt(prompt, index)
        data.append(item)
        with state.lock:
            state.generated.append(Generated(image, prompt, index, url, model, MIME[ext]))
    answer: dict[str, Any] = {"data": data}
    if state.send_usage:
        answer["usage"] = {"cost_in_usd_ticks": n * TICKS_PER_IMAGE
                           + len(references) * TICKS_PER_INPUT_IMAGE}
    return answer


def image_size(aspect: str, resolution: str) -> tuple[int, int]:
    """(width, height): the long side by resolution, the other by the aspect ratio."""
    long_side = LONG_SIDE[resolution]
    w, h = (1.0, 1.0) if aspect == "auto" else (float(x) for x in aspect.split(":"))
    if w >= h:
        return long_side, round(long_side * h / w)
    return round(long_side * w / h), long_side


def revised_prompt(prompt: str, index: int) -> str:
    """The stand-in's `revised_prompt` for image `index` of a request."""
    text = f"{prompt.strip()} — rendered as a detailed illustration"
    return text if index == 0 else f"{text}, variation {index + 1}"


def make_image(prompt: str, index: int, size: tuple[int, int], ext: str = "jpeg") -> bytes:
    """A deterministic picture for (prompt, index): gradient, blobs, shapes and grain."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(hashlib.sha256(f"{prompt}\0{index}".encode()).digest())
    w, h = size

    def colour() -> tuple[int, int, int]:
        return rng.randrange(256), rng.randrange(256), rng.randrange(256)

    ramp = Image.linear_gradient("L").rotate(rng.randrange(360), resample=Image.BICUBIC)
    img = Image.composite(Image.new("RGB", size, colour()), Image.new("RGB", size, colour()),
                          ramp.resize(size, Image.BICUBIC))
    bw, bh = max(2, w // 64), max(2, h // 64)
    blobs = Image.frombytes("RGB", (bw, bh), rng.randbytes(bw * bh * 3))
    img = Image.blend(img, blobs.resize(size, Image.BICUBIC), 0.35)
    draw = ImageDraw.Draw(img)
    for _ in range(6 + rng.randrange(6)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        box = (x0, y0, x0 + rng.randrange(w // 8, w // 2), y0 + rng.randrange(h // 8, h // 2))
        shape = draw.ellipse if rng.randrange(2) else draw.rectangle
        shape(box, fill=colour(), outline=(0, 0, 0), width=max(1, w // 256))
    img = img.filter(ImageFilter.GaussianBlur(max(1, w // 512)))
    grain = Image.frombytes("L", size, rng.randbytes(w * h)).convert("RGB")
    img = Image.blend(img, grain, 0.03)
    out = io.BytesIO()
    if ext == "png":
        img.save(out, "PNG")
    else:
        img.save(out, "JPEG", quality=90)
    return out.getvalue()


def _publish(srv, path: str, data: bytes, content_type: str, fault: str | None) -> str:
    """Serve a generated file at /files/<path>, spoilt by `fault`; returns its URL."""
    if fault is None:
        return srv.serve_bytes(path, data, content_type)
    if fault == "expired":
        return srv.serve_bytes(path, EXPIRED_XML, "application/xml", status=403)
    if fault == "redirect":
        target = srv.serve_bytes(f"imagine/moved/{path.rsplit('/', 1)[-1]}", data, content_type)
        return srv.serve_bytes(path, b"", "text/plain", {"Location": target}, status=302)
    if fault == "html":
        return srv.serve_bytes(path, HTML_PAGE, "text/html; charset=utf-8")
    if fault == "huge":
        return srv.serve_bytes(path, data, content_type, length=HUGE_BYTES)
    lie = "image/jpeg" if content_type == "image/png" else "image/png"  # "mismatch"
    return srv.serve_bytes(path, data, lie)


# --------------------------------------------------------------------------------------------
# Videos
# --------------------------------------------------------------------------------------------
def _create_video(state: ImagineState, body: dict) -> dict:
    _check_fields(body, VIDEO_FIELDS)
    model = _check_model(body, VIDEO_MODELS, "videos")
    prompt = _check_prompt(body)
    duration = _int_in(body, "duration", 1, 15, 6)
    resolutions = ("480p", "720p", "1080p") if model == "grok-imagine-video-1.5" else (
        "480p", "720p")
    resolution = _choice(body, "resolution", resolutions, "480p")
    aspect = _choice(body, "aspect_ratio", ASPECT_RATIOS, "16:9")
    if "image" in body:
        _reference(body["image"], "image")
    job = VideoJob(str(uuid.uuid4()), model, prompt, duration, resolution, aspect,
                   max(0, state.video_polls), fault=state.take_fault())
    if state.video_fail:
        job.outcome = "failed"
        job.error = (state.video_fail if isinstance(state.video_fail, str)
                     else "Video generation failed: please try again.")
    elif state.video_expire:
        job.outcome = "expired"
    with state.lock:
        state.jobs[job.id] = job
    return {"request_id": job.id}


def _poll_video(srv, state: ImagineState, request_id: str) -> dict:
    with state.lock:
        job = state.jobs.get(request_id)
        if job is None:
            raise ApiError(404, f"No video request {request_id!r}.")
        job.seen += 1
        if job.seen <= job.polls:
            return {"status": "pending", "progress": min(99, job.seen * 100 // (job.polls + 1)),
                    "model": job.model}
        if job.outcome == "failed":
            return {"status": "failed", "error": job.error}
        if job.outcome == "expired":
            return {"status": "expired"}
        if job.url is None:
            job.url = _publish(srv, f"imagine/{job.id}.mp4", make_mp4(job.prompt, job.duration),
                               MIME["mp4"], job.fault)
        return {"status": "done", "model": job.model,
                "video": {"url": job.url, "duration": job.duration, "respect_moderation": True},
                "usage": {"cost_in_usd_ticks": job.duration * TICKS_PER_VIDEO_SECOND}}


def make_mp4(prompt: str, duration: int) -> bytes:
    """A minimal well-formed ISO BMFF file (ftyp, free, mdat); it does not play."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    seed = hashlib.sha256(prompt.encode()).digest()
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    return ftyp + box(b"free", b"") + box(b"mdat", seed * (duration * 128))
