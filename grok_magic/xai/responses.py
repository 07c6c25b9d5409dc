"""xAI's Responses API (`POST /v1/responses`): request bodies, server-side tools, and streams
that give the same Response a chat completion does (events decoded in responses_events)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from grok_magic.errors import InputError
from grok_magic.xai.messages import REASONING_ITEMS

ENCRYPTED_REASONING = "reasoning.encrypted_content"
# Options that map one to one; the chat names of the others are translated in responses_body.
PASSED_OPTIONS = ("temperature", "top_p", "seed", "user", "max_output_tokens", "tool_choice",
                  "include", "service_tier", "parallel_tool_calls")
TRANSLATED_OPTIONS = ("max_completion_tokens", "reasoning_effort", "response_format")
CHAT_ONLY_OPTIONS = ("n", "stop", "presence_penalty", "frequency_penalty")
SEARCH_KINDS = {"web": "web_search", "x": "x_search"}
DOMAIN = re.compile(r"(?:[\w-]+\.)+[\w-]{2,}", re.UNICODE)
X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")  # X's own rule for user names

# -- request bodies ---------------------------------------------------------------------------
def responses_body(
    model: str, messages: list[Mapping], *, stream: bool, tools: list[Mapping] | None = None,
    store: bool = False, previous_response_id: str | None = None,
    cache_key: str | None = None, carry_reasoning: bool = False, **options,
) -> dict:
    """A `/v1/responses` body from our chat-style messages and chat-named options.

    `store` is sent even when false (xAI keeps responses unless told not to). With
    `previous_response_id`, `messages` should hold only the new turn. `cache_key` is sent as
    `prompt_cache_key` (requests with one key reach a warm prompt cache); `carry_reasoning`
    asks for the answer's reasoning encrypted, to send it back with the next turn when nothing
    is stored.

    >>> responses_body("grok-4.3", [{"role": "user", "content": "hi"}], stream=False,
    ...                max_completion_tokens=50, cache_key="c1")  # doctest: +NORMALIZE_WHITESPACE
    {'model': 'grok-4.3', 'input': [{'role': 'user', 'content': [{'type': 'input_text',
     'text': 'hi'}]}], 'max_output_tokens': 50, 'prompt_cache_key': 'c1', 'store': False}
    """
    chat_only = sorted(k for k in CHAT_ONLY_OPTIONS if options.get(k) is not None)
    if chat_only:
        raise InputError(f"{', '.join(chat_only)} cannot be used with xAI's Responses API",
                         hint="Leave it out, or use the chat API for this cell.")
    unknown = set(options) - set(PASSED_OPTIONS) - set(TRANSLATED_OPTIONS) - set(CHAT_ONLY_OPTIONS)
    if unknown:
        raise TypeError(f"unknown request option(s): {', '.join(sorted(unknown))}")
    body: dict = {"model": model, "input": input_items(messages)}
    if previous_response_id:
        body["previous_response_id"] = previous_response_id
    if tools:
        body["tools"] = [_responses_tool(t) for t in tools]
    for key in PASSED_OPTIONS:
        if options.get(key) is not None:
            body[key] = options[key]
    if options.get("max_completion_tokens") is not None:
        body["max_output_tokens"] = options["max_completion_tokens"]
    if options.get("reasoning_effort") is not None:
        body["reasoning"] = {"effort": options["reasoning_effort"]}
    text_format = _text_format(options.get("response_format"))
    if text_format is not None:
        body["text"] = {"format": text_format}
    if isinstance(body.get("tool_choice"), Mapping):
        choice = body["tool_choice"]
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        body["tool_choice"] = {"type": "function", "name": name}
    if cache_key:
        body["prompt_cache_key"] = cache_key
    if carry_reasoning and not store:
        include = list(body.get("include") or ())
        body["include"] = include if ENCRYPTED_REASONING in include else [*include,
                                                                          ENCRYPTED_REASONING]
    body["store"] = bool(store)
    if stream:
        body["stream"] = True
    return body


# What a Responses body carries that does not change its answer (how it is sent and kept).
DELIVERY_FIELDS = ("stream", "store", "include", "prompt_cache_key")


def chat_form(body: Mapping) -> dict:
    """A `/v1/responses` body as the chat completions body that asks the same question: the
    inverse of responses_body for what it builds (so the ledger matches one request sent to
    either API). How it is delivered (stream, store, include, prompt_cache_key) and carried
    reasoning are left out; server-side tools stay as they are.

    >>> chat_form(responses_body("grok-4.3", [{"role": "user", "content": "hi"}], stream=True,
    ...                          max_completion_tokens=50, cache_key="c1"))
    {'model': 'grok-4.3', 'messages': [{'role': 'user', 'content': 'hi'}], 'max_completion_tokens': 50}
    """
    out: dict = {"model": body.get("model"), "messages": chat_messages(body.get("input") or [])}
    for key, value in body.items():
        if key in ("model", "input", *DELIVERY_FIELDS):
            continue
        if key == "max_output_tokens":
            out["max_completion_tokens"] = value
        elif key == "reasoning" and isinstance(value, Mapping) and set(value) == {"effort"}:
            out["reasoning_effort"] = value["effort"]
        elif key == "text" and isinstance(value, Mapping) and set(value) == {"format"}:
            out["response_format"] = _chat_format(value["format"])
        elif key == "tools" and isinstance(value, list):
            out["tools"] = [_chat_tool(t) for t in value]
        elif key == "tool_choice" and isinstance(value, Mapping) and value.get("type") == "function":
            out["tool_choice"] = {"type": "function", "function": {"name": value.get("name")}}
        else:
            out[key] = value
    return out


def chat_messages(items: list | str) -> list[dict]:
    """Responses `input` items as chat messages (the inverse of input_items)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict] = []
    for item in items:
        if not isinstance(item, Mapping):
            messages.append(item)
            continue
        kind = item.get("type", "message")
        if kind == "reasoning":
            continue
        if kind == "function_call":
            last = messages[-1] if messages and messages[-1].get("role") == "assistant" else None
            if last is None:
                last = {"role": "assistant", "content": ""}
                messages.append(last)
            last.setdefault("tool_calls", []).append(
                {"id": item.get("call_id"), "type": "function",
                 "function": {"name": item.get("name"), "arguments": item.get("arguments")}})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": item.get("output")})
        elif item.get("role") == "user" and isinstance(item.get("content"), list):
            messages.append({"role": "user", "content": _chat_parts(item["content"])})
        else:
            messages.append({"role": item.get("role"), "content": item.get("content")})
    return messages


