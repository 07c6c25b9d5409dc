"""Tests of the local xAI stand-in itself, with raw `requests` (no grok_magic client)."""

from __future__ import annotations

import base64
import enum
import io
import json
import time

import jsonschema
import pytest
import requests
from PIL import Image
from pydantic import BaseModel, Field

from tests.support.xai_standin import (
    FAKE_KEY,
    RECORDINGS_DIR,
    Close,
    Fault,
    Hang,
    Replay,
    Reply,
    Stream,
    XaiStandin,
    example_from_schema,
    split_sse,
)

RECORDED = sorted(p.name.removesuffix(".request.json")
                  for p in RECORDINGS_DIR.glob("*.request.json"))
AUTH = {"Authorization": f"Bearer {FAKE_KEY}"}
HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(autouse=True)
def no_standin_bugs(xai_server):
    yield
    assert xai_server.errors == []


@pytest.fixture
def http():
    with requests.Session() as s:
        yield s


def chat(srv: XaiStandin, body, *, http=None, headers=AUTH, stream=False, timeout=5, **kw):
    return (http or requests).post(f"{srv.base_url}/chat/completions", json=body,
                                   headers=headers, stream=stream, timeout=timeout, **kw)


def pieces(resp: requests.Response) -> list[bytes]:
    """The body as the HTTP chunks it arrived in."""
    return [p for p in resp.iter_content(chunk_size=None) if p]


def data_events(body: bytes) -> list[str]:
    text = body.decode().replace("\r\n", "\n")
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def chunks_json(body: bytes) -> list[dict]:
    return [json.loads(d) for d in data_events(body) if d != "[DONE]"]


def image_url(fmt: str = "PNG", mime: str | None = None, size=(4, 3)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    mime = mime or f"image/{fmt.lower()}"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"


def with_image(url: str, model="grok-4", detail=None) -> dict:
    part = {"type": "image_url", "image_url": {"url": url}}
    if detail:
        part["image_url"]["detail"] = detail
    return {"model": model, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, part]}]}


def assert_error(resp, status, fragment=None, code=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"code", "error"}, body
    assert isinstance(body["code"], str) and isinstance(body["error"], str)
    if fragment:
        assert fragment in body["error"], body
    if code:
        assert body["code"] == code


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}, {"Authorization": FAKE_KEY}])
def test_missing_or_malformed_auth_is_401(xai_server, headers):
    r = chat(xai_server, {"model": "grok-4", "messages": HELLO}, headers=headers)
    assert_error(r, 401, "No API key provided", code="unauthenticated:no-credentials")


def test_wrong_key_is_400_masked(xai_server):
    key = "xai-realsecret0000111122223333ef"
    r = chat(xai_server, {"model": "grok-4", "messages": HELLO},
             headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "Client specified an invalid argument",
        "error": "Incorrect API key provided: xa***ef. You can obtain an API key from "
                 "https://console.x.ai.",
    }
    assert key not in r.text and key[2:-2] not in r.text


@pytest.mark.parametrize("path", ["/models", "/language-models", "/api-key", "/nope"])
def test_auth_checked_on_all_v1_routes(xai_server, path):
    assert_error(requests.get(xai_server.base_url + path, timeout=5), 401)
    r = requests.get(xai_server.base_url + path, headers={"Authorization": "Bearer xai-wrong-1"},
                     timeout=5)
    assert_error(r, 400, "Incorrect API key provided")
    assert "xai-wrong-1" not in r.text


def test_unknown_routes_404(xai_server):
    assert_error(requests.get(xai_server.base_url + "/nope", headers=AUTH, timeout=5), 404)
    assert_error(requests.get(xai_server.url + "/elsewhere", timeout=5), 404)
    assert_error(requests.get(xai_server.base_url + "/chat/completions", headers=AUTH,
                              timeout=5), 405)


def test_not_json_content_type_is_415(xai_server):
    r = requests.post(f"{xai_server.base_url}/chat/completions", timeout=5,
                      data=json.dumps({"model": "grok-4", "messages": HELLO}),
                      headers={**AUTH, "Content-Type": "text/plain"})
    assert_error(r, 415, "Content-Type: application/json")


