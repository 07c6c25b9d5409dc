"""The stand-in's `/v1/responses`: bodies checked as api.x.ai would, the recorded Responses
traffic replayed as SSE, scripted tool runs with citations, and the failure events.

Served by `serve_responses(handler, method, path, body)`, which xai_standin's `_v1` router can
call for `/v1/responses*`; until it does, `ResponsesStandin` (an XaiStandin) routes it itself.
Behaviours for this route have their own queue (`enqueue_responses(srv, ...)`): Fault, Hang and
Close apply before validation; Replay (a recording below), Stream (raw events) and ToolRun after.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tests.support.xai_standin import (
    RECORDINGS_DIR,
    TEAM_ID,
    ApiError,
    Close,
    Fault,
    Hang,
    IdleClose,
    Model,
    Raw,
    Replay,
    Reply,
    Stream,
    StreamOptions,
    XaiStandin,
    _check_image_url,
    _dumps,
    _Handler,
    _is_int,
    _is_number,
    _type_name,
    _unprocessable,
    as_chat,
    check_conv_id,
    cost_ticks,
    describe_request,
    error_body,
    example_from_schema,
    resolve_model,
    sse_event,
)

RESPONSES_DIR = RECORDINGS_DIR / "responses"
TOP_FIELDS = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "seed",
    "reasoning", "text", "tools", "tool_choice", "stream", "store", "include",
    "previous_response_id", "service_tier", "parallel_tool_calls", "user", "metadata",
    "max_tool_calls", "top_logprobs", "truncation", "background", "prompt_cache_key",
})
# tool type -> (required fields, optional fields)
TOOL_FIELDS: dict[str, tuple[frozenset, frozenset]] = {
    "function": (frozenset({"name"}), frozenset({"description", "parameters", "strict"})),
    "web_search": (frozenset(), frozenset({"allowed_domains", "excluded_domains",
                                           "enable_image_understanding", "search_context_size",
                                           "user_location"})),
    "x_search": (frozenset(), frozenset({"allowed_x_handles", "excluded_x_handles", "from_date",
                                         "to_date", "enable_image_understanding",
                                         "enable_video_understanding"})),
    "code_interpreter": (frozenset(), frozenset({"container"})),
    "file_search": (frozenset({"vector_store_ids"}), frozenset({"max_num_results", "filters",
                                                                "ranking_options"})),
    "mcp": (frozenset({"server_url"}), frozenset({"server_label", "server_description",
                                                  "allowed_tools", "require_approval",
                                                  "headers", "authorization"})),
    "image_generation": (frozenset(), frozenset()),
}
PART_FIELDS = {
    "input_text": frozenset({"type", "text"}),
    "input_image": frozenset({"type", "image_url", "detail"}),
    "input_file": frozenset({"type", "file_id", "file_url", "filename"}),
    "output_text": frozenset({"type", "text", "annotations", "logprobs"}),
}
ROLE_PARTS = {"system": ("input_text",), "developer": ("input_text",),
              "user": ("input_text", "input_image", "input_file"), "assistant": ("output_text",)}
INCLUDABLE = frozenset({"reasoning.encrypted_content", "web_search_call.action.sources",
                        "code_interpreter_call.outputs", "file_search_call.results",
                        "message.output_text.logprobs", "message.input_image.image_url"})
DOMAIN = re.compile(r"(?:[\w-]+\.)+[\w-]{2,}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# $0.005 per server-side tool call: invented (xAI bills tools per call; its price is not in the
# contract), so tests can tell a cost with tool fees from one without.
TOOL_FEE_TICKS = 50_000_000
IMAGE_TOKENS = 256


# -- behaviours -------------------------------------------------------------------------------
@dataclass
class ToolRun(StreamOptions):
    """A scripted Responses answer: optional reasoning summary, searches (`("web"|"x", query)`),
    code run on the server (with its output), then the text with its citations (URLs or
    `{"url", "title"}`). `end`: "completed", or "failed" / "incomplete" / "error" after the
    text (which is then the partial answer). `chunk_chars` splits deltas (default: words)."""

    text: str = "Stand-in answer."
    reasoning: str | None = None
    searches: list[tuple[str, str]] = field(default_factory=list)
    code: str | None = None
    code_output: str | None = None
    citations: list[str | dict] = field(default_factory=list)
    model: str | None = None
    end: str = "completed"
    error_code: str = "server_error"
    error_message: str = "The service is currently unavailable"
    incomplete_reason: str = "max_output_tokens"
    chunk_chars: int | None = None
    usage: dict | None = None  # a Responses `usage` to report instead of the computed one
    # Made from a Reply: its cut_after / error_after count answer pieces (text and reasoning
    # deltas), as on chat completions, not every event.
    from_reply: bool = False


ResponsesBehaviour = Fault | Hang | Close | Replay | Stream | ToolRun


@dataclass
class ResponsesRecording:
    """A recorded answer: its stream events (JSON lines) and/or its whole JSON body."""

    events: list[str] | None = None
    body: bytes | None = None


def load_recordings(directory: Path = RESPONSES_DIR) -> dict[str, ResponsesRecording]:
    """`xai-web-search-tool` etc. (the `.1` and the extension dropped) -> its recording."""
    recordings: dict[str, ResponsesRecording] = {}
    for path in sorted(directory.glob("*.chunks.txt")) + sorted(directory.glob("*.json")):
        name = re.sub(r"(\.1)?\.(chunks\.txt|json)$", "", path.name)
        rec = recordings.setdefault(name, ResponsesRecording())
        if path.name.endswith(".chunks.txt"):
            rec.events = [line for line in path.read_text("utf-8").splitlines() if line.strip()]
        else:
            rec.body = path.read_bytes()
    return recordings


RECORDINGS = load_recordings() if RESPONSES_DIR.is_dir() else {}


class ResponsesState:
    """Per stand-in: the behaviour queue of `/v1/responses` and the responses stored there."""

    def __init__(self) -> None:
        self.queue: deque[ResponsesBehaviour] = deque()
        self.stored: dict[str, dict] = {}
        self.lock = threading.Lock()

    def pop(self) -> ResponsesBehaviour | None:
        with self.lock:
            return self.queue.popleft() if self.queue else None


def responses_state(srv: XaiStandin) -> ResponsesState:
    with srv._lock:
        state = srv.__dict__.get("_responses_state")
        if state is None:
            state = srv.__dict__["_responses_state"] = ResponsesState()
        return state


def enqueue_responses(srv: XaiStandin, *behaviours: ResponsesBehaviour) -> None:
    """Queue behaviours for the next POSTs to /v1/responses (FIFO)."""
    for b in behaviours:
        if not isinstance(b, Fault | Hang | Close | Replay | Stream | ToolRun):
            raise TypeError(f"not a /v1/responses behaviour: {b!r}")
        if isinstance(b, Replay) and b.name not in RECORDINGS:
            raise KeyError(f"no Responses recording named {b.name!r}")
    state = responses_state(srv)
    with state.lock:
        state.queue.extend(behaviours)


# -- validation -------------------------------------------------------------------------------
@dataclass
class ResponsesRequest:
    """A validated /v1/responses request."""

    body: dict
    model: Model
    stream: bool
    store: bool
    prompt: str
    text_chars: int
    images: int
    tools: list[dict]
    cached_chars: int = 0  # characters of the input's prefix found in the prompt cache


def _unknown(fields: set, allowed: frozenset, where: str) -> None:
    extra = sorted(set(fields) - allowed)
    if extra:
        raise _unprocessable(f"{where}unknown field `{extra[0]}`, expected one of "
                             f"{', '.join(f'`{f}`' for f in sorted(allowed))}")


def _check_parts(content: Any, role: str, where: str) -> tuple[str, int]:
    """A message's content: (its text, its image count)."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        raise _unprocessable(f"{where}.content: invalid type: {_type_name(content)}, expected "
                             f"a string or a sequence")
    texts, images = [], 0
    allowed = ROLE_PARTS[role]
    for j, part in enumerate(content):
        pw = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            raise _unprocessable(f"{pw}.type: unknown variant `{kind}`, expected one of "
                                 f"{', '.join(f'`{a}`' for a in allowed)}")
        _unknown(set(part), PART_FIELDS[kind], f"{pw}: ")
        if kind in ("input_text", "output_text"):
            if not isinstance(part.get("text"), str):
                raise _unprocessable(f"{pw}: missing field `text`")
            texts.append(part["text"])
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise _unprocessable(f"{pw}.image_url: invalid type: {_type_name(url)}, "
                                     f"expected a string")
            if part.get("detail") not in (None, "auto", "low", "high"):
                raise _unprocessable(f"{pw}.detail: unknown variant `{part['detail']}`, "
                                     f"expected one of `auto`, `low`, `high`")
            _check_image_url(url, pw)
            images += 1
        elif not (part.get("file_id") or part.get("file_url")):
            raise _unprocessable(f"{pw}: missing field `file_id`")
    return " ".join(texts), images


