"""A strict local stand-in for xAI's REST API (stdlib only; Pillow used if installed).

It validates requests like api.x.ai, replays recorded real traffic byte for byte, answers
anything else with deterministic, realistic chat completions, and can be scripted with faults
(`srv.enqueue(Fault(429, headers={"Retry-After": "2"}), Reply("hi"), ...)`).

Streams are sent like the real server: `Transfer-Encoding: chunked`, every SSE event (or every
deliberately split piece) its own HTTP chunk, flushed, then the zero-length chunk.

    srv = XaiStandin(api_key=FAKE_KEY)
    srv.start()
    srv.base_url        # "http://127.0.0.1:PORT/v1"
    srv.enqueue(Reply("Hello"))
    ...
    srv.requests        # what reached the server
    srv.stop()
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import itertools
import json
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

FAKE_KEY = "xai-fake-0123456789abcdef"
TEAM_ID = "5f3c1a2e-7b4d-4e8f-9a61-0c2d3e4f5a6b"
RECORDINGS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "xai-recorded"

MAX_IMAGE_BYTES = 20 * 1024 * 1024
IMAGE_TOKENS_PER_IMAGE = 256
CONSOLE = "https://console.x.ai"


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    id: str
    aliases: tuple[str, ...]
    # prices: integer USD cents per 100 M tokens (USD per 1 M tokens = value / 10_000);
    # 1 token at price P costs exactly P "usd ticks" (1 USD = 10^10 ticks).
    prompt_price: int
    cached_price: int
    completion_price: int
    images: bool
    reasoning: bool  # thinks before answering (reasoning tokens in usage)
    visible_reasoning: bool = False  # returns reasoning_content (grok-3-mini, grok-code-fast-1)
    efforts: tuple[str, ...] = ()  # accepted reasoning_effort values; () = parameter rejected
    rejects_penalties: bool = False  # stop / presence_penalty / frequency_penalty -> 400
    created: int = 1_700_000_000
    context: int = 256_000
    # Prompts of this many tokens or more bill every token at twice the price (xAI's
    # long-context tier).
    long_context_at: int = 200_000

    @property
    def input_modalities(self) -> list[str]:
        return ["text", "image"] if self.images else ["text"]


MODELS: tuple[Model, ...] = (
    # grok-4.3 also serves the names xAI retired on 2026-05-15 (grok-4, grok-4-0709, …).
    Model("grok-4.3", ("grok-4.3-latest", "grok-4", "grok-4-latest", "grok-4-0709"), 12500,
          2000, 25000, images=True, reasoning=True, efforts=("none", "low", "medium", "high"),
          rejects_penalties=True, created=1_775_000_000, context=1_000_000),
    Model("grok-4.7", ("grok-4.7-latest",), 20000, 5000, 60000, images=True, reasoning=True,
          efforts=("none", "low", "medium", "high"), rejects_penalties=True,
          created=1_790_000_000, context=500_000),
    Model("grok-4.20-0309-reasoning", ("grok-4.20-reasoning",), 12500, 2000, 25000,
          images=True, reasoning=True, rejects_penalties=True, created=1_773_000_000,
          context=2_000_000),
    Model("grok-4.20-0309-non-reasoning", ("grok-4.20-non-reasoning",), 12500, 2000, 25000,
          images=True, reasoning=False, created=1_773_000_000, context=2_000_000),
    Model("grok-4-fast-reasoning", ("grok-4-fast", "grok-4-fast-reasoning-latest"),
          2000, 500, 5000, images=True, reasoning=True, rejects_penalties=True,
          created=1_758_000_000, context=2_000_000),
    Model("grok-4-fast-non-reasoning", ("grok-4-fast-non-reasoning-latest",), 2000, 500, 5000,
          images=True, reasoning=False, created=1_758_000_000, context=2_000_000),
    Model("grok-3-mini", ("grok-3-mini-latest", "grok-3-mini-beta"), 3000, 750, 5000,
          images=False, reasoning=True, visible_reasoning=True, efforts=("low", "high"),
          created=1_743_000_000, context=131_072),
    Model("grok-code-fast-1", ("grok-code-fast", "grok-code-fast-1-0825"), 2000, 200, 15000,
          images=False, reasoning=True, visible_reasoning=True, created=1_756_000_000),
    Model("grok-2-vision-1212", ("grok-2-vision", "grok-2-vision-latest"), 20000, 20000,
          100000, images=True, reasoning=False, created=1_733_000_000, context=32_768),
)
_MODEL_BY_NAME: dict[str, Model] = {}
for _m in MODELS:
    _MODEL_BY_NAME[_m.id] = _m
    for _a in _m.aliases:
        _MODEL_BY_NAME[_a] = _m


def resolve_model(name: str) -> Model | None:
    """The model serving `name` (an id or alias), or None."""
    return _MODEL_BY_NAME.get(name)


def served_model_name(model: Model, body: dict) -> str:
    """The `model` string a response carries (grok-3-mini reports its effort: grok-3-mini-high)."""
    effort = body.get("reasoning_effort")
    if model.id == "grok-3-mini" and effort:
        return f"grok-3-mini-{effort}"
    return model.id


def _fingerprint(model_id: str) -> str:
    return "fp_" + hashlib.sha256(model_id.encode()).hexdigest()[:10]


# --------------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------------
STATUS_CODES = {
    400: "Client specified an invalid argument",
    401: "unauthenticated:no-credentials",
    403: "The caller does not have permission to execute the specified operation",
    404: "Some requested entity was not found",
    405: "Method not allowed",
    408: "The deadline expired before the operation could complete",
    410: "The requested feature is no longer available",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable entity",
    429: "Some resource has been exhausted",
    500: "Internal error",
    502: "Bad gateway",
    503: "The service is currently unavailable",
    504: "The deadline expired before the operation could complete",
}
DEFAULT_MESSAGES = {
    400: "Bad request.",
    401: f"No API key provided. You can obtain an API key from {CONSOLE}.",
    403: "Your API key does not have permission to perform this operation.",
    404: "Not found.",
    408: "Request timed out.",
    410: "This feature is no longer available.",
    413: "Request body too large.",
    415: "Expected request with `Content-Type: application/json`",
    422: "Failed to deserialize the JSON body into the target type.",
    429: "Too many requests: you have exceeded the rate limit for this model. Please slow down.",
    500: "Internal server error. Please try again later.",
    502: "Bad gateway. Please try again later.",
    503: "The service is currently unavailable. Please try again later.",
    504: "The upstream service timed out. Please try again later.",
}
CREDITS_MESSAGE = (
    f"Your team {TEAM_ID} has either used all available credits or reached its monthly spending "
    f"limit. To continue making API requests, please purchase more credits or raise your spending "
    f"limit at {CONSOLE}."
)


def error_body(status: int, message: str | None = None, code: str | None = None) -> dict:
    """xAI's flat error body `{"code": ..., "error": ...}` for `status`."""
    return {
        "code": code or STATUS_CODES.get(status, "Unknown error"),
        "error": message or DEFAULT_MESSAGES.get(status, f"HTTP {status}"),
    }


def mask_key(key: str) -> str:
    """`xa***ef`: first two and last two characters only (never the full key)."""
    if len(key) < 8:
        return "***"
    return f"{key[:2]}***{key[-2:]}"