def test_invalid_json_is_400(xai_server):
    r = requests.post(f"{xai_server.base_url}/chat/completions", data=b'{"model": ', timeout=5,
                      headers={**AUTH, "Content-Type": "application/json"})
    assert_error(r, 400, "Failed to parse the request body as JSON")


@pytest.mark.parametrize("body, status, fragment", [
    ({"messages": HELLO}, 422, "missing field `model`"),
    ({"model": "grok-4"}, 422, "missing field `messages`"),
    ([1, 2], 422, "expected a map"),
    ({"model": "grok-4", "messages": "hi"}, 422, "messages"),
    ({"model": "grok-4", "messages": []}, 400, "at least one message"),
    ({"model": "grok-4", "messages": [{"role": "developer", "content": "x"}]}, 422,
     "unknown variant `developer`"),
    ({"model": "grok-4", "messages": [{"role": "user"}]}, 422, "missing field `content`"),
    ({"model": "grok-4", "messages": [{"role": "user", "content": [{"type": "audio"}]}]}, 422,
     "unknown variant `audio`"),
    ({"model": "grok-4", "messages": [{"role": "user", "content": 5}]}, 422, "content"),
    ({"model": "grok-4", "messages": HELLO, "temperature": 2.5}, 400, "temperature"),
    ({"model": "grok-4", "messages": HELLO, "temperature": -0.1}, 400, "temperature"),
    ({"model": "grok-4", "messages": HELLO, "temperature": "hot"}, 422, "temperature"),
    ({"model": "grok-4", "messages": HELLO, "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "grok-4", "messages": HELLO, "stream": "yes"}, 422, "stream"),
    ({"model": "grok-4", "messages": HELLO, "response_format": {"type": "xml"}}, 422,
     "response_format"),
    ({"model": "grok-4", "messages": HELLO, "tool_choice": {"type": "function",
                                                           "function": {"name": "nope"}}},
     400, "tool_choice"),
])
def test_malformed_bodies(xai_server, body, status, fragment):
    assert_error(chat(xai_server, body), status, fragment)


def test_unknown_model_404(xai_server):
    r = chat(xai_server, {"model": "grok-9000", "messages": HELLO})
    assert_error(r, 404, "The model grok-9000 does not exist or your team")
    assert "does not have access to it" in r.json()["error"]


def test_search_parameters_gone(xai_server):
    r = chat(xai_server, {"model": "grok-4", "messages": HELLO,
                          "search_parameters": {"mode": "auto"}})
    assert_error(r, 410, "Live search")


@pytest.mark.parametrize("model, effort, ok", [
    ("grok-3-mini", "low", True), ("grok-3-mini", "high", True), ("grok-3-mini", "medium", False),
    ("grok-4.3", "none", True), ("grok-4.3", "medium", True), ("grok-4.3", "max", False),
    ("grok-4.20-0309-reasoning", "low", False), ("grok-4-fast", "high", False),
    ("grok-code-fast-1", "low", False),
])
def test_reasoning_effort(xai_server, model, effort, ok):
    r = chat(xai_server, {"model": model, "messages": HELLO, "reasoning_effort": effort})
    if ok:
        assert r.status_code == 200, r.text
    else:
        assert_error(r, 400)
    if not ok and model not in ("grok-3-mini", "grok-4.3"):
        assert "does not support parameter reasoningEffort." in r.json()["error"]
    if ok and model == "grok-3-mini":
        assert r.json()["model"] == f"grok-3-mini-{effort}"


@pytest.mark.parametrize("param, value", [("stop", ["\n"]), ("presence_penalty", 0.5),
                                          ("frequency_penalty", 0.5)])
def test_penalties_rejected_by_reasoning_models(xai_server, param, value):
    for model in ("grok-4", "grok-4.3", "grok-4-fast", "grok-4.20-0309-reasoning"):
        r = chat(xai_server, {"model": model, "messages": HELLO, param: value})
        assert_error(r, 400, "does not support parameter")
    r = chat(xai_server, {"model": "grok-4-fast-non-reasoning", "messages": HELLO, param: value})
    assert r.status_code == 200, r.text


def test_max_tokens_variants_and_length(xai_server):
    for key in ("max_tokens", "max_completion_tokens"):
        r = chat(xai_server, {"model": "grok-4", "messages": HELLO, key: 4000})
        assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] == "stop"
    r = chat(xai_server, {"model": "grok-4", "messages": HELLO, "max_completion_tokens": 3})
    assert r.json()["choices"][0]["finish_reason"] == "length"


# -- images -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_valid_data_url_images(xai_server, fmt):
    body = with_image(image_url(fmt), detail="high")
    body["messages"][0]["content"].append(
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})
    r = chat(xai_server, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert "I received 2 image(s)." in out["choices"][0]["message"]["content"]
    assert out["usage"]["prompt_tokens_details"]["image_tokens"] == 512


@pytest.mark.parametrize("url, fragment", [
    (image_url("PNG", mime="image/jpeg"), "declares image/jpeg"),
    (image_url("GIF"), "unsupported image type"),
    ("data:image/png;base64,@@not-base64@@", "invalid base64"),
    ("data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"junk" * 9).decode(),
     "invalid image data"),
    ("data:image/png;base64," + base64.b64encode(b"hello world").decode(), "neither"),
    ("data:image/png," + "abc", "base64"),
    ("file:///tmp/cat.png", "unsupported image URL"),
    ("http://127.0.0.1:8000/cat.png", "failed to fetch image"),
    ("http://localhost/cat.png", "failed to fetch image"),
    ("https://192.168.1.10/cat.png", "failed to fetch image"),
])
def test_invalid_images_400(xai_server, url, fragment):
    assert_error(chat(xai_server, with_image(url)), 400, fragment)


def test_bad_detail_422(xai_server):
    assert_error(chat(xai_server, with_image(image_url(), detail="medium")), 422, "detail")


def test_image_too_large_400(xai_server):
    data = b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024)
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    assert_error(chat(xai_server, with_image(url), timeout=30), 400, "20 MiB")


