"""A request in canonical form, as the ledger stores and matches it: stream flags dropped, every
inline image replaced by its SHA-256 and byte size, keys sorted. Two requests are identical (and
one may be answered by replaying the other) when their canonical forms hash the same.

The hash is of the question, whichever API asked it: a Responses API body is hashed as the chat
completions body that asks the same (xai.responses.chat_form), so a lesson recorded on one API
replays on the other, and how a request was delivered (store, include, prompt_cache_key) does
not matter."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from grok_magic.safety.redaction import redact_value

IGNORED_FIELDS = ("stream", "stream_options")


def canonical_request(body: Mapping) -> dict:
    """`body` without stream flags, data-URL images as `{"sha256", "bytes", "media_type"}`,
    encrypted reasoning as `{"sha256", "bytes"}`, and any key that found its way into the text
    masked (this is what the ledger keeps)."""
    trimmed = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    return redact_value(_hash_images(trimmed))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Canonical:
    """A request in canonical form, its JSON text and that text's hash, each made once."""

    body: dict
    text: str
    hash: str

    @classmethod
    def of(cls, body: Mapping) -> Canonical:
        """From a request body as sent."""
        canonical = canonical_request(body)
        text = canonical_json(canonical)
        return cls(canonical, text, request_hash(canonical, text))


def request_hash(canonical: Mapping, text: str | None = None) -> str:
    """The hash a canonical request is matched by (`text`: its JSON, when already made)."""
    if "input" in canonical and "messages" not in canonical:
        from grok_magic.xai.responses import chat_form

        return _digest(canonical_json(chat_form(canonical)))
    return _digest(text if text is not None else canonical_json(canonical))


def canonical_json(canonical: Mapping) -> str:
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash_images(value):
    if isinstance(value, dict):
        # Reasoning carried between turns is opaque, and resent every turn: kept by its digest.
        return {k: _digest_of(v) if k == "encrypted_content" and isinstance(v, str)
                else _hash_images(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hash_images(v) for v in value]
    if isinstance(value, str) and value.startswith("data:"):
        return _image_digest(value)
    return value


def _digest_of(text: str) -> dict:
    return {"sha256": _digest(text), "bytes": len(text.encode())}


def _image_digest(url: str) -> dict | str:
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        return url
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        data = payload.encode()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "media_type": header[5:].removesuffix(";base64")}


def question_of(body: Mapping) -> str:
    """The last user turn's text (images as [image]), for listings and messages; an Imagine
    request's prompt."""
    if isinstance(body.get("prompt"), str) and "messages" not in body and "input" not in body:
        return body["prompt"]
    turns = body.get("messages") or body.get("input") or []
    if isinstance(turns, str):
        return turns
    for message in reversed(turns):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(
                part.get("text", "") if part.get("type") in ("text", "input_text") else "[image]"
                for part in content or () if isinstance(part, Mapping)
            )
    return ""