class ApiError(Exception):
    """A validation failure: answered with `status` and an xAI-style flat body."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = error_body(status, message, code)


# --------------------------------------------------------------------------------------------
# Behaviours (scripted answers and faults)
# --------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class StreamOptions:
    """Delivery options shared by Reply, Stream and Replay.

    delay: seconds between events (or split pieces); first_delay: seconds before the first
    byte of the response; split: None (one HTTP chunk per event) | int (pieces of that many
    bytes) | list of byte offsets (cut the body there), each piece its own flushed chunk;
    crlf: `\\r\\n` line endings; comments: `: keep-alive` comment lines between events;
    cut_after: close the connection after N events without the terminating zero-length chunk;
    error_event: dict (or str) sent as `data: ...` after `error_after` events, then the stream
    ends (cleanly); no_done: drop `data: [DONE]`; headers: extra response headers.
    Hostile servers: header_delay: seconds between the bytes of the status line and headers
    (sent one byte at a time); endless: send the events round and round forever, without those
    that end an answer (finish_reason, usage, [DONE]); keepalive_every: after the events, and
    without those that end an answer, a `: keep-alive` comment every so many seconds, forever.
    For non-streamed (JSON) bodies only first_delay, delay, split, header_delay and headers apply.
    """

    delay: float = 0.0
    first_delay: float = 0.0
    split: int | list[int] | None = None
    crlf: bool = False
    comments: bool = False
    cut_after: int | None = None
    error_event: dict | str | None = None
    error_after: int = 0
    no_done: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    header_delay: float = 0.0
    endless: bool = False
    keepalive_every: float | None = None


@dataclass
class Fault:
    """Answer with an HTTP error: `body` None = xAI flat body for `status`; dict -> JSON;
    str/bytes sent as is (with `content_type`). `delay` seconds before answering."""

    status: int
    body: dict | str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str | None = None

    @classmethod
    def credits(cls, status: int = 429, **kw) -> Fault:
        """Credits used up / monthly spending limit reached (403 or 429)."""
        return cls(status, error_body(status, CREDITS_MESSAGE), **kw)

    @classmethod
    def rate_limited(cls, retry_after: float | None = 2, *, ms: bool = False, **kw) -> Fault:
        """429 rate limit, with `Retry-After: <s>` (or `retry-after-ms: <ms>` when ms=True)."""
        headers = dict(kw.pop("headers", {}))
        if retry_after is not None:
            if ms:
                headers["retry-after-ms"] = str(int(retry_after * 1000))
            else:
                headers["Retry-After"] = f"{retry_after:g}"
        return cls(429, None, headers, **kw)


@dataclass
class Reply(StreamOptions):
    """A scripted answer, streamed when the request streams. `chunk_chars` splits content into
    pieces of that many characters (default: word pieces). usage None = computed."""

    content: str = ""
    reasoning: str | None = None
    model: str | None = None
    usage: dict | None = None
    finish_reason: str = "stop"
    chunk_chars: int | None = None
    tool_calls: list[dict] | None = None
    citations: list[str] | None = None

    # -- hostile servers ---------------------------------------------------------------------
    @classmethod
    def trickle(cls, content: str = "A valid answer, one byte a second.", **kw) -> Reply:
        """The answer's body at one byte a second (headers at once)."""
        return cls(content, split=1, delay=kw.pop("delay", 1.0), **kw)

    @classmethod
    def slow_headers(cls, content: str = "never seen", **kw) -> Reply:
        """Status line and headers at one byte a second."""
        return cls(content, header_delay=kw.pop("header_delay", 1.0), **kw)

    @classmethod
    def keepalives_only(cls, content: str = "The start of an answer", **kw) -> Reply:
        """Some of the answer, then nothing but keep-alive comments, forever."""
        return cls(content, keepalive_every=kw.pop("keepalive_every", 0.1), **kw)

    @classmethod
    def endless(cls, content: str = "and on ", **kw) -> Reply:
        """An answer that never ends: `content` again and again, no end marker."""
        return cls(content, endless=True, **kw)

    @classmethod
    def huge_header(cls, size: int = 2 * 1024 * 1024, **kw) -> Reply:
        """An answer with one header line of `size` bytes."""
        return cls("never read", headers={"X-Padding": "a" * size}, **kw)

    @classmethod
    def many_headers(cls, count: int = 5000, **kw) -> Reply:
        """An answer with `count` headers."""
        return cls("never read", headers={f"X-Header-{i}": "v" for i in range(count)}, **kw)


@dataclass
class Stream(StreamOptions):
    """Raw SSE control: each event is a dict (-> `data: <json>`), a str payload
    (-> `data: <str>`) or bytes (sent verbatim as one event). `[DONE]` is appended unless
    already present or no_done=True."""

    events: list[dict | str | bytes] = field(default_factory=list)
    status: int = 200
    content_type: str = "text/event-stream"


@dataclass
class Replay(StreamOptions):
    """Replay the recording `name` (see XaiStandin.recordings) with the given options."""

    name: str


@dataclass
class Hang:
    """Accept the request, send nothing for `seconds`, then close the connection."""

    seconds: float = 30.0


@dataclass
class Close:
    """Close the socket without any response."""


@dataclass
class Raw:
    """Send `data` as the whole response (status line included), then close the connection."""

    data: bytes = b"HTTP/1.1 2OO 0K\r\n\r\n"

    @classmethod
    def malformed_status(cls) -> Raw:
        return cls(b"HTPP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")


@dataclass
class IdleClose:
    """The server closes a kept-alive connection as idle just as the next request arrives on
    it: that request is dropped unread (not recorded) and the connection reset. Taken by the
    next request on a reused connection, whatever its route; on a new connection, like Close."""


Behaviour = Fault | Reply | Stream | Replay | Hang | Close | Raw | IdleClose


class Recording(NamedTuple):
    request_body: dict
    status: int
    content_type: str
    body: bytes