def _check_input(items: Any) -> tuple[str, int, int]:
    """(last user text, text characters, images) of a valid `input`."""
    if isinstance(items, str):
        if not items.strip():
            raise ApiError(400, "input must not be empty.")
        return items, len(items), 0
    if not isinstance(items, list):
        raise _unprocessable(f"input: invalid type: {_type_name(items)}, expected a string or "
                             f"a sequence of input items")
    if not items:
        raise ApiError(400, "input: at least one input item is required.")
    prompt, chars, images = "", 0, 0
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _unprocessable(f"{where}: invalid type: {_type_name(item)}, expected a map")
        kind = item.get("type", "message")
        if kind == "function_call":
            _unknown(set(item), frozenset({"type", "call_id", "name", "arguments", "id",
                                           "status"}), f"{where}: ")
            if not all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
                raise _unprocessable(f"{where}: function_call needs `call_id`, `name`, "
                                     f"`arguments` strings")
            continue
        if kind == "function_call_output":
            _unknown(set(item), frozenset({"type", "call_id", "output", "id", "status"}),
                     f"{where}: ")
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("output"), str):
                raise _unprocessable(f"{where}: function_call_output needs `call_id` and "
                                     f"`output` strings")
            continue
        if kind == "reasoning":  # reasoning carried over from an earlier turn
            _unknown(set(item), frozenset({"type", "id", "summary", "encrypted_content",
                                           "status"}), f"{where}: ")
            if not isinstance(item.get("encrypted_content"), str) and not isinstance(
                    item.get("id"), str):
                raise _unprocessable(f"{where}: reasoning needs `encrypted_content` (or the `id` "
                                     f"of a stored response's reasoning)")
            if not isinstance(item.get("summary", []), list):
                raise _unprocessable(f"{where}.summary: expected a sequence")
            continue
        if kind != "message":
            raise _unprocessable(f"{where}.type: unknown variant `{kind}`, expected one of "
                                 f"`message`, `function_call`, `function_call_output`, "
                                 f"`reasoning`")
        _unknown(set(item), frozenset({"type", "role", "content", "id", "status"}), f"{where}: ")
        role = item.get("role")
        if role not in ROLE_PARTS:
            raise _unprocessable(f"{where}.role: unknown variant `{role}`, expected one of "
                                 f"`system`, `developer`, `user`, `assistant`")
        if "content" not in item:
            raise _unprocessable(f"{where}: missing field `content`")
        text, n = _check_parts(item["content"], role, where)
        if role == "user":
            if not text.strip() and not n:
                raise ApiError(400, f"{where}: user message content must not be empty.")
            prompt = text
        chars, images = chars + len(text), images + n
    return prompt, chars, images


