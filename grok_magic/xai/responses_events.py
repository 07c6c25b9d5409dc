"""Responses API stream events, typed and folded into a Response: text, reasoning summary,
usage, citations, server-side tool calls, and the failures (failed, incomplete, error)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from grok_magic.errors import (
    APIStatusError,
    BadRequestError,
    GrokError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    error_for_event,
)
from grok_magic.safety import untrusted_json
from grok_magic.safety.redaction import redact
from grok_magic.xai.response import Response, Usage
from grok_magic.xai.streams import Delta, ResponseStream

ACTIVITY_QUERY_CHARS = 60
INCOMPLETE_HINTS = {
    "max_output_tokens": "The answer reached its output token limit: raise --max-tokens or ask "
                         "for a shorter answer. The partial answer is kept.",
    "content_filter": "xAI's content filter stopped the answer. The partial answer is kept.",
}
FAILURE_CLASSES: dict[str, type[APIStatusError]] = {
    "server_error": ServerError,
    "internal_error": ServerError,
    "rate_limit_exceeded": RateLimitError,
    "invalid_prompt": BadRequestError,
    "invalid_request_error": BadRequestError,
}

@dataclass(slots=True)
class ResponsesDelta(Delta):
    """What one Responses event changed: text, reasoning, and a tool activity line (or "")."""

    activity: str = ""


NOTHING = ResponsesDelta()


def usage_from_responses(data: Mapping, calls: list | None = None) -> Usage:
    """A Responses `usage` as our Usage (see Usage.from_responses)."""
    return Usage.from_responses(data, calls)


def _json_object(text: object) -> dict:
    if isinstance(text, Mapping):
        return dict(text)
    try:
        value = untrusted_json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def tool_kind(item: Mapping) -> str:
    """What a tool call item is: web_search, x_search, code_interpreter, file_search, image_generation,
    mcp, function or custom (xAI runs X search as custom_tool_call items named x_…)."""
    kind = item.get("type") or ""
    if kind == "custom_tool_call":
        name = item.get("name") or ""
        if name.startswith("x_") or "_x_" in name:
            return "x_search"
        return "web_search" if name.startswith(("web_", "browse")) else "custom"
    return {"web_search_call": "web_search", "x_search_call": "x_search",
            "code_interpreter_call": "code_interpreter", "file_search_call": "file_search",
            "image_generation_call": "image_generation", "mcp_call": "mcp",
            "function_call": "function"}.get(kind, kind.removesuffix("_call") or "unknown")


def tool_call_of(item: Mapping) -> dict:
    """A tool call item as a plain dict: kind, type, id, name, status, and query / arguments /
    code / outputs when present. Function calls keep the chat shape (`function.name`, …)."""
    kind = tool_kind(item)
    if kind == "function":
        return {"id": item.get("call_id") or item.get("id"), "type": "function",
                "function": {"name": item.get("name") or "", "arguments": item.get("arguments") or ""}}
    call = {"kind": kind, "type": item.get("type"), "id": item.get("id"),
            "name": item.get("name"), "status": item.get("status")}
    raw = item.get("arguments") if item.get("arguments") is not None else item.get("input")
    arguments = _json_object(raw)
    action = item.get("action") if isinstance(item.get("action"), Mapping) else {}
    query = (arguments.get("query") or action.get("query") or "; ".join(item.get("queries") or ())
             or item.get("prompt"))
    if query:
        call["query"] = redact(str(query))
    if raw:
        call["arguments"] = redact(raw if isinstance(raw, str) else json.dumps(raw))
    code = arguments.get("code") or item.get("code")
    if code:
        call["code"] = redact(str(code))
    outputs = [o for o in (item.get("outputs"), item.get("results"), item.get("output"),
                           action.get("sources"), item.get("result")) if o]
    if outputs:
        call["outputs"] = outputs[0] if isinstance(outputs[0], list) else [outputs[0]]
    return call


def activity_of(call: Mapping) -> str:
    """The thinking line for a tool that starts: "searching the web: 'query'…"."""
    query = call.get("query") or ""
    if len(query) > ACTIVITY_QUERY_CHARS:
        query = query[: ACTIVITY_QUERY_CHARS - 1] + "…"
    what = {"web_search": "searching the web", "x_search": "searching X",
            "file_search": "searching files", "code_interpreter": "running code",
            "image_generation": "generating an image"}.get(call["kind"])
    if call.get("name") == "view_x_video":
        what, query = "watching a video on X", ""
    if what is None:
        what = f"calling {call.get('name') or call['kind']}"
    if call["kind"] in ("code_interpreter", "image_generation"):
        query = ""
    return f"{what}: '{query}'…" if query else f"{what}…"


class ResponsesAccumulator:
    """Folds Responses stream events into a Response; `fold(event)` says what changed.

    Text and reasoning-summary deltas go where Response.finish() joins them; citations are
    `{"url", "title"}` dicts, first appearance first; tool calls are dicts (see tool_call_of).
    Server-side tool usage is in the usage (`server_side_tools_used`, `tool_calls_by_kind`).
    """

    def __init__(self, response: Response | None = None, request_id: str | None = None) -> None:
        self.response = response if response is not None else Response()
        self.request_id = request_id
        self.status: str | None = None
        self._calls: dict[str, dict] = {}  # item id -> its dict in response.tool_calls
        self._urls: set[str] = set()
        self._messages = 0
        self._handlers = {
            "response.created": self._started, "response.in_progress": self._started,
            "response.queued": self._started,
            "response.reasoning_summary_text.delta": self._reasoning,
            "response.reasoning_text.delta": self._reasoning,
            "response.reasoning_summary_part.added": self._summary_part,
            "response.output_text.annotation.added": self._annotation,
            "response.output_item.added": self._item_added,
            "response.output_item.done": self._item_done,
            "response.custom_tool_call_input.delta": self._input_delta,
            "response.custom_tool_call_input.done": self._input_done,
            "response.code_interpreter_call_code.delta": self._code_delta,
            "response.code_interpreter_call_code.done": self._code_done,
            "response.completed": self._completed,
            "response.incomplete": self._incomplete,
            "response.failed": self._failed,
            "error": self._error,
        }

    def fold(self, event: Mapping) -> ResponsesDelta:
        """Fold one event in; return its text / reasoning / activity (NOTHING if none)."""
        kind = event.get("type")
        if kind == "response.output_text.delta":  # the hot path: most events are text
            text = event.get("delta")
            if not text:
                return NOTHING
            self.response.add_text(text)
            return ResponsesDelta(text)
        handler = self._handlers.get(kind)
        if handler is not None:
            return handler(event)
        if isinstance(kind, str) and kind.endswith(("_call.completed", "_call.failed")):
            return self._call_status(event, kind.rpartition(".")[2])
        return NOTHING

    # -- events ---------------------------------------------------------------------------
    def _started(self, event: Mapping) -> ResponsesDelta:
        data = event.get("response") or {}
        response = self.response
        response.id = data.get("id") or response.id
        response.model = data.get("model") or response.model
        self.status = data.get("status") or self.status
        return NOTHING

    def _reasoning(self, event: Mapping) -> ResponsesDelta:
        text = event.get("delta")
        if not text:
            return NOTHING
        self.response.add_reasoning(text)
        return ResponsesDelta(reasoning=text)

    def _summary_part(self, event: Mapping) -> ResponsesDelta:
        if event.get("summary_index") and self.response.has_reasoning:
            self.response.add_reasoning("\n\n")
            return ResponsesDelta(reasoning="\n\n")
        return NOTHING

    def _annotation(self, event: Mapping) -> ResponsesDelta:
        self._cite(event.get("annotation"))
        return NOTHING

    def _cite(self, annotation: object) -> None:
        if not isinstance(annotation, Mapping) or annotation.get("type") != "url_citation":
            return
        url = annotation.get("url")
        if not isinstance(url, str) or not url or url in self._urls:
            return
        self._urls.add(url)
        title = annotation.get("title")
        self.response.citations.append(
            {"url": redact(url), "title": redact(title) if isinstance(title, str) else None})

    def _item_added(self, event: Mapping) -> ResponsesDelta:
        item = event.get("item") or {}
        kind = item.get("type")
        if kind == "message":
            self._messages += 1
            if self._messages > 1 and self.response.has_text:
                self.response.add_text("\n\n")  # a later message: a new paragraph
                return ResponsesDelta("\n\n")
            return NOTHING
        if kind == "reasoning" or not kind:
            return NOTHING
        call = tool_call_of(item)
        self._calls[item.get("id") or f"#{len(self._calls)}"] = call
        self.response.tool_calls.append(call)
        return NOTHING if call["type"] == "function" else ResponsesDelta(activity=activity_of(call))

    def _item_done(self, event: Mapping) -> ResponsesDelta:
        item = event.get("item") or {}
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                for annotation in part.get("annotations") or ():
                    self._cite(annotation)
            return NOTHING
        call = self._calls.get(item.get("id"))
        if call is None or kind == "reasoning":
            return NOTHING
        before = activity_of(call)
        call.update(tool_call_of(item))
        return self._activity_change(call, before)

    def _input_delta(self, event: Mapping) -> ResponsesDelta:
        call = self._calls.get(event.get("item_id"))
        if call is not None:
            call["arguments"] = call.get("arguments", "") + (event.get("delta") or "")
        return NOTHING

    def _input_done(self, event: Mapping) -> ResponsesDelta:
        call = self._calls.get(event.get("item_id"))
        if call is None:
            return NOTHING
        before = activity_of(call)
        arguments = event.get("input") or call.get("arguments") or ""
        call["arguments"] = redact(arguments)
        query = _json_object(arguments).get("query")
        if query:
            call["query"] = redact(str(query))
        return self._activity_change(call, before)

    @staticmethod
    def _activity_change(call: Mapping, before: str) -> ResponsesDelta:
        """A new activity line when what a running tool does became clearer (its query)."""
        after = activity_of(call)
        if after == before or call.get("status") in ("completed", "failed"):
            return NOTHING
        return ResponsesDelta(activity=after)

    def _code_delta(self, event: Mapping) -> ResponsesDelta:
        call = self._calls.get(event.get("item_id"))
        if call is not None:
            call["code"] = call.get("code", "") + (event.get("delta") or "")
        return NOTHING

    def _code_done(self, event: Mapping) -> ResponsesDelta:
        call = self._calls.get(event.get("item_id"))
        if call is not None and event.get("code"):
            call["code"] = redact(event["code"])
        return NOTHING

    def _call_status(self, event: Mapping, status: str) -> ResponsesDelta:
        call = self._calls.get(event.get("item_id"))
        if call is not None and "status" in call:
            call["status"] = status
        return NOTHING

    def _completed(self, event: Mapping) -> ResponsesDelta:
        self._finish_from(event.get("response") or {})
        return NOTHING

    def _incomplete(self, event: Mapping) -> ResponsesDelta:
        data = event.get("response") or {}
        self._finish_from(data)
        reason = (data.get("incomplete_details") or {}).get("reason") or "unknown"
        self.response.finish_reason = "length" if reason == "max_output_tokens" else reason
        raise self._keep(ResponseIncompleteError(
            f"xAI ended the answer early because of {reason}", reason=reason, request_id=self.request_id))

    def _failed(self, event: Mapping) -> ResponsesDelta:
        data = event.get("response") or {}
        self._finish_from(data, final=False)
        error = data.get("error") or {}
        raise self._keep(_failure(error.get("code"), error.get("message"), self.request_id))

    def _error(self, event: Mapping) -> ResponsesDelta:
        raise self._keep(_failure(event.get("code"), event.get("message"), self.request_id))

    # -- the end ----------------------------------------------------------------------------
    def _finish_from(self, data: Mapping, *, final: bool = True) -> None:
        """Take id, model, usage, and the whole output (tool calls, citations, and the text
        when no deltas brought it) from a final response object."""
        response = self.response
        response.id = data.get("id") or response.id
        response.model = data.get("model") or response.model
        self.status = data.get("status") or self.status
        output = data.get("output") or []
        texts, summaries, calls, carried = [], [], [], []
        for item in output:
            kind = item.get("type")
            if kind == "message":
                for part in item.get("content") or ():
                    texts.append(part.get("text") or "")
                    for annotation in part.get("annotations") or ():
                        self._cite(annotation)
            elif kind == "reasoning":
                summaries.extend(s.get("text") or "" for s in item.get("summary") or ())
                if isinstance(item.get("encrypted_content"), str):
                    carried.append(carried_reasoning(item))
            elif kind:
                calls.append(tool_call_of(item))
        if calls:
            response.tool_calls[:] = calls
        if carried:
            response.reasoning_items = carried
        if data.get("usage"):
            response.usage = Usage.from_responses(data["usage"], response.tool_calls)
        if texts and not response.has_text:
            response.add_text("\n\n".join(texts))
        if summaries and not response.has_reasoning:
            response.add_reasoning("\n\n".join(summaries))
        if final:
            function_calls = any(c["type"] == "function" for c in response.tool_calls)
            response.finish_reason = "tool_calls" if function_calls else "stop"

    def _keep(self, err: GrokError) -> GrokError:
        """The error, with the partial answer kept on `err.response`."""
        err.response = self.response.finish(partial=True)
        return err


class ResponseIncompleteError(StreamInterruptedError):
    """The answer is incomplete."""

    def __init__(self, message: str, *, reason: str = "", **kwargs) -> None:
        self.reason = reason
        kwargs.setdefault("hint", INCOMPLETE_HINTS.get(reason, StreamInterruptedError.hint))
        super().__init__(message, **kwargs)


def _failure(code: object, message: object, request_id: str | None) -> APIStatusError:
    """A `response.failed` or `error` event as the matching APIStatusError."""
    code = str(code) if code else None
    message = str(message or "the answer failed without a reason")
    cls = FAILURE_CLASSES.get(code or "")
    if cls is None:
        return error_for_event({"code": code, "error": f"the answer failed: {message}"},
                               request_id=request_id)
    return cls(f"the answer failed ({code}): {message}", code=code, request_id=request_id)


def carried_reasoning(item: Mapping) -> dict:
    """A `reasoning` output item as the next turn's input sends it back: its id, summary and
    encrypted content (xAI decrypts it; nothing of it is shown)."""
    # Masked like all server text: a key echoed in it would otherwise be refused next turn.
    summary = [{"type": "summary_text", "text": redact(s.get("text") or "")}
               for s in item.get("summary") or () if isinstance(s, Mapping)]
    carried = {"type": "reasoning", "summary": summary,
               "encrypted_content": redact(item["encrypted_content"])}
    if isinstance(item.get("id"), str):
        carried["id"] = item["id"]
    return carried


def response_from_json(body: Mapping, **kwargs) -> Response:
    """A whole (non-streaming) `/v1/responses` body as a Response; failed or incomplete
    answers raise, with what arrived kept on `err.response`."""
    return decode_json(body, **kwargs).response


def decode_json(body: Mapping, *, request_id: str | None = None, **kwargs) -> ResponsesAccumulator:
    """A whole `/v1/responses` body folded into an accumulator (`.response`)."""
    accumulator = ResponsesAccumulator(Response(**kwargs), request_id)
    status = body.get("status") or "completed"
    if status not in ("completed", "incomplete", "failed"):
        raise APIStatusError(f"xAI sent a response whose status is {status!r}",
                             request_id=request_id)
    accumulator.fold({"type": f"response.{status}", "response": body})
    accumulator.response.finish()
    return accumulator


def iter_events(accumulator: ResponsesAccumulator, events) -> Iterator[ResponsesDelta]:
    """Fold decoded events (dicts, e.g. from grok_magic.xai.sse.iter_sse_json) one by one."""
    fold = accumulator.fold
    for event in events:
        yield fold(event)


class ResponsesStream(ResponseStream):
    """A streaming Responses answer: iterate for ResponsesDeltas (text, reasoning, activity);
    `.response`, `close()`, `on_end` and `until_done` as in ResponseStream."""

    def __init__(self, http_response, response: Response, request_id: str | None) -> None:
        super().__init__(http_response, response, request_id)
        self.accumulator = ResponsesAccumulator(response, request_id)

    def folder(self):
        return self.accumulator.fold