@dataclass
class RecordedRequest:
    """One request as it reached the server. `headers` is case-insensitive."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    client: tuple | None = None  # (host, port) of the client socket: tells connections apart

    @property
    def asks(self) -> bool:
        """A request for an answer: POST to chat completions or to the Responses API."""
        return self.method == "POST" and self.path.split("?")[0] in ANSWER_PATHS

    @property
    def as_chat(self) -> dict:
        """The body as the chat completions body asking the same, whichever API it went to
        (see `as_chat`): for tests about what was asked, not how."""
        return as_chat(self.json)


ANSWER_PATHS = ("/v1/chat/completions", "/v1/responses")


def as_chat(body: Any) -> Any:
    """A /v1/responses body read as the chat completions body for the same question: `input`
    as `messages` (text-only user turns as strings, images as image_url parts, reasoning items
    left out, function calls on the assistant turn), `max_output_tokens`, `reasoning.effort`
    and `text.format` under their chat names; delivery fields (store, include,
    prompt_cache_key) dropped. A chat body is returned as it is."""
    if not isinstance(body, dict) or "input" not in body:
        return body
    chat: dict = {"model": body.get("model"), "messages": []}
    items = body["input"]
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items:
        kind = item.get("type", "message")
        messages = chat["messages"]
        if kind == "reasoning":
            continue
        if kind == "function_call":
            if not messages or messages[-1]["role"] != "assistant":
                messages.append({"role": "assistant", "content": ""})
            messages[-1].setdefault("tool_calls", []).append({
                "id": item["call_id"], "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]}})
            continue
        if kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": item["output"]})
            continue
        content = item.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if part["type"] in ("input_text", "output_text"):
                    parts.append({"type": "text", "text": part["text"]})
                elif part["type"] == "input_image":
                    parts.append({"type": "image_url", "image_url": {
                        "url": part["image_url"], **({"detail": part["detail"]}
                                                     if part.get("detail") else {})}})
                else:
                    parts.append(part)
            texts = [p["text"] for p in parts if p["type"] == "text"]
            content = "".join(texts) if len(texts) == len(parts) else parts
        messages.append({"role": item.get("role"), "content": content})
    renamed = {"max_output_tokens": "max_completion_tokens"}
    for key, value in body.items():
        if key in ("model", "input", "store", "include", "prompt_cache_key"):
            continue
        if key == "reasoning":
            chat["reasoning_effort"] = value.get("effort")
        elif key == "text":
            fmt = dict(value.get("format") or {})
            if fmt.get("type") == "json_schema":
                fmt = {"type": "json_schema", "json_schema": {
                    k: v for k, v in fmt.items() if k not in ("type", "strict")}}
            chat["response_format"] = fmt
        else:
            chat[renamed.get(key, key)] = value
    return chat


class Headers(dict):
    """A dict of header names (as sent) to values with case-insensitive lookups."""

    def _key(self, name: str) -> str:
        for k in dict.keys(self):
            if k.lower() == name.lower():
                return k
        return name

    def __getitem__(self, name):
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name):
        return isinstance(name, str) and any(k.lower() == name.lower() for k in self)

    def get(self, name, default=None):
        return dict.get(self, self._key(name), default)


# --------------------------------------------------------------------------------------------
# SSE helpers
# --------------------------------------------------------------------------------------------
def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse_event(payload: dict | str | bytes) -> bytes:
    """`data: <payload>\\n\\n` (dicts as compact JSON, UTF-8); bytes are returned unchanged."""
    if isinstance(payload, bytes):
        return payload
    text = payload if isinstance(payload, str) else _dumps(payload)
    return f"data: {text}\n\n".encode()


def split_sse(body: bytes) -> list[bytes]:
    """Split an SSE body into events, each keeping its trailing blank line."""
    events = re.findall(rb".*?(?:\r?\n\r?\n)|.+$", body, flags=re.S)
    assert b"".join(events) == body
    return [e for e in events if e]


def _is_done(event: bytes) -> bool:
    return event.strip() == b"data: [DONE]"


def _answer_pieces(events: list[bytes]) -> list[bytes]:
    """What an endless stream repeats: a Responses stream's text deltas (its other events open
    and close items), or every chunk of a chat stream."""
    deltas = [e for e in events if b'_text.delta"' in e]
    return deltas or events


def _ends_an_answer(event: bytes) -> bool:
    """[DONE], or an event with a finish reason, usage or a final Responses status."""
    return _is_done(event) or any(mark in event for mark in (
        b'"finish_reason"', b'"usage"', b'"response.completed"', b'"response.incomplete"'))


# --------------------------------------------------------------------------------------------
# JSON Schema -> example instance (for structured outputs and forced tool calls)
# --------------------------------------------------------------------------------------------
_STRING_FORMATS = {
    "date-time": "2025-01-01T12:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
    "duration": "P1D",
}


def example_from_schema(schema: Any, root: Any = None, *, name: str = "value", index: int = 0,
                        depth: int = 0) -> Any:
    """A deterministic instance valid for `schema` (objects get every property, arrays 2 items,
    enums their first value; `$ref` into `$defs`/`definitions`, anyOf/oneOf/allOf handled)."""
    root = schema if root is None else root
    if schema is True or schema is None or schema == {}:
        return f"example {name}"
    if schema is False or depth > 12:
        return None
    if "$ref" in schema:
        ref = schema["$ref"]
        target: Any = root
        if ref.startswith("#"):
            for part in ref[1:].split("/"):
                if part:
                    target = target[unquote(part).replace("~1", "/").replace("~0", "~")]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        merged = {**target, **rest} if rest else target
        return example_from_schema(merged, root, name=name, index=index, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        values = schema["enum"]
        return values[index % len(values)] if schema.get("_distinct") else values[0]
    if "default" in schema and depth > 0 and schema.get("default") is not None:
        return schema["default"]
    if "allOf" in schema:
        merged: dict = {k: v for k, v in schema.items() if k != "allOf"}
        for sub in schema["allOf"]:
            sub = _deref(sub, root)
            for key, value in sub.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(value)
                elif key == "required":
                    merged["required"] = sorted(set(merged.get("required", [])) | set(value))
                else:
                    merged.setdefault(key, value)
        return example_from_schema(merged, root, name=name, index=index, depth=depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if _deref(o, root).get("type") != "null"]
            option = (options or schema[key])[0]
            return example_from_schema(option, root, name=name, index=index, depth=depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        if "properties" in schema or "additionalProperties" in schema:
            kind = "object"
        elif "items" in schema or "prefixItems" in schema:
            kind = "array"
        else:
            kind = "string"

    if kind == "object":
        props = schema.get("properties", {})
        out = {}
        for key, sub in props.items():
            out[key] = example_from_schema(sub, root, name=key, index=index, depth=depth + 1)
        for key in schema.get("required", []):
            if key not in out:
                out[key] = f"example {key}"
        return out
    if kind == "array":
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", {})
        count = max(2, schema.get("minItems", 0), len(prefix))
        if "maxItems" in schema:
            count = min(count, schema["maxItems"])
        if items is False:
            count = min(count, len(prefix))
        out_list = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            if isinstance(sub, dict) and schema.get("uniqueItems"):
                sub = {**_deref(sub, root), "_distinct": True}
            out_list.append(
                example_from_schema(sub, root, name=name, index=i, depth=depth + 1))
        return out_list
    if kind == "string":
        fmt = schema.get("format")
        text = _STRING_FORMATS.get(fmt) if fmt else None
        if text is None:
            text = f"example {name}" + (f" {index + 1}" if index else "")
            min_len = schema.get("minLength", 0)
            if len(text) < min_len:
                text = text + "x" * (min_len - len(text))
            if "maxLength" in schema:
                text = text[: schema["maxLength"]]
        return text
    if kind in ("integer", "number"):
        lo = schema.get("minimum")
        if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
            lo = schema["exclusiveMinimum"] + (1 if kind == "integer" else 0.5)
        hi = schema.get("maximum")
        if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
            hi = schema["exclusiveMaximum"] - (1 if kind == "integer" else 0.5)
        value: float = (42 if kind == "integer" else 3.5) + index
        if lo is not None and value < lo:
            value = lo + index
        if hi is not None and value > hi:
            value = hi if lo is None or hi - index < lo else hi - index
        step = schema.get("multipleOf")
        if step:
            value = step * max(1, round(value / step))
            if hi is not None and value > hi:
                value -= step
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return index % 2 == 0
    if kind == "null":
        return None
    return f"example {name}"


def _deref(schema: Any, root: Any) -> dict:
    if isinstance(schema, dict) and "$ref" in schema and schema["$ref"].startswith("#"):
        target = root
        for part in schema["$ref"][1:].split("/"):
            if part:
                target = target[part]
        return target if isinstance(target, dict) else {}
    return schema if isinstance(schema, dict) else {}


# --------------------------------------------------------------------------------------------
# Request validation
# --------------------------------------------------------------------------------------------
ROLES = ("system", "user", "assistant", "tool")
_PRIVATE_HOSTS = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def _type_name(v: Any) -> str:
    return {dict: "a map", list: "a sequence", str: "a string", bool: "a boolean",
            int: "an integer", float: "a float", type(None): "null"}.get(type(v), "a value")


def _unprocessable(msg: str) -> ApiError:
    return ApiError(422, f"Failed to deserialize the JSON body into the target type: {msg}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class ChatRequest:
    """A validated chat/completions request."""

    body: dict
    model: Model
    served: str
    stream: bool
    include_usage: bool
    images: int
    text_chars: int
    last_user_text: str
    cached_chars: int = 0  # characters of the prompt's prefix found in the prompt cache


def _check_image_url(url: str, where: str) -> None:
    if url.startswith("data:"):
        m = re.match(r"data:([^;,]*)(;base64)?,(.*)\Z", url, flags=re.S)
        if not m:
            raise ApiError(400, f"{where}: malformed data URL.")
        mime, b64, payload = m.groups()
        if mime not in ("image/jpeg", "image/png"):
            raise ApiError(400, f"{where}: unsupported image type {mime or '(none)'!r}; "
                                f"only image/jpeg and image/png are supported.")
        if not b64:
            raise ApiError(400, f"{where}: image data URLs must be base64-encoded.")
        if len(payload) > (MAX_IMAGE_BYTES * 4) // 3 + 8:
            raise ApiError(400, f"{where}: image is larger than the maximum of 20 MiB.")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(400, f"{where}: invalid base64 image data ({exc}).") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise ApiError(400, f"{where}: image is larger than the maximum of 20 MiB.")
        actual = ("image/jpeg" if data[:3] == b"\xff\xd8\xff"
                  else "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else None)
        if actual is None:
            raise ApiError(400, f"{where}: the image data is neither a JPEG nor a PNG image.")
        if actual != mime:
            raise ApiError(400, f"{where}: the data URL declares {mime} but holds {actual}.")
        _verify_with_pillow(data, actual, where)
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(400, f"{where}: unsupported image URL; use an http(s) URL or a "
                            f"data:image/jpeg;base64 / data:image/png;base64 URL.")
    host = parts.hostname.lower()
    private = host in _PRIVATE_HOSTS or host.endswith((".local", ".localhost", ".internal"))
    try:
        ip = ipaddress.ip_address(host)
        private = private or not ip.is_global
    except ValueError:
        private = private or "." not in host
    if private:
        # api.x.ai fetches image URLs from the internet: it can never reach these.
        raise ApiError(400, f"{where}: failed to fetch image from {url}: the host is not "
                            f"reachable from the internet. Inline local images as data URLs.")


def _verify_with_pillow(data: bytes, mime: str, where: str) -> None:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()
    except Exception as exc:
        raise ApiError(400, f"{where}: invalid image data ({type(exc).__name__}).") from None
    if {"JPEG": "image/jpeg", "PNG": "image/png"}.get(fmt or "") != mime:
        raise ApiError(400, f"{where}: the image data is neither a JPEG nor a PNG image.")


def _content_parts(content: Any, where: str, *, allow_images: bool) -> tuple[str, int]:
    """Validate message content; returns (joined text, image count)."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        raise _unprocessable(f"{where}.content: invalid type: {_type_name(content)}, "
                             f"expected a string or a sequence of content parts")
    texts, images = [], 0
    for j, part in enumerate(content):
        pw = f"{where}.content[{j}]"
        if not isinstance(part, dict):
            raise _unprocessable(f"{pw}: invalid type: {_type_name(part)}, expected a map")
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _unprocessable(f"{pw}: missing field `text`")
            texts.append(part["text"])
        elif kind == "image_url":
            if not allow_images:
                raise ApiError(400, f"{pw}: image parts are only allowed in user messages.")
            iu = part.get("image_url")
            if not isinstance(iu, dict) or not isinstance(iu.get("url"), str):
                raise _unprocessable(f"{pw}: missing field `image_url.url`")
            detail = iu.get("detail")
            if detail is not None and detail not in ("auto", "low", "high"):
                raise _unprocessable(f"{pw}.image_url.detail: unknown variant `{detail}`, "
                                     f"expected one of `auto`, `low`, `high`")
            _check_image_url(iu["url"], pw)
            images += 1
        else:
            raise _unprocessable(f"{pw}.type: unknown variant `{kind}`, expected one of "
                                 f"`text`, `image_url`")
    return " ".join(texts), images