def _check_tools(tools: Any) -> list[dict]:
    if not isinstance(tools, list):
        raise _unprocessable("tools: expected a sequence")
    if len(tools) > 128:
        raise ApiError(400, "A maximum of 128 tools is supported.")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in TOOL_FIELDS:
            raise _unprocessable(f"{where}.type: unknown variant `{kind}`, expected one of "
                                 f"{', '.join(f'`{k}`' for k in TOOL_FIELDS)}")
        required, optional = TOOL_FIELDS[kind]
        _unknown(set(tool) - {"type"}, required | optional, f"{where}: ")
        missing = sorted(required - set(tool))
        if missing:
            raise _unprocessable(f"{where}: missing field `{missing[0]}`")
        if kind == "function" and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(tool["name"])):
            raise ApiError(400, f"{where}.name {tool['name']!r} is invalid.")
        for key in ("allowed_domains", "excluded_domains"):
            _check_list(tool, key, where, lambda v: DOMAIN.fullmatch(v) and "/" not in v,
                        "a domain such as arxiv.org")
        for key in ("allowed_x_handles", "excluded_x_handles"):
            _check_list(tool, key, where, lambda v: re.fullmatch(r"[A-Za-z0-9_]{1,15}", v),
                        "an X handle without @")
        for key in ("from_date", "to_date"):
            if key in tool and not (isinstance(tool[key], str) and DATE.fullmatch(tool[key])):
                raise ApiError(400, f"{where}.{key} must be a date as YYYY-MM-DD.")
    return tools