@pytest.mark.parametrize("model", ["grok-3-mini", "grok-code-fast-1"])
def test_images_rejected_by_text_only_models(xai_server, model):
    assert_error(chat(xai_server, with_image(image_url(), model=model)), 400,
                 "does not support image input")


def test_images_only_in_user_messages(xai_server):
    body = {"model": "grok-4", "messages": [
        {"role": "system", "content": [{"type": "image_url", "image_url": {"url": image_url()}}]},
        *HELLO]}
    assert_error(chat(xai_server, body), 400, "only allowed in user messages")


# -- other endpoints --------------------------------------------------------------------------
def test_models_and_language_models(xai_server):
    models = requests.get(xai_server.base_url + "/models", headers=AUTH, timeout=5).json()
    ids = {m["id"] for m in models["data"]}
    assert models["object"] == "list" and {"grok-4.3", "grok-3-mini", "grok-code-fast-1"} <= ids
    lm = requests.get(xai_server.base_url + "/language-models", headers=AUTH, timeout=5).json()
    by_id = {m["id"]: m for m in lm["models"]}
    g43 = by_id["grok-4.3"]
    assert "grok-4" in g43["aliases"] and "image" in g43["input_modalities"]
    assert (g43["prompt_text_token_price"], g43["cached_prompt_text_token_price"],
            g43["completion_text_token_price"]) == (12500, 2000, 25000)
    mini = by_id["grok-3-mini"]
    assert (mini["prompt_text_token_price"], mini["cached_prompt_text_token_price"],
            mini["completion_text_token_price"]) == (3000, 750, 5000)
    assert mini["input_modalities"] == ["text"]
    r420 = by_id["grok-4.20-0309-reasoning"]
    # grok-4.20 went from $2/$6 to $1.25/$2.50 per 1M (xAI's pages, late 2026)
    assert (r420["prompt_text_token_price"], r420["completion_text_token_price"]) == (12500,
                                                                                       25000)
    g47 = by_id["grok-4.7"]
    assert (g47["prompt_text_token_price"], g47["cached_prompt_text_token_price"],
            g47["completion_text_token_price"]) == (20000, 5000, 60000)
    assert "grok-4-fast" in by_id["grok-4-fast-reasoning"]["aliases"]