def validate_chat(body: Any) -> ChatRequest:
    """Check a parsed chat/completions body like api.x.ai does; raise ApiError if invalid."""
    if not isinstance(body, dict):
        raise _unprocessable(f"invalid type: {_type_name(body)}, expected a map")
    for key in ("model", "messages"):
        if key not in body:
            raise _unprocessable(f"missing field `{key}`")
    name = body["model"]
    if not isinstance(name, str):
        raise _unprocessable(f"model: invalid type: {_type_name(name)}, expected a string")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _unprocessable(f"messages: invalid type: {_type_name(messages)}, "
                             f"expected a sequence")
    if "search_parameters" in body:
        raise ApiError(410, "Live search is deprecated. Please switch to the Agent Tools API: "
                            "https://docs.x.ai/docs/guides/tools/overview", code="Gone")
    model = resolve_model(name)
    if model is None:
        raise ApiError(404, f"The model {name} does not exist or your team {TEAM_ID} does not "
                            f"have access to it. Please ensure you're using the correct API key. "
                            f"If you believe this is an error, please contact support@x.ai.")
    if not messages:
        raise ApiError(400, "messages: at least one message is required.")

    text_chars, images, last_user = 0, 0, ""
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _unprocessable(f"{where}: invalid type: {_type_name(msg)}, expected a map")
        role = msg.get("role")
        if role not in ROLES:
            if role is None:
                raise _unprocessable(f"{where}: missing field `role`")
            raise _unprocessable(f"{where}.role: unknown variant `{role}`, expected one of "
                                 f"`system`, `user`, `assistant`, `tool`")
        content = msg.get("content")
        if role == "assistant" and content is None:
            if not msg.get("tool_calls"):
                raise _unprocessable(f"{where}: assistant messages need `content` or "
                                     f"`tool_calls`")
            text, n = "", 0
        elif content is None:
            raise _unprocessable(f"{where}: missing field `content`")
        else:
            text, n = _content_parts(content, where, allow_images=(role == "user"))
        if role == "user" and not text and not n:
            raise ApiError(400, f"{where}: user message content must not be empty.")
        if "tool_calls" in msg and msg["tool_calls"] is not None:
            if role != "assistant" or not isinstance(msg["tool_calls"], list):
                raise _unprocessable(f"{where}.tool_calls: only assistant messages carry a "
                                     f"sequence of tool calls")
        text_chars += len(text)
        images += n
        if role == "user":
            last_user = text

    if images and not model.images:
        raise ApiError(400, f"Model {model.id} does not support image input. Use a model with "
                            f"image understanding (for example grok-4.3).")

    # -- parameters ------------------------------------------------------------------------
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _unprocessable(f"stream: invalid type: {_type_name(stream)}, expected a boolean")
    so = body.get("stream_options")
    include_usage = False
    if so is not None:
        if not isinstance(so, dict):
            raise _unprocessable("stream_options: expected a map")
        iu = so.get("include_usage", False)
        if iu is not None and not isinstance(iu, bool):
            raise _unprocessable("stream_options.include_usage: expected a boolean")
        include_usage = bool(iu)

    effort = body.get("reasoning_effort")
    if effort is not None:
        if not model.efforts:
            raise ApiError(400, f"Model {model.id} does not support parameter reasoningEffort.")
        if effort not in model.efforts:
            raise ApiError(400, f"Invalid reasoning effort {effort!r} for model {model.id}; "
                                f"supported values: {', '.join(model.efforts)}.")
    if model.rejects_penalties:
        for key, camel in (("presence_penalty", "presencePenalty"),
                           ("frequency_penalty", "frequencyPenalty"), ("stop", "stop")):
            if body.get(key) is not None:
                raise ApiError(400, f"Model {model.id} does not support parameter {camel}.")
    for key in ("presence_penalty", "frequency_penalty"):
        v = body.get(key)
        if v is not None and (not _is_number(v) or not -2 <= v <= 2):
            raise ApiError(400, f"{key} must be a number between -2 and 2.")
    stop = body.get("stop")
    if stop is not None and not (isinstance(stop, str) or (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop))):
        raise _unprocessable("stop: expected a string or a sequence of strings")

    temperature = body.get("temperature")
    if temperature is not None:
        if not _is_number(temperature):
            raise _unprocessable(f"temperature: invalid type: {_type_name(temperature)}, "
                                 f"expected a float")
        if not 0 <= temperature <= 2:
            raise ApiError(400, f"temperature must be between 0 and 2, got {temperature}.")
    top_p = body.get("top_p")
    if top_p is not None:
        if not _is_number(top_p):
            raise _unprocessable("top_p: expected a float")
        if not 0 <= top_p <= 1:
            raise ApiError(400, f"top_p must be between 0 and 1, got {top_p}.")
    for key in ("max_tokens", "max_completion_tokens", "seed", "n", "top_logprobs"):
        v = body.get(key)
        if v is not None and not _is_int(v):
            raise _unprocessable(f"{key}: invalid type: {_type_name(v)}, expected an integer")
    for key in ("max_tokens", "max_completion_tokens", "n"):
        v = body.get(key)
        if v is not None and v < 1:
            raise ApiError(400, f"{key} must be at least 1, got {v}.")
    if body.get("n") is not None and body["n"] > 16:
        raise ApiError(400, "n must be at most 16.")
    for key in ("logprobs", "parallel_tool_calls"):
        v = body.get(key)
        if v is not None and not isinstance(v, bool):
            raise _unprocessable(f"{key}: expected a boolean")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise _unprocessable("user: expected a string")

    rf = body.get("response_format")
    if rf is not None:
        if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object",
                                                              "json_schema"):
            raise _unprocessable("response_format.type: unknown variant, expected one of "
                                 "`text`, `json_object`, `json_schema`")
        if rf["type"] == "json_schema":
            js = rf.get("json_schema")
            if not isinstance(js, dict) or not isinstance(js.get("schema"), dict):
                raise _unprocessable("response_format.json_schema: missing field `schema`")

    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise _unprocessable("tools: expected a sequence")
        if len(tools) > 128:
            raise ApiError(400, "A maximum of 128 tools is supported.")
        for i, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or \
                    not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise _unprocessable(f"tools[{i}]: expected {{\"type\": \"function\", "
                                     f"\"function\": {{\"name\": ...}}}}")
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", fn["name"]):
                raise ApiError(400, f"tools[{i}].function.name {fn['name']!r} is invalid.")
            params = fn.get("parameters")
            if params is not None and not isinstance(params, dict):
                raise _unprocessable(f"tools[{i}].function.parameters: expected a map")
            names.append(fn["name"])
    tc = body.get("tool_choice")
    if tc is not None:
        if isinstance(tc, str):
            if tc not in ("auto", "none", "required"):
                raise _unprocessable(f"tool_choice: unknown variant `{tc}`, expected one of "
                                     f"`auto`, `none`, `required`")
            if tc == "required" and not names:
                raise ApiError(400, "tool_choice is `required` but no tools were given.")
        elif isinstance(tc, dict):
            fname = (tc.get("function") or {}).get("name") if isinstance(
                tc.get("function"), dict) else None
            if fname not in names:
                raise ApiError(400, f"tool_choice names function {fname!r}, which is not "
                                    f"among the tools.")
        else:
            raise _unprocessable("tool_choice: expected a string or a map")

    return ChatRequest(
        body=body, model=model, served=served_model_name(model, body), stream=bool(stream),
        include_usage=include_usage, images=images, text_chars=text_chars,
        last_user_text=last_user,
    )