def _check_list(tool: dict, key: str, where: str, valid, what: str) -> None:
    if key not in tool:
        return
    values = tool[key]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _unprocessable(f"{where}.{key}: expected a sequence of strings")
    for j, value in enumerate(values):
        if not valid(value):
            raise ApiError(400, f"{where}.{key}[{j}] {value!r} is not {what}.")


def _check_options(body: dict, model: Model, tools: list[dict]) -> None:
    for key, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        v = body.get(key)
        if v is not None and (not _is_number(v) or not low <= v <= high):
            raise ApiError(400, f"{key} must be a number between {low} and {high}, got {v}.")
    for key in ("max_output_tokens", "seed", "max_tool_calls", "top_logprobs"):
        v = body.get(key)
        if v is not None and not _is_int(v):
            raise _unprocessable(f"{key}: invalid type: {_type_name(v)}, expected an integer")
    if body.get("max_output_tokens") is not None and body["max_output_tokens"] < 1:
        raise ApiError(400, "max_output_tokens must be at least 1.")
    for key in ("stream", "store", "parallel_tool_calls", "background"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise _unprocessable(f"{key}: invalid type: {_type_name(body[key])}, expected a "
                                 f"boolean")
    for key in ("instructions", "previous_response_id", "user"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise _unprocessable(f"{key}: expected a string")
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise _unprocessable("reasoning: expected a map")
        _unknown(set(reasoning), frozenset({"effort", "summary"}), "reasoning: ")
        effort = reasoning.get("effort")
        if effort is not None and not model.efforts:
            raise ApiError(400, f"Model {model.id} does not support parameter reasoningEffort.")
        if effort is not None and effort not in model.efforts:
            raise ApiError(400, f"Invalid reasoning effort {effort!r} for model {model.id}; "
                                f"supported values: {', '.join(model.efforts)}.")
    text = body.get("text")
    if text is not None:
        if not isinstance(text, dict):
            raise _unprocessable("text: expected a map")
        _unknown(set(text), frozenset({"format", "verbosity"}), "text: ")
        fmt = text.get("format") or {"type": "text"}
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        allowed = {"text": frozenset({"type"}), "json_object": frozenset({"type"}),
                   "json_schema": frozenset({"type", "name", "schema", "strict", "description"})}
        if kind not in allowed:
            raise _unprocessable("text.format.type: unknown variant, expected one of `text`, "
                                 "`json_object`, `json_schema`")
        _unknown(set(fmt), allowed[kind], "text.format: ")
        if kind == "json_schema" and not (isinstance(fmt.get("name"), str)
                                          and isinstance(fmt.get("schema"), dict)):
            raise _unprocessable("text.format: json_schema needs `name` and `schema`")
    include = body.get("include")
    if include is not None:
        if not isinstance(include, list) or any(i not in INCLUDABLE for i in include):
            raise _unprocessable(f"include: unknown variant, expected any of "
                                 f"{', '.join(sorted(INCLUDABLE))}")
    choice = body.get("tool_choice")
    names = [t["name"] for t in tools if t["type"] == "function"]
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise _unprocessable(f"tool_choice: unknown variant `{choice}`")
        if choice == "required" and not tools:
            raise ApiError(400, "tool_choice is `required` but no tools were given.")
    elif isinstance(choice, dict):
        _unknown(set(choice), frozenset({"type", "name"}), "tool_choice: ")
        if choice.get("type") != "function" or choice.get("name") not in names:
            raise ApiError(400, f"tool_choice names function {choice.get('name')!r}, which is "
                                f"not among the tools.")
    elif choice is not None:
        raise _unprocessable("tool_choice: expected a string or a map")


def validate_responses(body: Any, stored: dict | None = None) -> ResponsesRequest:
    """Check a parsed /v1/responses body like api.x.ai does; raise ApiError if invalid."""
    if not isinstance(body, dict):
        raise _unprocessable(f"invalid type: {_type_name(body)}, expected a map")
    if "search_parameters" in body:
        raise ApiError(410, "Live search is deprecated. Please switch to the Agent Tools API: "
                            "https://docs.x.ai/docs/guides/tools/overview", code="Gone")
    _unknown(set(body), TOP_FIELDS, "")
    for key in ("model", "input"):
        if key not in body:
            raise _unprocessable(f"missing field `{key}`")
    if not isinstance(body["model"], str):
        raise _unprocessable(f"model: invalid type: {_type_name(body['model'])}, expected a "
                             f"string")
    model = resolve_model(body["model"])
    if model is None:
        raise ApiError(404, f"The model {body['model']} does not exist or your team {TEAM_ID} "
                            f"does not have access to it.")
    prompt, chars, images = _check_input(body["input"])
    if images and not model.images:
        raise ApiError(400, f"Model {model.id} does not support image input.")
    tools = _check_tools(body["tools"]) if body.get("tools") is not None else []
    _check_options(body, model, tools)
    previous = body.get("previous_response_id")
    if previous is not None and previous not in (stored or {}):
        raise ApiError(404, f"Response with id {previous!r} not found.")
    return ResponsesRequest(body, model, bool(body.get("stream")), body.get("store", True),
                            prompt, chars, images, tools)


# -- answers ----------------------------------------------------------------------------------
def default_run(req: ResponsesRequest) -> ToolRun:
    """A deterministic answer to `req`; each server-side tool it offers runs once, citing."""
    prompt = " ".join(req.prompt.split())[:80]
    served = req.model.id
    run = ToolRun(text=describe_request(as_chat(req.body), prompt, req.images, served,
                                        req.stream))
    text_format = (req.body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        run.text = _dumps(example_from_schema(text_format["schema"]))
    elif text_format.get("type") == "json_object":
        run.text = _dumps({"answer": "Stand-in answer", "prompt": prompt})
    if req.model.reasoning:
        run.reasoning = f'The user asked: "{prompt[:60]}". A short, deterministic answer.'
    digest = int(hashlib.sha256(prompt.encode()).hexdigest()[:12], 16)
    for tool in req.tools:
        if tool["type"] == "web_search":
            domains = tool.get("allowed_domains") or ["en.wikipedia.org", "example.org"]
            run.searches.append(("web", prompt[:60]))
            run.citations += [f"https://{d}/stand-in/{digest % 10_000}" for d in domains]
        elif tool["type"] == "x_search":
            handles = tool.get("allowed_x_handles") or []
            query = " OR ".join(f"from:{h}" for h in handles) or prompt[:60]
            run.searches.append(("x", query))
            run.citations += [f"https://x.com/i/status/{digest + i}" for i in range(2)]
        elif tool["type"] == "code_interpreter":
            run.code, run.code_output = "print(sum(range(1, 11)))", "55\n"
            run.text += "\n\nThe code printed 55."
    return run


def _pieces(text: str, chunk_chars: int | None) -> list[str]:
    if chunk_chars:
        return [text[i:i + chunk_chars] for i in range(0, len(text), chunk_chars)]
    return re.findall(r"\s*\S+|\s+", text)


class RunEvents:
    """The events (and the final response object) of one ToolRun, shaped like the recordings."""

    def __init__(self, req: ResponsesRequest, run: ToolRun) -> None:
        self.req, self.run = req, run
        self.id = str(uuid.uuid4())
        self.events: list[dict] = []
        self.output: list[dict] = []
        self.calls: dict[str, int] = {}

    def emit(self, kind: str, **fields) -> None:
        self.events.append({"sequence_number": len(self.events), "type": kind, **fields})

    def response(self, status: str, **extra) -> dict:
        body = self.req.body
        return {"created_at": int(time.time()), "id": self.id,
                "max_output_tokens": body.get("max_output_tokens"),
                "model": self.run.model or self.req.model.id, "object": "response",
                "output": list(self.output), "previous_response_id":
                body.get("previous_response_id"), "reasoning": body.get("reasoning") or
                {"effort": None, "summary": None}, "temperature": body.get("temperature"),
                "text": body.get("text") or {"format": {"type": "text"}},
                "tool_choice": body.get("tool_choice", "auto"), "tools": self.req.tools,
                "top_p": body.get("top_p"), "incomplete_details": None, "status": status,
                "store": self.req.store, "metadata": {}, "error": None, **extra}

    def item(self, item: dict, steps: list[tuple[str, dict]], done: dict) -> None:
        index = len(self.output)
        self.emit("response.output_item.added", item=item, output_index=index)
        for kind, values in steps:
            self.emit(kind, item_id=item["id"], output_index=index, **values)
        final = {**item, **done, "status": "completed"}
        self.emit("response.output_item.done", item=final, output_index=index)
        self.output.append(final)

    def build(self) -> list[dict]:
        run = self.run
        self.emit("response.created", response=self.response("in_progress"))
        self.emit("response.in_progress", response=self.response("in_progress"))
        if run.reasoning:
            summary = [{"type": "summary_text", "text": run.reasoning}]
            done: dict = {"summary": summary}
            if "reasoning.encrypted_content" in (self.req.body.get("include") or ()):
                done["encrypted_content"] = base64.b64encode(hashlib.sha256(
                    run.reasoning.encode()).digest() * 4).decode()
            self.item({"id": f"rs_{self.id}", "summary": [], "type": "reasoning",
                       "status": "in_progress"},
                      [("response.reasoning_summary_text.delta", {"delta": p, "summary_index": 0})
                       for p in _pieces(run.reasoning, run.chunk_chars)], done)
        for n, (kind, query) in enumerate(run.searches):
            self._search(n, kind, query)
        if run.code is not None:
            self._code()
        self._message()
        return self.events

    def _search(self, n: int, kind: str, query: str) -> None:
        arguments = _dumps({"query": query, "limit": 10} if kind == "x" else
                           {"query": query, "num_results": 5})
        if kind == "x":
            self.calls["x_search_calls"] = self.calls.get("x_search_calls", 0) + 1
            item = {"call_id": f"xs_call_{n}", "input": "", "name": "x_keyword_search",
                    "type": "custom_tool_call", "id": f"ctc_{self.id}_xs_call_{n}",
                    "status": "in_progress"}
            self.item(item, [("response.custom_tool_call_input.delta", {"delta": arguments}),
                             ("response.custom_tool_call_input.done", {"input": arguments})],
                      {"input": arguments})
            return
        self.calls["web_search_calls"] = self.calls.get("web_search_calls", 0) + 1
        item = {"arguments": arguments, "call_id": "", "name": "web_search",
                "type": "web_search_call", "id": f"fc_{self.id}_{n}", "status": "in_progress"}
        self.item(item, [(f"response.web_search_call.{s}", {})
                         for s in ("in_progress", "searching", "completed")], {})

    def _code(self) -> None:
        run = self.run
        self.calls["code_interpreter_calls"] = 1
        item = {"arguments": "", "call_id": "", "name": "code_execution",
                "type": "code_interpreter_call", "id": f"ci_{self.id}_0", "status": "in_progress"}
        outputs = [{"type": "logs", "logs": run.code_output}] if run.code_output else []
        self.item(item, [("response.code_interpreter_call.in_progress", {}),
                         ("response.code_interpreter_call_code.delta", {"delta": run.code}),
                         ("response.code_interpreter_call_code.done", {"code": run.code}),
                         ("response.code_interpreter_call.interpreting", {}),
                         ("response.code_interpreter_call.completed", {})],
                  {"arguments": _dumps({"code": run.code}), "outputs": outputs})

    def _message(self) -> None:
        run, index, mid = self.run, len(self.output), f"msg_{self.id}"
        self.emit("response.output_item.added", output_index=index,
                  item={"content": [], "id": mid, "role": "assistant", "type": "message",
                        "status": "in_progress"})
        where = {"item_id": mid, "output_index": index, "content_index": 0}
        self.emit("response.content_part.added", **where,
                  part={"type": "output_text", "text": "", "logprobs": [], "annotations": []})
        for piece in _pieces(run.text, run.chunk_chars):
            self.emit("response.output_text.delta", **where, delta=piece, logprobs=[])
        if run.end == "error":
            self.events.append({"type": "error", "code": run.error_code,
                                "message": run.error_message, "param": None,
                                "sequence_number": len(self.events)})
            return
        annotations = [c if isinstance(c, dict) else {"type": "url_citation", "url": c}
                       for c in run.citations]
        annotations = [{"type": "url_citation", **a} for a in annotations]
        if run.end == "completed":
            for i, annotation in enumerate(annotations):
                self.emit("response.output_text.annotation.added", **where, annotation=annotation,
                          annotation_index=i)
        part = {"type": "output_text", "text": run.text, "logprobs": [],
                "annotations": annotations if run.end == "completed" else []}
        status = "completed" if run.end == "completed" else "incomplete"
        self.output.append({"content": [part], "id": mid, "role": "assistant", "type": "message",
                            "status": status})
        if run.end == "failed":
            error = {"code": run.error_code, "message": run.error_message}
            self.emit("response.failed", response=self.response("failed", error=error))
            return
        if run.end == "incomplete":
            details = {"reason": run.incomplete_reason}
            self.emit("response.incomplete", response=self.response(
                "incomplete", incomplete_details=details, usage=self.usage()))
            return
        self.emit("response.output_text.done", **where, text=run.text, logprobs=[])
        self.emit("response.content_part.done", **where, part=part)
        self.emit("response.output_item.done", output_index=index, item=self.output[-1])
        self.emit("response.completed", response=self.response("completed", usage=self.usage()))

    def usage(self) -> dict:
        if self.run.usage is not None:
            return self.run.usage
        m, run = self.req.model, self.run
        text = max(1, self.req.text_chars // 4)
        prompt = text + IMAGE_TOKENS * self.req.images
        cached = min(self.req.cached_chars // 4, text)
        reasoning = len(run.reasoning or "") // 4 + (64 if m.reasoning else 0)
        output = max(1, len(run.text) // 4) + reasoning
        tools = sum(self.calls.values())
        return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": prompt + output, "num_sources_used": len(run.citations),
                "num_server_side_tools_used": tools,
                "cost_in_usd_ticks": cost_ticks(m, prompt, cached, output)
                + tools * TOOL_FEE_TICKS,
                "server_side_tool_usage_details": {
                    k: self.calls.get(k, 0) for k in ("web_search_calls", "x_search_calls",
                                                      "code_interpreter_calls")}}


# -- serving ----------------------------------------------------------------------------------
def serve_responses(handler: _Handler, method: str, path: str, body: Any) -> None:
    """Answer `/v1/responses` (POST) and `/v1/responses/{id}` (GET, DELETE) for a handler of
    xai_standin (auth already checked)."""
    state = responses_state(handler.standin)
    if path != "/v1/responses":
        rid = path[len("/v1/responses/"):]
        with state.lock:
            stored = state.stored.get(rid) if method == "GET" else state.stored.pop(rid, None)
        if method not in ("GET", "DELETE"):
            raise ApiError(405, f"{method} is not allowed on {path}.")
        if stored is None:
            raise ApiError(404, f"Response with id {rid!r} not found.")
        if method == "GET":
            return handler._send_json(200, stored)
        return handler._send_json(200, {"id": rid, "object": "response", "deleted": True})
    if method != "POST":
        raise ApiError(405, f"{method} is not allowed on {path}.")
    behaviour = state.pop()
    if behaviour is None:
        # The stand-in's shared queue: Fault, Hang, Close, Raw, a Reply (as the same answer in
        # Responses events) and Stream apply to whichever answering endpoint is asked next.
        behaviour = from_shared_queue(handler.standin._pop())
    if isinstance(behaviour, Fault):
        return handler._fault(behaviour)
    if isinstance(behaviour, Hang):
        handler.standin._sleep(behaviour.seconds)
        return handler._abort()
    if isinstance(behaviour, Close | IdleClose):
        return handler._abort()
    if isinstance(behaviour, Raw):
        handler.wfile.write(behaviour.data)
        handler.wfile.flush()
        return handler._abort()
    ctype = handler.headers.get("Content-Type", "")
    if ctype.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "Expected request with `Content-Type: application/json`")
    if body is None:
        raise ApiError(400, "Failed to parse the request body as JSON.")
    with state.lock:
        stored = dict(state.stored)
    req = validate_responses(body, stored)
    conversation = check_conv_id(body.get("prompt_cache_key"))
    cache = handler.standin.prompt_cache
    cached, prompt = cache.lookup(conversation, body["input"])
    try:
        return _answer(handler, state, behaviour, replace(req, cached_chars=cached))
    finally:
        cache.keep(conversation, prompt)


def _answer(handler: _Handler, state, behaviour, req: ResponsesRequest) -> None:
    if isinstance(behaviour, Replay):
        return _replay(handler, RECORDINGS[behaviour.name], req, behaviour)
    if isinstance(behaviour, Stream):
        events = [sse_event(e) for e in behaviour.events]
        return handler._send_events(behaviour.status, events, behaviour, behaviour.content_type)
    delay = None
    if behaviour is None:  # unscripted: the stand-in's knobs apply, as on chat completions
        st = handler.standin
        if st._throttled():
            return handler._fault(Fault.rate_limited(st.throttle_retry_after))
        latency = st.latency(req.prompt) if callable(st.latency) else st.latency
        if latency and st._sleep(latency):
            return handler._abort()
        delay = st.default_delay
    run = behaviour if isinstance(behaviour, ToolRun) else default_run(req)
    events = RunEvents(req, run).build()
    final = events[-1].get("response") if events[-1]["type"] != "error" else None
    if req.store and final is not None:
        with state.lock:
            state.stored[final["id"]] = final
    if run.from_reply:
        run = counted_in_pieces(run, events)
    if req.stream:
        return handler._send_events(200, [sse_event(e) for e in events], run, delay=delay)
    if final is None:
        return handler._send_json(500, error_body(500, run.error_message, run.error_code))
    return handler._send_bytes(200, _dumps(final).encode(), "application/json", run)


def from_shared_queue(behaviour):
    """A behaviour queued with `enqueue` (for the next answer, whichever API asks): a Reply
    becomes the ToolRun that gives the same answer in Responses events."""
    if not isinstance(behaviour, Reply):
        return behaviour
    options = {f.name: getattr(behaviour, f.name) for f in fields(StreamOptions)}
    end = "incomplete" if behaviour.finish_reason == "length" else "completed"
    return ToolRun(text=behaviour.content, reasoning=behaviour.reasoning, model=behaviour.model,
                   citations=list(behaviour.citations or []), chunk_chars=behaviour.chunk_chars,
                   end=end, usage=responses_usage(behaviour.usage), from_reply=True, **options)


def counted_in_pieces(run: ToolRun, events: list[dict]) -> ToolRun:
    """`run` with cut_after / error_after moved from "after N chunks" (a chat stream's pieces of
    answer) to the events after the Nth text or reasoning delta of these events."""
    deltas = [i for i, e in enumerate(events) if e["type"].endswith("_text.delta")]

    def after(n: int | None) -> int | None:
        if not n or not deltas:
            return n
        return deltas[n - 1] + 1 if n <= len(deltas) else deltas[-1] + 1 + n - len(deltas)

    return replace(run, cut_after=after(run.cut_after), error_after=after(run.error_after) or 0)


def responses_usage(usage: dict | None) -> dict | None:
    """A chat `usage` as the Responses API reports it (output tokens include reasoning)."""
    if usage is None:
        return None
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    out = {"input_tokens": usage.get("prompt_tokens", 0),
           "input_tokens_details": {"cached_tokens": (usage.get("prompt_tokens_details") or {})
                                    .get("cached_tokens", 0)},
           "output_tokens": usage.get("completion_tokens", 0) + reasoning,
           "output_tokens_details": {"reasoning_tokens": reasoning},
           "total_tokens": usage.get("total_tokens", 0)}
    if "cost_in_usd_ticks" in usage:
        out["cost_in_usd_ticks"] = usage["cost_in_usd_ticks"]
    return out


def _replay(handler: _Handler, rec: ResponsesRecording, req: ResponsesRequest,
            opts: StreamOptions) -> None:
    if req.stream and rec.events is not None:
        events = [f"data: {line}\n\n".encode() for line in rec.events]
        return handler._send_events(200, events, opts)
    if not req.stream and rec.body is not None:
        return handler._send_bytes(200, rec.body, "application/json", opts)
    raise ApiError(400, f"the stand-in has no {'stream' if req.stream else 'JSON'} recording "
                        f"of this answer")


class ResponsesHandler(_Handler):
    """xai_standin's handler with `/v1/responses` routed here."""

    def _v1(self, method: str, path: str, body: Any) -> None:
        if path == "/v1/responses" or path.startswith("/v1/responses/"):
            return serve_responses(self, method, path, body)
        return super()._v1(method, path, body)


class ResponsesStandin(XaiStandin):
    """An XaiStandin that also serves `/v1/responses` (for tests, until xai_standin routes it)."""

    def start(self) -> ResponsesStandin:
        super().start()
        self._server.RequestHandlerClass = ResponsesHandler
        return self

    def enqueue_responses(self, *behaviours: ResponsesBehaviour) -> None:
        enqueue_responses(self, *behaviours)

    @property
    def responses_requests(self) -> list:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == "/v1/responses"]


def recorded_stream(name: str) -> bytes:
    """A recording's events framed as SSE (`data: {line}\\n\\n`), as the stand-in sends them."""
    return b"".join(f"data: {line}\n\n".encode() for line in RECORDINGS[name].events)


def recorded_events(name: str) -> list[dict]:
    return [json.loads(line) for line in RECORDINGS[name].events]