def _chat_parts(parts: list) -> str | list:
    if all(isinstance(p, Mapping) and p.get("type") == "input_text" for p in parts):
        return "".join(p.get("text") or "" for p in parts)  # a text-only turn is a string
    out: list = []
    for part in parts:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "input_text":
            out.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "input_image":
            image = {"url": part.get("image_url")}
            if part.get("detail"):
                image["detail"] = part["detail"]
            out.append({"type": "image_url", "image_url": image})
        else:
            out.append(part)
    return out


def _chat_format(text_format: object) -> object:
    if not isinstance(text_format, Mapping):
        return text_format
    if text_format.get("type") == "json_schema":
        spec = {k: v for k, v in text_format.items() if k != "type"}
        if spec.get("strict") is True:
            del spec["strict"]  # responses_body's default
        return {"type": "json_schema", "json_schema": spec}
    return dict(text_format)


def _chat_tool(tool: object) -> object:
    if isinstance(tool, Mapping) and tool.get("type") == "function" and "function" not in tool:
        return {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}
    return tool


def input_items(messages: list[Mapping]) -> list[dict]:
    """Chat messages as Responses `input` items (system, user parts, assistant, tool results)."""
    items: list[dict] = []
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            items.append({"role": role, "content": _plain_text(content)})
        elif role == "user":
            items.append({"role": "user", "content": _input_parts(content, i)})
        elif role == "assistant":
            items.extend(dict(r) for r in message.get(REASONING_ITEMS) or ())
            calls = [c for c in message.get("tool_calls") or () if c.get("type") == "function"]
            text = _plain_text(content)
            if text or not calls:
                items.append({"role": "assistant", "content": text})
            items.extend({"type": "function_call", "call_id": c.get("id") or "",
                          "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                         for c in calls)
        elif role == "tool":
            items.append({"type": "function_call_output", "call_id": message.get("tool_call_id"),
                          "output": _plain_text(content)})
        else:
            raise InputError(f"message {i} has the role {role!r}, which the Responses API "
                             f"does not take")
    return items


def _plain_text(content: object) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(p.get("text") or "" for p in content if isinstance(p, Mapping))


def _input_parts(content: object, index: int) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    parts = []
    for part in content or ():
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text") or ""})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            url = image.get("url") if isinstance(image, Mapping) else image
            item = {"type": "input_image", "image_url": url}
            if isinstance(image, Mapping) and image.get("detail"):
                item["detail"] = image["detail"]
            parts.append(item)
        elif kind in ("input_text", "input_image", "input_file"):
            parts.append(dict(part))
        else:
            raise InputError(f"message {index} holds a {kind!r} part, which the Responses API "
                             f"does not take")
    return parts


def _text_format(response_format: Mapping | None) -> dict | None:
    if not response_format or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        out = {"type": "json_schema", "name": spec.get("name") or "answer",
               "schema": spec.get("schema") or {}, "strict": spec.get("strict", True)}
        if spec.get("description"):
            out["description"] = spec["description"]
        return out
    raise InputError(f"response_format {kind!r} has no Responses API equivalent")


def _responses_tool(tool: Mapping) -> dict:
    """A chat-style function tool flattened (`{"type":"function","name",...}`); others as is."""
    if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
        return {"type": "function", **tool["function"]}
    return dict(tool)


# -- server-side tools ------------------------------------------------------------------------
def search_tools(spec: str) -> list[dict]:
    """Search tools from a `--search` spec: `web`, `x`, `web,x`, `web:arxiv.org,nature.com`
    (allowed domains), `x:@handle,@other` (allowed X handles).

    >>> search_tools("web:arxiv.org,x:@xai")  # doctest: +NORMALIZE_WHITESPACE
    [{'type': 'web_search', 'allowed_domains': ['arxiv.org']},
     {'type': 'x_search', 'allowed_x_handles': ['xai']}]
    """
    tools: dict[str, dict] = {}
    current: str | None = None
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        kind, colon, value = token.partition(":")
        if colon or kind.lower() in SEARCH_KINDS:
            kind = kind.strip().lower()
            if kind not in SEARCH_KINDS:
                raise InputError(f"--search {spec!r}: unknown search {kind!r}",
                                 hint="Use web, x or both (web,x); filters as "
                                      "web:arxiv.org,nature.com or x:@handle.")
            if kind in tools:
                raise InputError(f"--search {spec!r} names {kind} twice")
            current, tools[kind] = kind, {"type": SEARCH_KINDS[kind]}
            value = value.strip()
            if not value:
                if colon:
                    raise InputError(f"--search {spec!r}: nothing after '{kind}:'")
                continue
        elif current is None:
            raise InputError(f"--search {spec!r}: {token!r} is not web or x",
                             hint="Start with web or x, e.g. web:arxiv.org or x:@xai.")
        else:
            value = token
        _add_filter(tools[current], current, value, spec)
    if not tools:
        raise InputError("--search needs web, x or both (web,x)")
    return list(tools.values())


def _add_filter(tool: dict, kind: str, value: str, spec: str) -> None:
    if kind == "web":
        domain = value.lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not DOMAIN.fullmatch(domain):
            raise InputError(f"--search {spec!r}: {value!r} is not a domain like arxiv.org")
        tool.setdefault("allowed_domains", []).append(domain)
    else:
        handle = value.removeprefix("@")
        if not X_HANDLE.fullmatch(handle):
            raise InputError(f"--search {spec!r}: {value!r} is not an X handle like @xai")
        tool.setdefault("allowed_x_handles", []).append(handle)


def code_tool() -> dict:
    """Code execution on xAI's servers (`--run-code`)."""
    return {"type": "code_interpreter"}