def parse_chat_loosely(body: Any) -> ChatRequest | None:
    """Best-effort ChatRequest without validation (strict=False)."""
    if not isinstance(body, dict):
        return None
    model = resolve_model(str(body.get("model"))) or MODELS[0]
    texts, images, last_user = 0, 0, ""
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        c = msg.get("content")
        text = c if isinstance(c, str) else " ".join(
            p.get("text", "") for p in c or [] if isinstance(p, dict) and p.get("type") == "text")
        images += sum(1 for p in c if isinstance(p, dict) and p.get("type") == "image_url") \
            if isinstance(c, list) else 0
        texts += len(text)
        if msg.get("role") == "user":
            last_user = text
    so = body.get("stream_options")
    return ChatRequest(
        body=body, model=model, served=served_model_name(model, body),
        stream=body.get("stream") is True,
        include_usage=isinstance(so, dict) and so.get("include_usage") is True,
        images=images, text_chars=texts, last_user_text=last_user,
    )


# --------------------------------------------------------------------------------------------
# Prompt caching
# --------------------------------------------------------------------------------------------
CONV_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def check_conv_id(value: str | None) -> str | None:
    """A conversation key (`x-grok-conv-id` header or `prompt_cache_key`), checked."""
    if value is None:
        return None
    if not isinstance(value, str) or not CONV_ID.fullmatch(value):
        raise ApiError(400, "The conversation id must be 1 to 128 letters, digits or . _ : -.")
    return value


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of `a` and `b` (binary search over C comparisons)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def prompt_segments(items: Any) -> list[tuple[str, str]]:
    """A prompt as the cache sees it, in order: one (text, everything else) pair per message or
    input item. Text counts toward cached tokens; the rest (role, images, encrypted reasoning)
    must match too for the prefix to go on."""
    if isinstance(items, str):
        return [(items, "user")]
    segments = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        content = item.get("content")
        if isinstance(content, str):
            text, rest = content, ""
        elif isinstance(content, list):
            parts = [p for p in content if isinstance(p, dict)]
            text = "".join(p.get("text") or "" for p in parts)
            rest = _dumps([p for p in parts if "text" not in p])
        else:
            text, rest = "", ""
        other = {k: v for k, v in item.items() if k != "content"}
        segments.append((text, _dumps(other) + rest))
    return segments


def cached_prefix(new: list[tuple[str, str]], old: list[tuple[str, str]]) -> int:
    """Characters of text in the prefix `new` shares with `old`: whole segments while they
    match, then the common start of the first text that differs (if the rest matches)."""
    chars = 0
    for (text, rest), (old_text, old_rest) in zip(new, old, strict=False):
        if rest != old_rest:
            break
        if text != old_text:
            return chars + common_prefix(text, old_text)
        chars += len(text)
    return chars


class PromptCache:
    """xAI's prompt cache as a client sees it: requests carrying the same conversation key reach
    the same server, which has cached the prompts it answered under that key; a new prompt's
    longest prefix shared with one of them is billed as cached. A prompt joins the cache once its
    answer has been sent (requests sent together do not see each other's). Requests without a
    key land on cold servers (nothing cached)."""

    KEEP = 16  # prompts remembered per key

    def __init__(self) -> None:
        self._seen: dict[str, list[list[tuple[str, str]]]] = {}
        self._lock = threading.Lock()

    def lookup(self, key: str | None, items: Any) -> tuple[int, list]:
        """(characters of `items`' text found cached, the prompt to `keep` once answered);
        `items` are chat messages or a Responses input."""
        prompt = prompt_segments(items)
        if not key:
            return 0, prompt
        with self._lock:
            seen = list(self._seen.get(key, ()))
        return max((cached_prefix(prompt, old) for old in seen), default=0), prompt

    def keep(self, key: str | None, prompt: list) -> None:
        if not key:
            return
        with self._lock:
            seen = self._seen.setdefault(key, [])
            seen.append(prompt)
            del seen[:-self.KEEP]


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------
def cost_ticks(model: Model, prompt: int, cached: int, output: int) -> int:
    """What xAI bills, in ticks (USD 1e-10): cached prompt tokens at the cached price, the rest of
    the prompt at the input price, output (reasoning included) at the output price; a prompt of
    `long_context_at` tokens or more bills all of them at twice the price. (Prices are USD cents
    per 100 M tokens, so a token at price p costs p ticks.)"""
    ticks = ((prompt - cached) * model.prompt_price + cached * model.cached_price
             + output * model.completion_price)
    return ticks * 2 if prompt >= model.long_context_at else ticks