def test_api_key_endpoint_redacts(xai_server):
    r = requests.get(xai_server.base_url + "/api-key", headers=AUTH, timeout=5)
    info = r.json()
    assert r.status_code == 200 and info["api_key_blocked"] is False
    assert FAKE_KEY not in r.text and info["redacted_api_key"].endswith(FAKE_KEY[-4:])


# --------------------------------------------------------------------------------------------
# Replay of recorded traffic
# --------------------------------------------------------------------------------------------
def test_recordings_loaded(xai_server):
    assert len(xai_server.recordings) == len(RECORDED) == 8
    for rec in xai_server.recordings.values():
        assert rec.status == 200 and rec.body


@pytest.mark.parametrize("name", RECORDED)
def test_replay_is_byte_identical(xai_server, http, name):
    rec = xai_server.recordings[name]
    r = chat(xai_server, rec.request_body, http=http, stream=True)
    assert r.status_code == rec.status
    assert r.headers["Content-Type"] == rec.content_type
    got = pieces(r)
    assert b"".join(got) == rec.body
    if rec.content_type == "text/event-stream":
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in r.headers
        assert len(got) == len(split_sse(rec.body)) > 1
    else:
        assert r.headers["Content-Length"] == str(len(rec.body))


def test_replay_matches_model_messages_and_stream_flag(xai_server):
    rec = xai_server.recordings["grok-4-fast_simple"]
    body = {"model": rec.request_body["model"], "messages": rec.request_body["messages"]}
    assert chat(xai_server, body).content == rec.body
    body["messages"] = [*body["messages"][:-1], {"role": "user", "content": "Say hi in French"}]
    assert chat(xai_server, body).content != rec.body


# --------------------------------------------------------------------------------------------
# Stream delivery options
# --------------------------------------------------------------------------------------------
SIMPLE = "grok-4-fast_simple_streaming"


