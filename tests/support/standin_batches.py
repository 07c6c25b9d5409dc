"""The stand-in's Files and Batch API: `/v1/files`, `/v1/batches`, `/v1/batches/{id}`,
`/v1/batches/{id}/results` (paginated) and `/v1/batches/{id}:cancel`.

Uploaded JSONL is checked strictly when a batch is created from it (unique `custom_id`,
`method` POST, `url` /v1/chat/completions, and each `body` valid as for the live endpoint);
requests are then answered in the background, one after another, with `latency` seconds each.
Knobs (`batch_state(srv)`): `latency`, `fail` (custom ids answered with a per-request error),
`cancel_by_xai_after` / `expire_after` (stop after that many answers), `max_file_bytes`, and a
queue of behaviours (`enqueue_batches(srv, Fault(...), Close())`) consumed by the next requests
to these routes. Batch answers cost half the live price (an assumption: xAI's docs give both
50 % and 20 % off; the client reads `cost_in_usd_ticks` whatever it is).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.xai_standin import (
    Answer,
    ApiError,
    Close,
    Fault,
    Hang,
    completion_json,
    compute_usage,
    default_answer,
    validate_chat,
)

ALLOWED_URLS = ("/v1/chat/completions", "/v1/responses")
MAX_FILE_BYTES = 100 * 1024 * 1024
EXPIRES_AFTER = 24 * 3600


@dataclass
class Batch:
    id: str
    name: str
    lines: list[dict]
    created: float = field(default_factory=time.time)
    results: list[dict] = field(default_factory=list)
    cancelled_at: float | None = None
    cancel_by_xai_message: str | None = None
    expired: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)

    def state(self) -> dict:
        with self.lock:  # (an RLock: body() holds it too, so a body is one consistent view)
            done = len(self.results)
            errors = sum(1 for r in self.results if r["batch_result"].get("error"))
            stopped = self.cancelled_at is not None or self.expired
            pending = 0 if stopped else len(self.lines) - done
            return {"num_requests": len(self.lines), "num_pending": pending,
                    "num_success": done - errors, "num_error": errors,
                    "num_cancelled": len(self.lines) - done if stopped else 0}

    def body(self) -> dict:
        with self.lock:
            expire = self.created + EXPIRES_AFTER
            if self.expired:
                expire = time.time() - 1
            return {"batch_id": self.id, "name": self.name, "create_time": _iso(self.created),
                    "expire_time": _iso(expire),
                    "cancel_time": _iso(self.cancelled_at) if self.cancelled_at else None,
                    "cancel_by_xai_message": self.cancel_by_xai_message, "state": self.state()}


@dataclass
class BatchState:
    """The batch side of one stand-in, with its knobs."""

    latency: float = 0.0
    fail: set[str] = field(default_factory=set)
    cancel_by_xai_after: int | None = None
    expire_after: int | None = None
    max_file_bytes: int = MAX_FILE_BYTES
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    queue: deque = field(default_factory=deque)
    stopping: threading.Event = field(default_factory=threading.Event)


def batch_state(srv) -> BatchState:
    state = srv.__dict__.get("_batch_state")
    if state is None:
        state = srv.__dict__["_batch_state"] = BatchState()
    return state


def enqueue_batches(srv, *behaviours) -> None:
    batch_state(srv).queue.extend(behaviours)


def is_batch_path(path: str) -> bool:
    return path in ("/v1/files", "/v1/batches") or path.startswith(("/v1/files/", "/v1/batches/"))


def serve_batches(handler, method: str, path: str, raw: bytes) -> None:
    state = batch_state(handler.standin)
    if state.queue:
        behaviour = state.queue.popleft()
        if isinstance(behaviour, Fault):
            return handler._fault(behaviour)
        if isinstance(behaviour, Close):
            return handler._abort()
        if isinstance(behaviour, Hang):
            handler.standin._sleep(behaviour.seconds)
            return handler._abort()
    if path == "/v1/files" and method == "POST":
        return _upload(handler, state, raw)
    if path == "/v1/batches" and method == "POST":
        return _create(handler, state, _json(raw))
    if path == "/v1/batches" and method == "GET":
        return handler._send_json(200, {"batches": [b.body() for b in state.batches.values()]})
    rest = path[len("/v1/batches/"):] if path.startswith("/v1/batches/") else None
    if rest and rest.endswith(":cancel") and method == "POST":
        batch = _batch(state, rest[: -len(":cancel")])
        with batch.lock:
            if batch.cancelled_at is None and len(batch.results) < len(batch.lines):
                batch.cancelled_at = time.time()
        return handler._send_json(200, batch.body())
    if rest and rest.endswith("/results") and method == "GET":
        return _results(handler, _batch(state, rest[: -len("/results")]))
    if rest and "/" not in rest and method == "GET":
        return handler._send_json(200, _batch(state, rest).body())
    raise ApiError(404, f"No route for {method} {path}.")


def _upload(handler, state: BatchState, raw: bytes) -> None:
    ctype = handler.headers.get("Content-Type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise ApiError(415, "Expected a multipart/form-data upload with a `file` part.")
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    if "file" not in parts:
        raise ApiError(400, "The upload has no `file` part.")
    data = parts["file"].get_payload(decode=True) or b""
    if len(data) > state.max_file_bytes:
        raise ApiError(413, f"File too large: {len(data):,} bytes; the limit is "
                            f"{state.max_file_bytes:,} bytes.")
    file_id = f"file_{uuid.uuid4().hex[:24]}"
    state.files[file_id] = data
    handler._send_json(200, {"id": file_id, "object": "file", "bytes": len(data),
                             "filename": parts["file"].get_filename() or "batch.jsonl",
                             "purpose": parts["purpose"].get_content().strip()
                             if "purpose" in parts else None})


def _create(handler, state: BatchState, body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("input_file_id"), str):
        raise ApiError(400, "The batch needs an `input_file_id` (from POST /v1/files).")
    data = state.files.get(body["input_file_id"])
    if data is None:
        raise ApiError(404, f"No file {body['input_file_id']!r}.")
    lines = _check_jsonl(data)
    batch = Batch(f"batch_{uuid.uuid4().hex[:24]}", str(body.get("name") or "batch"), lines)
    state.batches[batch.id] = batch
    threading.Thread(target=_process, args=(handler.standin, state, batch), daemon=True,
                     name=f"standin-{batch.id}").start()
    handler._send_json(200, batch.body())


def _check_jsonl(data: bytes) -> list[dict]:
    lines, seen = [], set()
    for number, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line.strip():
            raise ApiError(400, f"Line {number} of the input file is empty.")
        try:
            entry = json.loads(line)
        except ValueError as err:
            raise ApiError(400, f"Line {number} is not JSON: {err}.") from None
        if not isinstance(entry, dict) or set(entry) - {"custom_id", "method", "url", "body"}:
            raise ApiError(400, f"Line {number} must hold only custom_id, method, url and body.")
        custom_id = entry.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise ApiError(400, f"Line {number} has no custom_id.")
        if custom_id in seen:
            raise ApiError(400, f"custom_id {custom_id!r} is used twice (line {number}).")
        seen.add(custom_id)
        if entry.get("method") != "POST":
            raise ApiError(400, f"Line {number}: method must be POST.")
        if entry.get("url") not in ALLOWED_URLS:
            raise ApiError(400, f"Line {number}: url {entry.get('url')!r} is not supported.")
        request = entry.get("body")
        if isinstance(request, dict) and request.get("stream"):
            raise ApiError(400, f"Line {number}: batch requests cannot stream.")
        try:
            _validate_line(entry["url"], request)
        except ApiError as err:
            raise ApiError(err.status, f"Line {number} ({custom_id}): "
                                       f"{err.body.get('error')}") from None
        lines.append(entry)
    if not lines:
        raise ApiError(400, "The input file holds no requests.")
    return lines


def _process(srv, state: BatchState, batch: Batch) -> None:
    for count, entry in enumerate(batch.lines):
        if state.latency and srv._sleep(state.latency):
            return
        with batch.lock:
            if batch.cancelled_at is not None or batch.expired:
                return
            if state.cancel_by_xai_after is not None and count >= state.cancel_by_xai_after:
                batch.cancelled_at = time.time()
                batch.cancel_by_xai_message = "Cancelled by xAI: the batch could not be served."
                return
            if state.expire_after is not None and count >= state.expire_after:
                batch.expired = True
                return
            batch.results.append(_answer(entry, entry["custom_id"] in state.fail))


def _validate_line(url: str, request: object):
    if url == "/v1/responses":
        from tests.support.standin_responses import validate_responses  # lazy: it imports xai_standin too

        return validate_responses(request)
    return validate_chat(request)


def _responses_answer(request: dict) -> Answer:
    """A /v1/responses line's answer: xAI returns batch results in chat-completion shape."""
    from tests.support.standin_responses import default_run

    req = _validate_line("/v1/responses", request)
    run = default_run(req)
    reasoning = (len(run.reasoning) // 4 + 64) if run.reasoning else 0
    usage = compute_usage(req.model, req.text_chars, req.images, run.text, reasoning)
    return Answer(run.text, None, None, "stop", usage, req.model.id)


def _answer(entry: dict, fail: bool) -> dict:
    if fail:
        return {"batch_request_id": entry["custom_id"], "batch_result": {
            "error": {"code": "invalid_argument", "message": "The model could not answer this."}},
            "error_message": "The model could not answer this."}
    if entry["url"] == "/v1/responses":
        answer = _responses_answer(entry["body"])
    else:
        answer = default_answer(validate_chat(entry["body"]))
    usage = dict(answer.usage, cost_in_usd_ticks=answer.usage["cost_in_usd_ticks"] // 2)
    completion = completion_json(answer)
    completion["usage"] = usage
    return {"batch_request_id": entry["custom_id"],
            "batch_result": {"response": {"chat_get_completion": completion}}}


def _results(handler, batch: Batch) -> None:
    query = parse_qs(urlsplit(handler.path).query)
    limit = int((query.get("limit") or ["100"])[0])
    if not 1 <= limit <= 1000:
        raise ApiError(400, "limit must be between 1 and 1000.")
    start = int((query.get("pagination_token") or ["0"])[0] or 0)
    with batch.lock:
        page = batch.results[start : start + limit]
        more = start + limit < len(batch.results)
    body = {"results": page}
    if more:
        body["pagination_token"] = str(start + limit)
    handler._send_json(200, body)


def _batch(state: BatchState, batch_id: str) -> Batch:
    batch = state.batches.get(batch_id)
    if batch is None:
        raise ApiError(404, f"No batch {batch_id!r}.")
    return batch


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError as err:
        raise ApiError(400, f"Failed to parse the request body as JSON: {err}") from None


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