def compute_usage(model: Model, prompt_chars: int, images: int, completion_text: str,
                  reasoning_tokens: int, messages: int = 1, cached_chars: int = 0) -> dict:
    text_tokens = max(1, prompt_chars // 4) + 3 * messages
    image_tokens = IMAGE_TOKENS_PER_IMAGE * images
    completion = max(1, len(completion_text) // 4) if completion_text else 0
    prompt = text_tokens + image_tokens
    cached = min(cached_chars // 4, text_tokens)
    cost = cost_ticks(model, prompt, cached, completion + reasoning_tokens)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion + reasoning_tokens,
        "prompt_tokens_details": {"text_tokens": text_tokens, "audio_tokens": 0,
                                  "image_tokens": image_tokens, "cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
        "num_sources_used": 0,
        "cost_in_usd_ticks": cost,
    }


def _reasoning_tokens(req: ChatRequest) -> int:
    if not req.model.reasoning:
        return 0
    effort = req.body.get("reasoning_effort")
    base = {"none": 0, "low": 48, "medium": 96, "high": 192}.get(effort or "", 128)
    return base + (req.text_chars % 17) if base else 0


@dataclass
class Answer:
    content: str
    reasoning: str | None
    tool_calls: list[dict] | None
    finish_reason: str
    usage: dict
    model: str
    citations: list[str] | None = None


def describe_request(body: dict, prompt: str, images: int, served: str, stream: bool) -> str:
    """The stand-in's default answer: what it received (a chat body, or a Responses body read
    as one with `as_chat`)."""
    params = [f"{k}={body[k]}" for k in ("temperature", "top_p", "max_tokens",
                                         "max_completion_tokens", "reasoning_effort",
                                         "seed") if body.get(k) is not None]
    roles = [m.get("role") for m in body.get("messages", []) if isinstance(m, dict)]
    requested = body.get("model")
    model_line = f"`{served}`" + (f" (requested `{requested}`)" if requested != served else "")
    return "\n".join([
        f'**Stand-in answer** to: "{prompt[:80]}"',
        "",
        f"I received {images} image(s).",
        "",
        f"- Model: {model_line}",
        f"- Messages: {len(roles)} ({', '.join(roles)})",
        f"- Streaming: {'yes' if stream else 'no'}",
        f"- Parameters: {', '.join(params) if params else 'defaults'}",
    ])


def default_answer(req: ChatRequest) -> Answer:
    body = req.body
    prompt = " ".join(req.last_user_text.split())
    rf = body.get("response_format") or {}
    tc = body.get("tool_choice")
    tools = body.get("tools") or []
    tool_calls = None
    finish = "stop"
    reasoning = None
    if req.model.visible_reasoning:
        reasoning = (f'The user wrote: "{prompt[:60]}". This is the local stand-in, so I will '
                     f"answer with a short deterministic summary of the request.")

    forced = None
    if tools and tc == "required":
        forced = tools[0]["function"]
    elif tools and isinstance(tc, dict):
        forced = next(t["function"] for t in tools if t["function"]["name"] ==
                      tc["function"]["name"])
    if forced is not None:
        args = example_from_schema(forced.get("parameters") or {"type": "object"})
        digest = hashlib.sha256(_dumps(body.get("messages")).encode()).hexdigest()
        tool_calls = [{"id": f"call_{int(digest[:8], 16) % 10**8:08d}",
                       "function": {"name": forced["name"], "arguments": _dumps(args)},
                       "type": "function"}]
        content = ""
        finish = "tool_calls"
    elif rf.get("type") == "json_schema":
        content = _dumps(example_from_schema(rf["json_schema"]["schema"]))
    elif rf.get("type") == "json_object":
        content = _dumps({"answer": "Stand-in answer", "prompt": prompt[:80],
                          "images": req.images, "model": req.served})
    else:
        content = describe_request(body, prompt, req.images, req.served, req.stream)
        if tools:
            content += f"\n- Tools: {', '.join(t['function']['name'] for t in tools)}"

    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit and content and finish == "stop" and len(content) // 4 > limit:
        content = content[: limit * 4]
        finish = "length"
    usage = compute_usage(req.model, req.text_chars, req.images, content or _dumps(tool_calls),
                          _reasoning_tokens(req), len(body.get("messages", [])),
                          cached_chars=req.cached_chars)
    return Answer(content, reasoning, tool_calls, finish, usage, req.served)


def reply_answer(reply: Reply, req: ChatRequest | None) -> Answer:
    model = reply.model or (req.served if req else MODELS[0].id)
    usage = reply.usage
    if usage is None:
        m = req.model if req else MODELS[0]
        usage = compute_usage(m, req.text_chars if req else 0, req.images if req else 0,
                              reply.content, len(reply.reasoning or "") // 4 or
                              (_reasoning_tokens(req) if req else 0),
                              cached_chars=req.cached_chars if req else 0)
    return Answer(reply.content, reply.reasoning, reply.tool_calls, reply.finish_reason, usage,
                  model, reply.citations)


def completion_json(ans: Answer, n: int = 1) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": ans.content}
    if ans.reasoning is not None:
        message["reasoning_content"] = ans.reasoning
    if ans.tool_calls:
        message["tool_calls"] = ans.tool_calls
    message["refusal"] = None
    out: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": ans.model,
        "choices": [{"index": i, "message": message, "finish_reason": ans.finish_reason}
                    for i in range(n)],
        "usage": ans.usage,
        "system_fingerprint": _fingerprint(ans.model),
    }
    if ans.citations:
        out["citations"] = ans.citations
    return out


def _pieces(text: str, chunk_chars: int | None) -> list[str]:
    if not text:
        return []
    if chunk_chars:
        return [text[i:i + chunk_chars] for i in range(0, len(text), chunk_chars)]
    return re.findall(r"\s*\S+|\s+", text)


def completion_chunks(ans: Answer, *, include_usage: bool, thinking_chunks: int,
                      chunk_chars: int | None = None) -> list[dict]:
    """chat.completion.chunk events as api.x.ai sends them (without [DONE])."""
    cid, created, fp = str(uuid.uuid4()), int(time.time()), _fingerprint(ans.model)

    def chunk(delta: dict | None, finish: str | None = None, **extra) -> dict:
        c: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created,
                             "model": ans.model}
        if delta is None:
            c["choices"] = []
        else:
            choice: dict[str, Any] = {"index": 0, "delta": delta}
            if finish is not None:
                choice["finish_reason"] = finish
            c["choices"] = [choice]
        c.update(extra)
        c["system_fingerprint"] = fp
        return c

    deltas: list[dict] = []
    if thinking_chunks and not ans.reasoning:
        deltas.append({"role": "assistant"})
        deltas.extend({} for _ in range(thinking_chunks))
    for piece in _pieces(ans.reasoning or "", chunk_chars):
        deltas.append({"reasoning_content": piece})
    for piece in _pieces(ans.content, chunk_chars):
        deltas.append({"content": piece})
    if ans.tool_calls:
        deltas.append({"tool_calls": [{**tc, "index": i} for i, tc in enumerate(ans.tool_calls)]})
    if not deltas:
        deltas.append({"content": ""})
    if "role" not in deltas[0]:
        deltas[0] = {**deltas[0], "role": "assistant"}
    events = [chunk(d) for d in deltas]
    extra = {"citations": ans.citations} if ans.citations else {}
    events.append(chunk({}, ans.finish_reason, **extra))
    if include_usage:
        events.append(chunk(None, usage=ans.usage))
    return events


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    standin: XaiStandin

    def handle_error(self, request, client_address) -> None:
        # A client that drops the connection (Stop, Ctrl-C, timeouts) is normal here.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class XaiStandin:
    """A local, strict stand-in for api.x.ai (see module docstring)."""

    def __init__(self, api_key: str | None = FAKE_KEY, *, host: str = "127.0.0.1",
                 port: int = 0, recordings_dir: Path | str | None = RECORDINGS_DIR,
                 strict: bool = True):
        self.api_key = api_key
        self.host, self.port = host, port
        self.strict = strict  # False: skip request validation (auth/JSON still checked)
        self.replay_enabled = True
        self.default_delay = 0.0  # seconds between events of default (unscripted) streams
        self.thinking_chunks = 3  # empty-delta chunks reasoning models send while "thinking"
        # Seconds before the first byte of every unscripted answer: a number, or a function of
        # the request's last user text (to make answers finish out of order).
        self.latency: float | Any = 0.0
        # Every `throttle_every`-th unscripted chat request (0: none) answers 429 with
        # `Retry-After: throttle_retry_after`, as a busy xAI does (for --each tests).
        self.throttle_every = 0
        self.throttle_retry_after = 1.0
        self._chat_seen = 0
        self.prompt_cache = PromptCache()
        self.recordings: dict[str, Recording] = {}
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []  # exceptions raised inside the stand-in
        self._queue: deque[Behaviour] = deque()
        self._files: dict[str, tuple[bytes, str, dict, int, int | None]] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if recordings_dir is not None:
            self.load_recordings(recordings_dir)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> XaiStandin:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.standin = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": 0.05}, name="xai-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> XaiStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # -- scripting ----------------------------------------------------------------------------
    def enqueue(self, *behaviours: Behaviour) -> None:
        """Queue behaviours; each is consumed (FIFO) by the next POST /v1/chat/completions.
        Fault, Hang and Close apply before validation; Reply, Stream and Replay after it."""
        for b in behaviours:
            if not isinstance(b, (Fault, Reply, Stream, Replay, Hang, Close, Raw, IdleClose)):
                raise TypeError(f"not a behaviour: {b!r}")
            if isinstance(b, Replay) and b.name not in self.recordings:
                raise KeyError(f"no recording named {b.name!r}")
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued behaviours and received requests; restore default settings."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.default_delay = 0.0
            self.strict = True
            self.replay_enabled = True
            self.latency = 0.0
            self.throttle_every = 0
            self.throttle_retry_after = 1.0
            self._chat_seen = 0
            self.prompt_cache = PromptCache()
            self.__dict__.pop("_responses_state", None)
            self.__dict__.pop("_batch_state", None)
            self.__dict__.pop("_imagine_state", None)

    def serve_bytes(self, path: str, data: bytes, content_type: str = "application/octet-stream",
                    headers: dict[str, str] | None = None, *, status: int = 200,
                    length: int | None = None) -> str:
        """Serve `data` at http://127.0.0.1:PORT/files/<path> (no auth); returns the URL.

        `status` answers with another status (a 302 with a Location header, a 403); `length`
        declares a longer Content-Length than `data`: the rest is zeros, written lazily."""
        path = path.lstrip("/")
        with self._lock:
            self._files[path] = (bytes(data), content_type, dict(headers or {}), status, length)
        return f"{self.url}/files/{path}"

    def load_recordings(self, directory: Path | str) -> None:
        for req_file in sorted(Path(directory).glob("*.request.json")):
            name = req_file.name[: -len(".request.json")]
            meta = json.loads(req_file.read_text(encoding="utf-8"))
            body_file = next((p for p in (req_file.with_name(f"{name}.response.sse"),
                                          req_file.with_name(f"{name}.response.json"))
                              if p.exists()), None)
            if body_file is None:
                continue
            self.recordings[name] = Recording(meta["request_body"], meta["response_status"],
                                              meta["response_content_type"],
                                              body_file.read_bytes())

    # -- inspection ---------------------------------------------------------------------------
    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == "/v1/chat/completions"]

    @property
    def answer_requests(self) -> list[RecordedRequest]:
        """Requests for an answer, to chat completions or the Responses API."""
        with self._lock:
            return [r for r in self.requests if r.asks]

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self.requests[-1] if self.requests else None

    # -- internals ----------------------------------------------------------------------------
    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _pop(self) -> Behaviour | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _pop_idle_close(self) -> bool:
        """Take an IdleClose waiting at the head of the queue."""
        with self._lock:
            if self._queue and isinstance(self._queue[0], IdleClose):
                self._queue.popleft()
                return True
            return False

    def _match_recording(self, body: dict) -> str | None:
        if not self.replay_enabled:
            return None
        key = (body.get("model"), body.get("messages"), bool(body.get("stream")))
        for name, rec in self.recordings.items():
            rb = rec.request_body
            if (rb.get("model"), rb.get("messages"), bool(rb.get("stream"))) == key:
                return name
        return None

    def _throttled(self) -> bool:
        with self._lock:
            self._chat_seen += 1
            return bool(self.throttle_every) and self._chat_seen % self.throttle_every == 0

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops; True when stopped."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return "xai-standin/1.0"

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def standin(self) -> XaiStandin:
        return self.server.standin

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.standin._lock:
            self.standin._conns.add(self.connection)

    def finish(self) -> None:
        with self.standin._lock:
            self.standin._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass

    def parse_request(self) -> bool:
        served = getattr(self, "_served", 0)
        self._served = served + 1
        if served and self.standin._pop_idle_close():
            # Closed with the request unread: the kernel resets the connection (IdleClose).
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass
            return False
        return super().parse_request()

    def flush_headers(self) -> None:
        delay = getattr(self, "_header_delay", 0.0)
        if not delay or not getattr(self, "_headers_buffer", None):
            return super().flush_headers()
        data, self._headers_buffer = b"".join(self._headers_buffer), []
        for i in range(len(data)):
            if i and self.standin._sleep(delay):
                raise ConnectionAbortedError("the stand-in is stopping")
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _start(self, status: int, content_type: str, headers: dict[str, str] | None,
               length: int | None, header_delay: float = 0.0) -> None:
        self._header_delay = header_delay
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
        else:
            self.send_header("Content-Length", str(length))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        try:
            self.end_headers()
        finally:
            self._header_delay = 0.0
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = _dumps(obj).encode()
        self._start(status, "application/json", headers, len(data))
        self.wfile.write(data)
        self.wfile.flush()

    def _send_bytes(self, status: int, data: bytes, content_type: str,
                    opts: StreamOptions | None = None, headers: dict | None = None) -> None:
        """A body with Content-Length, optionally delayed and written in flushed pieces."""
        st = self.standin
        headers = {**(headers or {}), **(opts.headers if opts else {})}
        if opts and st._sleep(opts.first_delay):
            return self._abort()
        self._start(status, content_type, headers, len(data),
                    opts.header_delay if opts else 0.0)
        pieces = _split_bytes(data, opts.split) if opts and opts.split else [data]
        for i, piece in enumerate(pieces):
            if i and opts and st._sleep(opts.delay):
                return self._abort()
            self.wfile.write(piece)
            self.wfile.flush()

    def _send_events(self, status: int, events: list[bytes], opts: StreamOptions,
                     content_type: str = "text/event-stream", delay: float | None = None) -> None:
        """Chunked transfer encoding: one flushed HTTP chunk per event (or split piece)."""
        st = self.standin
        delay = opts.delay if delay is None else delay
        events = list(events)
        if opts.no_done:
            events = [e for e in events if not _is_done(e)]
        if opts.endless or opts.keepalive_every is not None:
            events = [e for e in events if not _ends_an_answer(e)]
        if opts.error_event is not None:
            at = max(0, min(opts.error_after, len(events)))
            events = events[:at] + [sse_event(opts.error_event)]
        cut = False
        if opts.cut_after is not None and opts.cut_after < len(events):
            events, cut = events[: opts.cut_after], True
        elif opts.cut_after is not None:
            cut = True
        if opts.crlf:
            events = [re.sub(rb"\r?\n", b"\r\n", e) for e in events]
        if opts.comments:
            comment = b": keep-alive\r\n\r\n" if opts.crlf else b": keep-alive\n\n"
            with_comments = [comment]
            for e in events:
                with_comments += [e, comment]
            events = with_comments
        pieces = _split_bytes(b"".join(events), opts.split) if opts.split else events
        if st._sleep(opts.first_delay):
            return self._abort()
        self._start(status, content_type, opts.headers, None, opts.header_delay)
        for i, piece in enumerate(pieces):
            if i and st._sleep(delay):
                return self._abort()
            if piece:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
        if opts.endless or opts.keepalive_every is not None:
            again = _answer_pieces(pieces) if opts.endless and not opts.split else pieces
            return self._send_forever(again if opts.endless else [b": keep-alive\n\n"],
                                      delay if opts.endless else opts.keepalive_every)
        if cut:
            return self._abort()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_forever(self, pieces: list[bytes], delay: float) -> None:
        """`pieces` round and round, each its own chunk, until the client or the stand-in stops."""
        pieces = [p for p in pieces if p] or [b": keep-alive\n\n"]
        for piece in itertools.cycle(pieces):
            if self.standin._sleep(delay):
                return self._abort()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()

    def _abort(self) -> None:
        """Drop the connection now (no further bytes, no terminating chunk)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routing ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        try:
            raw = self._read_body()
            parsed = None
            if raw:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
            headers = Headers(self.headers.items())
            self.standin._record(RecordedRequest(method, self.path, headers, raw, parsed,
                                                 tuple(self.client_address)))
            path = urlsplit(self.path).path
            self._raw = raw
            if path.startswith("/files/"):
                return self._serve_file(method, unquote(path[len("/files/"):]))
            if path == "/v1/chat/completions" and method == "POST":
                return self._chat(raw)
            if path.startswith("/v1/") or path == "/v1":
                self._check_auth()
                return self._v1(method, path, parsed)
            raise ApiError(404, f"No route for {method} {path}.")
        except ApiError as err:
            self._send_json(err.status, err.body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception as exc:  # a stand-in bug: make it visible to the test
            self.standin.errors.append(exc)
            self.close_connection = True
            try:
                self._send_json(500, error_body(500, f"stand-in bug: {exc!r}"))
            except OSError:
                pass

    def _check_auth(self) -> None:
        auth = self.headers.get("Authorization")
        if not auth or not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiError(401, f"No API key provided. Please provide your API key in the "
                                f"Authorization header (Bearer <key>). You can obtain an API "
                                f"key from {CONSOLE}.", code="unauthenticated:no-credentials")
        key = auth[7:].strip()
        expected = self.standin.api_key
        if expected is not None and key != expected:
            raise ApiError(400, f"Incorrect API key provided: {mask_key(key)}. You can obtain "
                                f"an API key from {CONSOLE}.")

    def _serve_file(self, method: str, path: str) -> None:
        with self.standin._lock:
            entry = self.standin._files.get(path)
        if entry is None:
            raise ApiError(404, f"No file {path!r}.")
        data, content_type, headers, status, length = entry
        if method not in ("GET", "HEAD"):
            raise ApiError(405, f"{method} is not allowed here.")
        length = max(len(data), length or 0)
        self._start(status, content_type, headers, length)
        if method == "GET":
            self.wfile.write(data)
            self.wfile.flush()
            zeros = bytes(64 * 1024)
            for left in range(length - len(data), 0, -len(zeros)):  # padding, never held whole
                if self.standin._stopping.is_set():
                    return self._abort()
                self.wfile.write(zeros[:left])
            self.wfile.flush()

    def _v1(self, method: str, path: str, body: Any) -> None:
        if path == "/v1/responses" or path.startswith("/v1/responses/"):
            from tests.support.standin_responses import serve_responses  # lazy: it imports this module
            return serve_responses(self, method, path, body)
        if path in ("/v1/files", "/v1/batches") or path.startswith(("/v1/files/", "/v1/batches/")):
            from tests.support.standin_batches import serve_batches  # lazy: it imports this module
            return serve_batches(self, method, path, self._raw)
        if path.startswith(("/v1/images/", "/v1/videos/")):
            from tests.support.standin_imagine import serve_imagine  # lazy: it imports this module
            return serve_imagine(self, method, path, self._raw)
        key = self.standin.api_key or "xai-standin-key"
        if path == "/v1/models" and method == "GET":
            return self._send_json(200, {"object": "list", "data": [
                {"id": m.id, "created": m.created, "object": "model", "owned_by": "xai"}
                for m in MODELS]})
        if path.startswith("/v1/models/") and method == "GET":
            m = resolve_model(path[len("/v1/models/"):])
            if m is None:
                raise ApiError(404, f"The model {path[len('/v1/models/'):]} does not exist.")
            return self._send_json(200, {"id": m.id, "created": m.created, "object": "model",
                                         "owned_by": "xai"})
        if path == "/v1/language-models" and method == "GET":
            return self._send_json(200, {"models": [_language_model(m) for m in MODELS]})
        if path.startswith("/v1/language-models/") and method == "GET":
            m = resolve_model(path[len("/v1/language-models/"):])
            if m is None:
                raise ApiError(404, "The model does not exist.")
            return self._send_json(200, _language_model(m))
        if path == "/v1/api-key" and method == "GET":
            return self._send_json(200, {
                "redacted_api_key": f"{key[:4]}...{key[-4:]}" if len(key) > 8 else "****",
                "user_id": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                "name": "stand-in key",
                "create_time": "2026-01-01T00:00:00Z",
                "modify_time": "2026-01-01T00:00:00Z",
                "modified_by": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                "team_id": TEAM_ID,
                "acls": ["api-key:model:*", "api-key:endpoint:*"],
                "api_key_id": "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d",
                "team_blocked": False,
                "api_key_blocked": False,
                "api_key_disabled": False,
            })
        if path == "/v1/tokenize-text" and method == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                raise _unprocessable("missing field `text`")
            if resolve_model(str(body.get("model"))) is None:
                raise ApiError(404, f"The model {body.get('model')} does not exist.")
            pieces = re.findall(r".{1,4}", body["text"], flags=re.S)
            return self._send_json(200, {"token_ids": [
                {"token_id": int(hashlib.md5(p.encode()).hexdigest()[:5], 16),
                 "string_token": p, "token_bytes": list(p.encode())} for p in pieces]})
        if path == "/v1/chat/completions":
            raise ApiError(405, f"{method} is not allowed on {path}.")
        raise ApiError(404, f"No route for {method} {path}.")

    # -- chat/completions -------------------------------------------------------------------
    def _chat(self, raw: bytes) -> None:
        st = self.standin
        behaviour = st._pop()
        if isinstance(behaviour, Fault):
            return self._fault(behaviour)
        if isinstance(behaviour, Hang):
            st._sleep(behaviour.seconds)
            return self._abort()
        if isinstance(behaviour, Close | IdleClose):
            return self._abort()
        if isinstance(behaviour, Raw):
            self.wfile.write(behaviour.data)
            self.wfile.flush()
            return self._abort()

        self._check_auth()
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, "Expected request with `Content-Type: application/json`")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"Failed to parse the request body as JSON: {exc}") from None
        req = validate_chat(body) if st.strict else parse_chat_loosely(body)
        if req is None:
            raise _unprocessable("expected a map")
        conversation = check_conv_id(self.headers.get("x-grok-conv-id"))
        cached, prompt = st.prompt_cache.lookup(conversation, body.get("messages"))
        try:
            return self._chat_answer(behaviour, body, replace(req, cached_chars=cached))
        finally:
            st.prompt_cache.keep(conversation, prompt)

    def _chat_answer(self, behaviour, body: dict, req: ChatRequest) -> None:
        st = self.standin
        if isinstance(behaviour, Replay):
            return self._replay(behaviour.name, behaviour)
        if isinstance(behaviour, Stream):
            events = [sse_event(e) for e in behaviour.events]
            if not any(_is_done(e) for e in events):
                events.append(sse_event("[DONE]"))
            return self._send_events(behaviour.status, events, behaviour,
                                     behaviour.content_type)
        if isinstance(behaviour, Reply):
            ans = reply_answer(behaviour, req)
            return self._answer(req, ans, behaviour, behaviour.chunk_chars, thinking=0)

        name = st._match_recording(body)
        if name is not None:
            return self._replay(name, StreamOptions())
        if st._throttled():
            return self._fault(Fault.rate_limited(st.throttle_retry_after))
        latency = st.latency(req.last_user_text) if callable(st.latency) else st.latency
        if latency and st._sleep(latency):
            return self._abort()
        ans = default_answer(req)
        thinking = st.thinking_chunks if req.model.reasoning and not ans.reasoning else 0
        return self._answer(req, ans, StreamOptions(), None, thinking, st.default_delay)

    def _answer(self, req: ChatRequest, ans: Answer, opts: StreamOptions,
                chunk_chars: int | None, thinking: int, delay: float | None = None) -> None:
        if req.stream:
            events = [sse_event(e) for e in completion_chunks(
                ans, include_usage=req.include_usage, thinking_chunks=thinking,
                chunk_chars=chunk_chars)]
            events.append(sse_event("[DONE]"))
            return self._send_events(200, events, opts, delay=delay)
        data = _dumps(completion_json(ans, req.body.get("n") or 1)).encode()
        return self._send_bytes(200, data, "application/json", opts)

    def _replay(self, name: str, opts: StreamOptions) -> None:
        rec = self.standin.recordings[name]
        if rec.content_type.startswith("text/event-stream"):
            return self._send_events(rec.status, split_sse(rec.body), opts, rec.content_type)
        return self._send_bytes(rec.status, rec.body, rec.content_type, opts)

    def _fault(self, fault: Fault) -> None:
        if self.standin._sleep(fault.delay):
            return self._abort()
        body = fault.body if fault.body is not None else error_body(fault.status)
        if isinstance(body, dict):
            data, ctype = _dumps(body).encode(), fault.content_type or "application/json"
        else:
            data = body.encode() if isinstance(body, str) else body
            ctype = fault.content_type or "application/json"
        self._send_bytes(fault.status, data, ctype, headers=fault.headers)


def _language_model(m: Model) -> dict:
    return {
        "id": m.id,
        "fingerprint": _fingerprint(m.id),
        "created": m.created,
        "object": "model",
        "owned_by": "xai",
        "version": "1.0.0",
        "input_modalities": m.input_modalities,
        "output_modalities": ["text"],
        "prompt_text_token_price": m.prompt_price,
        "cached_prompt_text_token_price": m.cached_price,
        "prompt_image_token_price": m.prompt_price if m.images else 0,
        "completion_text_token_price": m.completion_price,
        "search_price": 0,
        "aliases": list(m.aliases),
    }


def _split_bytes(data: bytes, split: int | list[int]) -> list[bytes]:
    if isinstance(split, int):
        if split <= 0:
            raise ValueError("split must be positive")
        return [data[i:i + split] for i in range(0, len(data), split)]
    cuts = sorted({c for c in split if 0 < c < len(data)})
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


__all__ = [
    "FAKE_KEY", "MODELS", "TEAM_ID", "Close", "Fault", "Hang", "IdleClose", "Model", "Raw",
    "RecordedRequest", "Recording", "Replay", "Reply", "Stream", "StreamOptions", "XaiStandin",
    "as_chat", "error_body",
    "example_from_schema", "mask_key", "resolve_model", "split_sse", "sse_event",
    "validate_chat",
]