def test_split_by_size(xai_server, http):
    rec = xai_server.recordings[SIMPLE]
    xai_server.enqueue(Replay(SIMPLE, split=7))
    got = pieces(chat(xai_server, rec.request_body, http=http, stream=True))
    assert b"".join(got) == rec.body
    assert len(got) == -(-len(rec.body) // 7) and all(len(p) <= 7 for p in got)


def test_split_at_offsets_inside_utf8_and_crlf(xai_server, http):
    rec = xai_server.recordings[SIMPLE]
    ola = rec.body.index("á".encode())
    xai_server.enqueue(Replay(SIMPLE, split=[ola + 1, 300], crlf=True))
    got = pieces(chat(xai_server, rec.request_body, http=http, stream=True))
    body = b"".join(got)
    assert len(got) == 3 and got[0].endswith(b"\xc3")
    assert body == rec.body.replace(b"\n", b"\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"")


def test_comments_between_events(xai_server, http):
    rec = xai_server.recordings[SIMPLE]
    xai_server.enqueue(Replay(SIMPLE, comments=True))
    body = b"".join(pieces(chat(xai_server, rec.request_body, http=http, stream=True)))
    assert body.count(b": keep-alive\n\n") == len(split_sse(rec.body)) + 1
    assert data_events(body) == data_events(rec.body)


def test_cut_after_raises_chunked_encoding_error(xai_server, http):
    rec = xai_server.recordings[SIMPLE]
    xai_server.enqueue(Replay(SIMPLE, cut_after=2))
    r = chat(xai_server, rec.request_body, http=http, stream=True)
    got = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for p in r.iter_content(chunk_size=None):
            got.append(p)
    assert b"".join(got) == b"".join(split_sse(rec.body)[:2])
    # the session recovers on a fresh connection
    assert chat(xai_server, {"model": "grok-4", "messages": HELLO}, http=http).ok


def test_error_event_and_no_done(xai_server, http):
    err = {"code": "The service is currently unavailable",
           "error": "Timed out waiting for first token"}
    xai_server.enqueue(Reply("one two three four", error_event=err, error_after=2))
    body = b"".join(pieces(chat(xai_server, {"model": "grok-4", "messages": HELLO,
                                             "stream": True}, http=http, stream=True)))
    events = data_events(body)
    assert len(events) == 3 and json.loads(events[-1]) == err
    xai_server.enqueue(Replay(SIMPLE, no_done=True))
    rec = xai_server.recordings[SIMPLE]
    body = b"".join(pieces(chat(xai_server, rec.request_body, http=http, stream=True)))
    assert b"[DONE]" not in body and body == rec.body.replace(b"data: [DONE]\n\n", b"")


def test_events_really_stream_with_delay(xai_server, http):
    xai_server.enqueue(Reply("a b c d e", delay=0.1))
    start = time.monotonic()
    r = chat(xai_server, {"model": "grok-4-fast-non-reasoning", "messages": HELLO,
                          "stream": True}, http=http, stream=True)
    arrivals = [time.monotonic() - start for _ in r.iter_content(chunk_size=None)]
    assert len(arrivals) == 7  # 5 content pieces (role on the first), finish, [DONE]
    assert arrivals[0] < 0.1 and arrivals[-1] >= 0.6


def test_first_delay_trips_read_timeout(xai_server, http):
    xai_server.enqueue(Reply("late", first_delay=1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        chat(xai_server, {"model": "grok-4", "messages": HELLO}, http=http, timeout=(2, 0.2))


def test_hang_and_close(xai_server, http):
    xai_server.enqueue(Hang(2))
    with pytest.raises(requests.exceptions.ReadTimeout):
        chat(xai_server, {"model": "grok-4", "messages": HELLO}, timeout=(2, 0.2))
    xai_server.enqueue(Close())
    with pytest.raises(requests.exceptions.ConnectionError):
        chat(xai_server, {"model": "grok-4", "messages": HELLO}, http=http)
    assert len(xai_server.chat_requests) == 2


# --------------------------------------------------------------------------------------------
# Scripted answers and faults
# --------------------------------------------------------------------------------------------
def test_faults_apply_before_validation_and_are_recorded(xai_server, http):
    xai_server.enqueue(Fault.rate_limited(2), Fault(429, headers={"retry-after-ms": "1500"}),
                       Fault.credits(403), Fault(503), Fault(502, "<html>bad gateway</html>",
                                                             content_type="text/html"))
    r = chat(xai_server, {"nonsense": True}, headers={}, http=http)
    assert_error(r, 429, code="Some resource has been exhausted")
    assert r.headers["Retry-After"] == "2"
    r = chat(xai_server, {}, http=http)
    assert r.status_code == 429 and r.headers["retry-after-ms"] == "1500"
    r = chat(xai_server, {}, http=http)
    assert_error(r, 403, "has either used all available credits or reached its monthly spending")
    assert_error(chat(xai_server, {}, http=http), 503,
                 code="The service is currently unavailable")
    r = chat(xai_server, {}, http=http)
    assert r.status_code == 502 and r.headers["Content-Type"] == "text/html"
    assert chat(xai_server, {"model": "grok-4", "messages": HELLO}, http=http).ok
    reqs = xai_server.chat_requests
    assert len(reqs) == 6 and reqs[0].json == {"nonsense": True}
    assert reqs[-1].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert reqs[-1].headers.get("Content-Type") == "application/json"


def test_reply_non_stream_and_stream(xai_server, http):
    xai_server.enqueue(Reply("Scripted **answer**", reasoning="Let me think."),
                       Reply("abcdefghij", chunk_chars=3, model="grok-x"))
    out = chat(xai_server, {"model": "grok-3-mini", "messages": HELLO}, http=http).json()
    msg = out["choices"][0]["message"]
    assert msg["content"] == "Scripted **answer**" and msg["reasoning_content"] == "Let me think."
    assert out["model"] == "grok-3-mini"
    r = chat(xai_server, {"model": "grok-4", "messages": HELLO, "stream": True}, http=http,
             stream=True)
    chunks = chunks_json(b"".join(pieces(r)))
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert contents[:4] == ["abc", "def", "ghi", "j"]
    assert chunks[0]["model"] == "grok-x" and chunks[0]["choices"][0]["delta"]["role"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_reply_after_validation(xai_server):
    xai_server.enqueue(Reply("never"))
    assert_error(chat(xai_server, {"model": "grok-4", "messages": []}), 400)
    assert xai_server.pending == 0


def test_raw_stream(xai_server, http):
    xai_server.enqueue(Stream(events=[{"choices": [{"index": 0, "delta": {"content": "x"}}]},
                                      "not json", b"data: raw\n\n"], split=5, delay=0.01))
    r = chat(xai_server, {"model": "grok-4", "messages": HELLO}, http=http, stream=True)
    got = pieces(r)
    assert data_events(b"".join(got)) == [
        '{"choices":[{"index":0,"delta":{"content":"x"}}]}', "not json", "raw", "[DONE]"]
    assert all(len(p) <= 5 for p in got)


# --------------------------------------------------------------------------------------------
# Default answers
# --------------------------------------------------------------------------------------------
def test_default_non_stream_answer(xai_server):
    body = {"model": "grok-4", "messages": [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "Explain  monads\n" * 20}],
            "temperature": 0.3}
    out = chat(xai_server, body).json()
    assert out["object"] == "chat.completion" and out["model"] == "grok-4.3"
    assert out["system_fingerprint"].startswith("fp_") and len(out["id"]) == 36
    content = out["choices"][0]["message"]["content"]
    assert content.startswith('**Stand-in answer** to: "Explain monads Explain monads')
    assert "I received 0 image(s)." in content and "- Parameters: temperature=0.3" in content
    assert out["choices"][0]["finish_reason"] == "stop"
    u = out["usage"]
    assert u["completion_tokens_details"]["reasoning_tokens"] > 0
    assert u["total_tokens"] == (u["prompt_tokens"] + u["completion_tokens"]
                                 + u["completion_tokens_details"]["reasoning_tokens"])
    assert u["cost_in_usd_ticks"] == (u["prompt_tokens"] * 12500 + 25000 * (
        u["completion_tokens"] + u["completion_tokens_details"]["reasoning_tokens"]))
    assert chat(xai_server, body).json()["choices"][0]["message"]["content"] == content


@pytest.mark.parametrize("model, thinking", [("grok-4", 3), ("grok-4-fast-non-reasoning", 0)])
@pytest.mark.parametrize("include_usage", [True, False])
def test_default_stream_shape(xai_server, http, model, thinking, include_usage):
    body = {"model": model, "messages": HELLO, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    r = chat(xai_server, body, http=http, stream=True)
    assert r.headers["Content-Type"] == "text/event-stream"
    assert r.headers["Transfer-Encoding"] == "chunked"
    raw = b"".join(pieces(r))
    assert data_events(raw)[-1] == "[DONE]"
    chunks = chunks_json(raw)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert sum(1 for d in deltas if d == {}) == thinking + 1  # + the finish chunk
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    else:
        assert all(c["choices"] for c in chunks) and all("usage" not in c for c in chunks)
    text = "".join(d.get("content", "") for d in deltas)
    body.pop("stream")
    body.pop("stream_options", None)
    plain = chat(xai_server, body, http=http).json()["choices"][0]["message"]["content"]
    assert text == plain.replace("- Streaming: no", "- Streaming: yes")


def test_default_stream_with_visible_reasoning(xai_server, http):
    r = chat(xai_server, {"model": "grok-code-fast-1", "messages": HELLO, "stream": True},
             http=http, stream=True)
    deltas = [c["choices"][0]["delta"] for c in chunks_json(b"".join(pieces(r)))]
    assert deltas[0]["role"] == "assistant" and "reasoning_content" in deltas[0]
    assert any("content" in d for d in deltas)


def test_json_object_answer(xai_server):
    out = chat(xai_server, {"model": "grok-4", "messages": HELLO,
                            "response_format": {"type": "json_object"}}).json()
    assert isinstance(json.loads(out["choices"][0]["message"]["content"]), dict)


class Color(str, enum.Enum):
    red = "red"
    green = "green"


class Address(BaseModel):
    street: str
    city: str
    zip_code: str | None = None


class Person(BaseModel):
    name: str = Field(min_length=2, max_length=40)
    age: int = Field(ge=0, le=150)
    score: float
    tags: list[str]
    favourite: Color
    address: Address
    previous: list[Address] = []
    active: bool


SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
     "required": ["a", "b"], "additionalProperties": False},
    {"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer", "minimum": 10, "maximum": 11},
            "kind": {"enum": ["x", "y"]}, "ok": {"type": "boolean"},
            "when": {"type": "string", "format": "date-time"}}, "required": ["id", "kind"]},
            "minItems": 2, "uniqueItems": True},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}},
     "required": ["items", "ratio"]},
    Person.model_json_schema(),
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_json_schema_answers_validate(xai_server, schema):
    body = {"model": "grok-4", "messages": HELLO, "response_format": {
        "type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}}
    out = chat(xai_server, body).json()
    value = json.loads(out["choices"][0]["message"]["content"])
    jsonschema.validate(value, schema)
    if schema is SCHEMAS[-1]:
        Person.model_validate(value)
    assert example_from_schema(schema) == value


def test_forced_tool_call_arguments_validate(xai_server):
    params = Person.model_json_schema()
    body = {"model": "grok-4", "messages": HELLO, "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "Person", "parameters": params}}]}
    out = chat(xai_server, body).json()
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    jsonschema.validate(json.loads(call["function"]["arguments"]), params)


# --------------------------------------------------------------------------------------------
# Connections, files, bookkeeping
# --------------------------------------------------------------------------------------------
def test_keep_alive_reuses_one_connection(xai_server, http):
    rec = xai_server.recordings[SIMPLE]
    chat(xai_server, {"model": "grok-4", "messages": HELLO}, http=http).raise_for_status()
    assert b"".join(pieces(chat(xai_server, rec.request_body, http=http, stream=True))) == \
        rec.body
    assert chat(xai_server, {"model": "grok-4"}, http=http).status_code == 422
    http.get(xai_server.base_url + "/models", headers=AUTH, timeout=5).raise_for_status()
    chat(xai_server, {"model": "grok-4", "messages": HELLO, "stream": True}, http=http)
    clients = {r.client for r in xai_server.requests}
    assert len(xai_server.requests) == 5 and len(clients) == 1


def test_serve_bytes_without_auth(xai_server):
    png = base64.b64decode(image_url().split(",", 1)[1])
    url = xai_server.serve_bytes("img/cat.png", png, "image/png")
    assert url == f"{xai_server.url}/files/img/cat.png"
    r = requests.get(url, timeout=5)
    assert r.status_code == 200 and r.content == png and r.headers["Content-Type"] == "image/png"
    assert requests.get(xai_server.url + "/files/missing.png", timeout=5).status_code == 404


def test_reset_and_lenient_mode(xai_server):
    xai_server.enqueue(Reply("x"))
    chat(xai_server, {"model": "grok-4", "messages": HELLO})
    xai_server.enqueue(Reply("y"))
    xai_server.reset()
    assert xai_server.requests == [] and xai_server.pending == 0
    xai_server.strict = False
    r = chat(xai_server, {"model": "grok-4", "messages": HELLO, "temperature": 9})
    assert r.status_code == 200


def test_n_choices(xai_server):
    out = chat(xai_server, {"model": "grok-4", "messages": HELLO, "n": 2}).json()
    assert [c["index"] for c in out["choices"]] == [0, 1]



# -- prompt caching and the long-context tier ----------------------------------------------------
def _chat_usage(server, messages, conv_id=None, model="grok-4.3"):
    headers = dict(AUTH, **({"x-grok-conv-id": conv_id} if conv_id else {}))
    r = requests.post(server.base_url + "/chat/completions", headers=headers, timeout=10,
                      json={"model": model, "messages": messages})
    assert r.status_code == 200, r.text
    return r.json()["usage"]


def test_a_conversation_key_caches_the_shared_prefix_and_bills_it_at_the_cached_price(xai_server):
    system = {"role": "system", "content": "Describe data. " * 200}
    first = [system, {"role": "user", "content": "What is in column a?"}]
    second = [*first, {"role": "assistant", "content": "Numbers."},
              {"role": "user", "content": "And column b?"}]
    cold = _chat_usage(xai_server, first, "conv-1")
    warm = _chat_usage(xai_server, second, "conv-1")
    assert cold["prompt_tokens_details"]["cached_tokens"] == 0
    cached = warm["prompt_tokens_details"]["cached_tokens"]
    # everything the first prompt held, but the JSON's closing bracket, is a shared prefix
    assert warm["prompt_tokens"] * 0.6 < cached < warm["prompt_tokens"]
    assert warm["cost_in_usd_ticks"] == ((warm["prompt_tokens"] - cached) * 12500
                                         + cached * 2000 + warm["completion_tokens"] * 25000
                                         + warm["completion_tokens_details"]["reasoning_tokens"]
                                         * 25000)
    # without a key, or under another key, the same prompt meets a cold server
    assert _chat_usage(xai_server, second)["prompt_tokens_details"]["cached_tokens"] == 0
    assert _chat_usage(xai_server, second, "conv-2")["prompt_tokens_details"]["cached_tokens"] == 0


def test_the_responses_api_caches_by_prompt_cache_key(xai_server):
    def ask(text_items, key):
        body = {"model": "grok-4.3", "store": False, "input": text_items}
        if key:
            body["prompt_cache_key"] = key
        r = requests.post(xai_server.base_url + "/responses", headers=AUTH, json=body, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["usage"]

    system = {"role": "system", "content": "You label reviews. " * 300}
    items = [[system, {"role": "user", "content": [{"type": "input_text", "text": f"Review {i}"}]}]
             for i in range(3)]
    assert ask(items[0], "run-1")["input_tokens_details"]["cached_tokens"] == 0
    assert ask(items[1], "run-1")["input_tokens_details"]["cached_tokens"] > 1000
    assert ask(items[2], None)["input_tokens_details"]["cached_tokens"] == 0
    r = requests.post(xai_server.base_url + "/responses", headers=AUTH, timeout=10, json={
        "model": "grok-4.3", "input": "hi", "prompt_cache_key": "not a key!"})
    assert r.status_code == 400


def test_a_prompt_of_200k_tokens_or_more_bills_every_token_at_twice_the_price(xai_server):
    big = [{"role": "user", "content": "x" * (4 * 200_000)}]
    usage = _chat_usage(xai_server, big)
    assert usage["prompt_tokens"] >= 200_000
    output = usage["completion_tokens"] + usage["completion_tokens_details"]["reasoning_tokens"]
    assert usage["cost_in_usd_ticks"] == 2 * (usage["prompt_tokens"] * 12500 + output * 25000)


def test_reasoning_is_returned_encrypted_when_asked_and_checked_when_carried(xai_server):
    body = {"model": "grok-4.3", "store": False, "include": ["reasoning.encrypted_content"],
            "input": [{"role": "user", "content": "Why is the sky blue?"}]}
    out = requests.post(xai_server.base_url + "/responses", headers=AUTH, json=body,
                        timeout=10).json()["output"]
    reasoning = next(item for item in out if item["type"] == "reasoning")
    assert isinstance(reasoning["encrypted_content"], str) and len(reasoning["encrypted_content"]) > 40
    carried = {k: reasoning[k] for k in ("type", "id", "summary", "encrypted_content")}
    follow = dict(body, input=[*body["input"], carried,
                               {"role": "assistant", "content": "Rayleigh scattering."},
                               {"role": "user", "content": "And sunsets?"}])
    assert requests.post(xai_server.base_url + "/responses", headers=AUTH, json=follow,
                         timeout=10).status_code == 200
    bad = dict(follow, input=[*body["input"], {"type": "reasoning", "summary": []},
                              {"role": "user", "content": "And sunsets?"}])
    r = requests.post(xai_server.base_url + "/responses", headers=AUTH, json=bad, timeout=10)
    assert r.status_code == 422 and "encrypted_content" in r.text
