"""xAI's Responses API: the event decoder on every recorded answer (whole, and cut at every byte
or at sampled offsets, through grok_magic.xai.sse), the body builder, --search specs, the failure
events, and the stand-in's /v1/responses (its validation, replays and scripted tool runs) end to
end through GrokClient's transport."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import requests

from grok_magic.errors import (
    APIStatusError,
    BadRequestError,
    GoneError,
    InputError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    UnprocessableError,
)
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from grok_magic.xai.messages import json_schema_format, system_message, user_message
from grok_magic.xai.responses import code_tool, responses_body, search_tools
from grok_magic.xai.responses_events import (
    NOTHING,
    ResponseIncompleteError,
    ResponsesAccumulator,
    decode_json,
    response_from_json,
)
from grok_magic.xai.sse import iter_sse_json
from tests.support.standin_responses import (
    RECORDINGS,
    ResponsesStandin,
    ToolRun,
    recorded_events,
    recorded_stream,
    validate_responses,
)
from tests.support.xai_standin import FAKE_KEY, ApiError, Fault, Replay

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xai-recorded" / "responses"
STREAMED = sorted(name for name, rec in RECORDINGS.items() if rec.events is not None)
WHOLE = sorted(name for name, rec in RECORDINGS.items() if rec.body is not None)
SMALL = [name for name in STREAMED if len(recorded_stream(name)) < 10_000]
IMAGE = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
         "DwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def decode(chunks) -> tuple[ResponsesAccumulator, list]:
    """The client's decoding: grok_magic.xai.sse's splitter and JSON events, then fold."""
    accumulator = ResponsesAccumulator()
    changes = [accumulator.fold(event) for event in iter_sse_json(chunks)]
    accumulator.response.finish()
    return accumulator, changes


def summary(accumulator: ResponsesAccumulator) -> tuple:
    return summary_of(accumulator.response)


def summary_of(r) -> tuple:
    return (r.text, r.reasoning, r.id, r.model, r.finish_reason, r.usage, r.citations,
            r.tool_calls)


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


def completed_of(name: str) -> dict:
    return of_type(recorded_events(name), "response.completed")[0]["response"]


# -- the recordings ---------------------------------------------------------------------------
def test_the_recordings_are_copied_with_their_readme():
    names = {p.name for p in FIXTURES.iterdir()}
    assert "README.md" in names and len(names) == 12
    assert STREAMED == ["xai-image-generation-tool", "xai-text-streaming",
                        "xai-text-with-reasoning-streaming",
                        "xai-text-with-reasoning-streaming-store-false", "xai-web-search-tool",
                        "xai-x-search-tool"]
    assert WHOLE == ["xai-code-execution-tool", "xai-file-search-tool",
                     "xai-image-generation-tool", "xai-web-search-tool", "xai-x-search-tool"]
    assert SMALL == ["xai-image-generation-tool"]


@pytest.mark.parametrize("name", STREAMED)
def test_a_recorded_stream_gives_its_text_reasoning_and_usage(name):
    events = recorded_events(name)
    accumulator, changes = decode([recorded_stream(name)])
    response = accumulator.response
    deltas = [e["delta"] for e in of_type(events, "response.output_text.delta")]
    assert response.text == "".join(deltas) == of_type(events, "response.output_text.done")[0]["text"]
    assert "".join(c.content for c in changes) == response.text
    summaries = of_type(events, "response.reasoning_summary_text.done")
    assert response.reasoning == (summaries[0]["text"] if summaries else "")
    assert "".join(c.reasoning for c in changes) == response.reasoning
    final = completed_of(name)
    usage = final["usage"]
    reasoning = usage["output_tokens_details"]["reasoning_tokens"]
    assert response.usage.prompt_tokens == usage["input_tokens"]
    assert response.usage.completion_tokens == usage["output_tokens"] - reasoning
    assert response.usage.reasoning_tokens == reasoning
    assert response.usage.cached_tokens == usage["input_tokens_details"]["cached_tokens"]
    assert response.usage.total_tokens == usage["total_tokens"] == (
        response.usage.prompt_tokens + response.usage.completion_tokens + reasoning)
    assert response.usage.cost_in_usd_ticks == usage.get("cost_in_usd_ticks")
    assert (response.id, response.model, response.finish_reason) == (final["id"], final["model"],
                                                                     "stop")
    assert accumulator.response.usage.server_side_tools_used == usage["num_server_side_tools_used"]
    assert not response.partial and response.first_token_at is not None


def test_reasoning_streams_carry_the_summary_before_the_answer():
    accumulator, changes = decode([recorded_stream("xai-text-with-reasoning-streaming")])
    first_text = next(i for i, c in enumerate(changes) if c.content)
    assert all(not c.reasoning for c in changes[first_text:])
    assert accumulator.response.reasoning.startswith("First, the question is:")
    assert len(accumulator.response.reasoning) == 766


def test_web_search_stream_cites_its_sources_and_says_it_searched():
    accumulator, changes = decode([recorded_stream("xai-web-search-tool")])
    response = accumulator.response
    assert [c["url"] for c in response.citations] == [
        "https://en.wikipedia.org/wiki/XAI_%28company%29", "https://x.ai/company",
        "https://www.ibm.com/think/topics/explainable-ai",
        "https://www.owkin.com/a-z-of-ai-for-healthcare/xai", "https://x.ai/"]
    assert all(c["title"] is None for c in response.citations)
    [call] = response.tool_calls
    assert (call["kind"], call["name"], call["status"], call["query"]) == (
        "web_search", "web_search", "completed", "what is xAI")
    assert [c.activity for c in changes if c.activity] == ["searching the web: 'what is xAI'…"]
    usage = accumulator.response.usage
    assert (usage.server_side_tools_used, usage.tool_calls_by_kind) == (1, {"web_search": 1})


def test_x_search_stream_keeps_twenty_citations_in_order_and_every_tool_call():
    events = recorded_events("xai-x-search-tool")
    accumulator, changes = decode([recorded_stream("xai-x-search-tool")])
    response = accumulator.response
    urls = [e["annotation"]["url"] for e in of_type(events, "response.output_text.annotation.added")]
    assert len(urls) == len(set(urls)) == 20
    assert [c["url"] for c in response.citations] == urls
    assert urls[0] == "https://x.com/i/status/1990530503129391571"
    assert [c["kind"] for c in response.tool_calls] == ["x_search", "x_search", *["web_search"] * 4]
    assert response.tool_calls[0]["query"] == "from:xai filter:media"
    assert response.tool_calls[1]["name"] == "view_x_video"
    assert all(c["status"] == "completed" for c in response.tool_calls)
    assert [c.activity for c in changes if c.activity] == [
        "searching X…", "searching X: 'from:xai filter:media'…", "watching a video on X…",
        *["searching the web…"] * 4]
    assert accumulator.response.usage.tool_calls_by_kind == {"x_search": 1}
    assert accumulator.response.usage.server_side_tools_used == 6


def test_image_generation_stream_keeps_the_generated_image_as_the_call_output():
    accumulator, _ = decode([recorded_stream("xai-image-generation-tool")])
    response = accumulator.response
    assert response.text == "Here's a serene image of a paper boat sailing on a leaf-covered pond:"
    [call] = response.tool_calls
    assert call["kind"] == "image_generation" and call["outputs"] == ["ZmFrZUltYWdlQmFzZTY0RGF0YQ=="]
    assert call["query"].startswith("A delicate origami paper boat")
    assert response.cost == pytest.approx(123456 / 10**10)
    assert accumulator.response.usage.tool_calls_by_kind == {"image_generation": 1}


@pytest.mark.parametrize("name", SMALL)
def test_a_small_stream_cut_at_every_byte_decodes_the_same(name):
    body = recorded_stream(name)
    expected = summary(decode([body])[0])
    for cut in range(len(body) + 1):
        assert summary(decode([body[:cut], body[cut:]])[0]) == expected, cut


@pytest.mark.parametrize("name", sorted(set(STREAMED) - set(SMALL)))
def test_a_large_stream_cut_anywhere_decodes_the_same(name):
    body = recorded_stream(name).replace(b"\n", b"\r\n")
    expected = summary(decode([recorded_stream(name)])[0])
    rng = random.Random(name)
    for cut in sorted(rng.sample(range(len(body) + 1), 150)):
        assert summary(decode([body[:cut], body[cut:]])[0]) == expected, cut
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    assert summary(decode(pieces)[0]) == expected


# -- whole (non-streaming) bodies -------------------------------------------------------------
def whole(name: str) -> dict:
    return json.loads(RECORDINGS[name].body)


def test_code_execution_answer_keeps_the_code_grok_ran():
    accumulator = decode_json(whole("xai-code-execution-tool"))
    response = accumulator.response
    assert response.text == "55"
    [call] = response.tool_calls
    assert call["kind"] == "code_interpreter" and call["name"] == "code_execution"
    assert call["code"].startswith("def fibonacci(n):\n") and call["code"].endswith(
        "print(fibonacci(10))")
    assert response.usage.prompt_tokens == 1606 and response.usage.completion_tokens == 292 - 190
    assert response.id == "5138abcf-4c4e-b0ab-7e0b-f4c81b98f455_us-east-1"
    assert accumulator.response.usage.tool_calls_by_kind == {"code_interpreter": 1}


def test_file_search_answer_keeps_queries_and_results():
    response = response_from_json(whole("xai-file-search-tool"))
    [call] = response.tool_calls
    assert call["kind"] == "file_search" and call["query"] == "AI safety research"
    assert [o["filename"] for o in call["outputs"]] == ["ai-safety-paper.pdf", "research-notes.md"]
    assert response.text.startswith("Based on the documents in your collection")


@pytest.mark.parametrize("name", ["xai-web-search-tool", "xai-x-search-tool"])
def test_search_answers_cite_their_annotations_in_order(name):
    body = whole(name)
    message = next(item for item in body["output"] if item["type"] == "message")
    urls = [a["url"] for part in message["content"] for a in part["annotations"]]
    response = response_from_json(body, requested_model="grok-4-fast")
    assert [c["url"] for c in response.citations] == list(dict.fromkeys(urls))
    assert response.text == message["content"][0]["text"]
    assert response.tool_calls[0]["kind"] == name.removeprefix("xai-").removesuffix("-tool").replace(
        "-", "_")
    assert response.requested_model == "grok-4-fast" and not response.partial


def test_image_generation_answer_has_xai_cost_and_tool_usage():
    accumulator = decode_json(whole("xai-image-generation-tool"))
    assert accumulator.response.text == "Here's a cute robot holding a flower! 🌸🤖"
    assert accumulator.response.usage.cost_in_usd_ticks == 123456
    usage = accumulator.response.usage
    assert (usage.server_side_tools_used, usage.tool_calls_by_kind) == (1, {"image_generation": 1})


def test_an_incomplete_or_failed_whole_body_raises_with_its_text_kept():
    body = dict(whole("xai-code-execution-tool"), status="incomplete",
                incomplete_details={"reason": "max_output_tokens"})
    with pytest.raises(ResponseIncompleteError) as caught:
        response_from_json(body)
    assert caught.value.response.text == "55" and caught.value.response.partial
    assert caught.value.reason == "max_output_tokens"
    assert "--max-tokens" in caught.value.paragraph()
    failed = dict(body, status="failed", error={"code": "server_error", "message": "boom"})
    with pytest.raises(ServerError, match="boom"):
        response_from_json(failed)


# -- failure events ---------------------------------------------------------------------------
def started(accumulator: ResponsesAccumulator, text: str = "Half an ans") -> None:
    accumulator.fold({"type": "response.created", "response": {"id": "r1", "model": "grok-4"}})
    accumulator.fold({"type": "response.output_text.delta", "delta": text})


def test_response_failed_raises_the_matching_error_with_the_partial_text():
    accumulator = ResponsesAccumulator()
    started(accumulator)
    with pytest.raises(ServerError) as caught:
        accumulator.fold({"type": "response.failed", "response": {
            "id": "r1", "status": "failed",
            "error": {"code": "server_error", "message": "Timed out waiting for first token"}}})
    err = caught.value
    assert err.response is accumulator.response and err.response.text == "Half an ans"
    assert err.response.partial
    assert err.paragraph() == ("xAI server error: the answer failed (server_error): Timed out "
                               "waiting for first token. This is usually temporary: run the cell "
                               "again in a moment.")


def test_response_incomplete_keeps_usage_and_reason():
    accumulator = ResponsesAccumulator()
    started(accumulator)
    with pytest.raises(ResponseIncompleteError) as caught:
        accumulator.fold({"type": "response.incomplete", "response": {
            "status": "incomplete", "incomplete_details": {"reason": "content_filter"},
            "usage": {"input_tokens": 10, "output_tokens": 4}}})
    err = caught.value
    assert isinstance(err, StreamInterruptedError)
    assert err.response.usage.completion_tokens == 4 and err.response.finish_reason == "content_filter"
    assert err.paragraph().startswith("The answer is incomplete: xAI ended the answer early "
                                      "because of content_filter. xAI's content filter")


@pytest.mark.parametrize(("event", "cls"), [
    ({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}, RateLimitError),
    ({"type": "error", "code": "invalid_prompt", "message": "no"}, BadRequestError),
    ({"type": "error", "code": "The service is currently unavailable",
      "message": "Timed out waiting for first token"}, ServerError),
    ({"type": "error", "message": "something odd"}, APIStatusError),
])
def test_a_bare_error_event_raises_the_matching_error(event, cls):
    accumulator = ResponsesAccumulator()
    started(accumulator)
    with pytest.raises(cls) as caught:
        accumulator.fold(event)
    assert type(caught.value) is cls
    assert event["message"] in caught.value.message
    assert caught.value.response.text == "Half an ans"


def test_unknown_and_bookkeeping_events_change_nothing():
    accumulator = ResponsesAccumulator()
    for kind in ("response.content_part.added", "response.output_text.done", "response.future",
                 "response.web_search_call.searching", "keepalive"):
        assert accumulator.fold({"type": kind}) is NOTHING
    assert accumulator.fold({"no": "type"}) is NOTHING


# -- request bodies ---------------------------------------------------------------------------
def test_the_body_maps_messages_images_and_options():
    messages = [system_message("Be brief."),
                user_message(["Compare ", {"type": "image_url",
                                           "image_url": {"url": IMAGE, "detail": "high"}}]),
                {"role": "assistant", "content": "Done."}, user_message(["And now?"])]
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = responses_body("grok-4", messages, stream=True, tools=search_tools("web"),
                          temperature=0.2, top_p=0.9, seed=7, max_completion_tokens=300,
                          reasoning_effort="low",
                          response_format=json_schema_format(schema, "Answer"))
    assert body == {
        "model": "grok-4",
        "input": [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": [
                      {"type": "input_text", "text": "Compare"},
                      {"type": "input_image", "image_url": IMAGE, "detail": "high"}]},
                  {"role": "assistant", "content": "Done."},
                  {"role": "user", "content": [{"type": "input_text", "text": "And now?"}]}],
        "tools": [{"type": "web_search"}],
        "temperature": 0.2, "top_p": 0.9, "seed": 7, "max_output_tokens": 300,
        "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "Answer", "schema": schema,
                            "strict": True}},
        "store": False, "stream": True,
    }
    assert validate_responses(body).images == 1


def test_json_mode_store_and_previous_response_id():
    body = responses_body("grok-4", [user_message(["hi"])], stream=False, store=True,
                          previous_response_id="resp_1", response_format={"type": "json_object"})
    assert body["text"] == {"format": {"type": "json_object"}}
    assert body["store"] is True and body["previous_response_id"] == "resp_1"
    assert "stream" not in body


def test_function_tools_and_their_turns_are_flattened():
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    messages = [user_message(["find it"]),
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "lookup", "arguments": "{}"}},
                    {"kind": "web_search", "type": "web_search_call", "id": "ws_1"}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}]
    body = responses_body("grok-4", messages, stream=False, tools=[tool],
                          tool_choice={"type": "function", "function": {"name": "lookup"}})
    assert body["tools"] == [{"type": "function", "name": "lookup",
                              "parameters": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "function", "name": "lookup"}
    assert body["input"][1:] == [
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"}]
    validate_responses(body)


def test_chat_only_options_are_refused_clearly():
    with pytest.raises(InputError, match="presence_penalty, stop cannot be used"):
        responses_body("grok-4", [user_message(["hi"])], stream=False, stop=["x"],
                       presence_penalty=0.5)
    with pytest.raises(TypeError, match="messages_extra"):
        responses_body("grok-4", [user_message(["hi"])], stream=False, messages_extra=1)
    with pytest.raises(InputError, match="role 'function'"):
        responses_body("grok-4", [{"role": "function", "content": "x"}], stream=False)


@pytest.mark.parametrize(("spec", "tools"), [
    ("web", [{"type": "web_search"}]),
    ("x", [{"type": "x_search"}]),
    ("web,x", [{"type": "web_search"}, {"type": "x_search"}]),
    (" X , Web ", [{"type": "x_search"}, {"type": "web_search"}]),
    ("web:arxiv.org,nature.com", [{"type": "web_search",
                                   "allowed_domains": ["arxiv.org", "nature.com"]}]),
    ("web:https://ArXiv.org/", [{"type": "web_search", "allowed_domains": ["arxiv.org"]}]),
    ("x:@handle,@other_1", [{"type": "x_search", "allowed_x_handles": ["handle", "other_1"]}]),
    ("web:arxiv.org,x:@xai,elonmusk", [
        {"type": "web_search", "allowed_domains": ["arxiv.org"]},
        {"type": "x_search", "allowed_x_handles": ["xai", "elonmusk"]}]),
])
def test_search_specs(spec, tools):
    assert search_tools(spec) == tools
    validate_responses({"model": "grok-4", "input": "hi", "tools": tools})


@pytest.mark.parametrize(("spec", "message"), [
    ("news", "'news' is not web or x"),
    ("news:bbc.co.uk", "unknown search 'news'"),
    ("web:", "nothing after 'web:'"),
    ("arxiv.org", "'arxiv.org' is not web or x"),
    ("web,web", "names web twice"),
    ("web:arxiv.org/abs", "'arxiv.org/abs' is not a domain"),
    ("web:localhost", "'localhost' is not a domain"),
    ("x:@no-dashes", "'@no-dashes' is not an X handle"),
    ("x:@averyveryverylonghandle", "is not an X handle"),
    ("", "--search needs web, x or both"),
])
def test_bad_search_specs_say_what_is_wrong(spec, message):
    with pytest.raises(InputError, match=message):
        search_tools(spec)


def test_code_tool():
    assert code_tool() == {"type": "code_interpreter"}


# -- the stand-in -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def standin():
    srv = ResponsesStandin(api_key=FAKE_KEY).start()
    yield srv
    srv.stop()


@pytest.fixture
def srv(standin):
    standin.reset()
    standin.__dict__.pop("_responses_state", None)
    yield standin
    assert standin.errors == []


@pytest.fixture
def client(srv) -> GrokClient:
    return GrokClient(Settings(api_key=FAKE_KEY, base_url=srv.base_url), sleep=lambda s: None)


GOOD = {"model": "grok-4", "input": [{"role": "user", "content": [
    {"type": "input_text", "text": "hi"}]}], "store": False}


@pytest.mark.parametrize(("change", "status", "phrase"), [
    ({"messages": []}, 422, "unknown field `messages`"),
    ({"max_completion_tokens": 5}, 422, "unknown field `max_completion_tokens`"),
    ({"search_parameters": {"mode": "on"}}, 410, "Live search is deprecated"),
    ({"model": "grok-9"}, 404, "The model grok-9 does not exist"),
    ({"input": []}, 400, "at least one input item"),
    ({"input": [{"role": "tool", "content": "x"}]}, 422, "unknown variant `tool`"),
    ({"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, 422,
     "unknown variant `text`"),
    ({"input": [{"role": "user", "content": [{"type": "input_image",
                                              "image_url": {"url": IMAGE}}]}]}, 422,
     "expected a string"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": IMAGE,
                                              "detail": "max"}]}]}, 422, "unknown variant `max`"),
    ({"input": [{"role": "user", "content": [{"type": "input_image",
                                              "image_url": "http://localhost/a.png"}]}]}, 400,
     "not reachable from the internet"),
    ({"input": [{"role": "user", "content": "   "}]}, 400, "must not be empty"),
    ({"input": [{"role": "user", "content": "hi", "name": "me"}]}, 422, "unknown field `name`"),
    ({"tools": [{"type": "live_search"}]}, 422, "unknown variant `live_search`"),
    ({"tools": [{"type": "web_search", "allowed_websites": ["a.org"]}]}, 422,
     "unknown field `allowed_websites`"),
    ({"tools": [{"type": "web_search", "allowed_domains": ["https://a.org/x"]}]}, 400,
     "is not a domain"),
    ({"tools": [{"type": "x_search", "allowed_x_handles": ["@xai"]}]}, 400,
     "is not an X handle without @"),
    ({"tools": [{"type": "x_search", "from_date": "yesterday"}]}, 400, "YYYY-MM-DD"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, 422, "unknown field `function`"),
    ({"tools": [{"type": "file_search"}]}, 422, "missing field `vector_store_ids`"),
    ({"reasoning": {"effort": "high"}, "model": "grok-4.20-0309-reasoning"}, 400,
     "does not support parameter reasoningEffort"),
    ({"reasoning": {"effort": "extreme"}}, 400, "Invalid reasoning effort"),
    ({"temperature": 3}, 400, "temperature must be a number between 0 and 2"),
    ({"max_output_tokens": "10"}, 422, "expected an integer"),
    ({"text": {"format": {"type": "json_schema", "json_schema": {}}}}, 422,
     "unknown field `json_schema`"),
    ({"include": ["everything"]}, 422, "include: unknown variant"),
    ({"tool_choice": "required"}, 400, "no tools were given"),
    ({"previous_response_id": "resp_unknown"}, 404, "not found"),
    ({"model": "grok-3-mini", "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": IMAGE}]}]}, 400, "does not support image input"),
    ({"store": "no"}, 422, "expected a boolean"),
])
def test_the_standin_rejects_what_xai_rejects(srv, change, status, phrase):
    answer = requests.post(f"{srv.base_url}/responses", json={**GOOD, **change}, timeout=10,
                           headers={"Authorization": f"Bearer {FAKE_KEY}"})
    assert answer.status_code == status
    body = answer.json()
    assert set(body) == {"code", "error"} and phrase in body["error"]


def test_the_standin_wants_json_and_a_key(srv):
    url, auth = f"{srv.base_url}/responses", {"Authorization": f"Bearer {FAKE_KEY}"}
    answer = requests.post(url, data="model=grok-4", timeout=10,
                           headers={**auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415
    assert requests.post(url, json=GOOD, timeout=10).status_code == 401
    assert requests.get(url, headers=auth, timeout=10).status_code == 405


def test_validation_errors_reach_the_client_as_grok_errors(client):
    with pytest.raises(UnprocessableError, match="unknown field `messages`"):
        client.respond({**GOOD, "messages": []})
    with pytest.raises(GoneError) as caught:
        client.respond_stream({**GOOD, "search_parameters": {"mode": "on"}})
    assert "use --search web or --search x" in caught.value.paragraph()
    with pytest.raises(ApiError):
        validate_responses({**GOOD, "tools": [{"type": "mcp"}]})


@pytest.mark.parametrize("name", STREAMED)
def test_a_replayed_stream_over_http_decodes_like_the_recording(srv, client, name):
    srv.enqueue_responses(Replay(name, split=97))
    responses = client.respond_stream({**GOOD, "tools": [{"type": "web_search"}]})
    ended = []
    responses.on_end(ended.append)
    changes = list(responses)
    expected = decode([recorded_stream(name)])[0]
    assert summary(responses.accumulator) == summary(expected)
    assert ended == [responses.response] and not responses.response.partial
    assert "".join(c.content for c in changes) == expected.response.text
    assert srv.responses_requests[-1].json["stream"] is True


@pytest.mark.parametrize("name", WHOLE)
def test_a_replayed_whole_answer_over_http(srv, client, name):
    srv.enqueue_responses(Replay(name))
    response = client.respond(GOOD)
    assert summary_of(response) == summary(decode_json(whole(name)))
    assert "stream" not in srv.responses_requests[-1].json


def test_a_scripted_tool_run_streams_activity_citations_and_code(client, srv):
    srv.enqueue_responses(ToolRun(
        text="Inflation fell to 2.1 % [1].", reasoning="Look it up, then compute.",
        searches=[("web", "euro area inflation 2026"), ("x", "from:ecb inflation")],
        code="print(round(2.14, 1))", code_output="2.1\n",
        citations=[{"url": "https://www.ecb.europa.eu/stats", "title": "ECB statistics"},
                   "https://x.com/i/status/1", "https://www.ecb.europa.eu/stats"]))
    body = responses_body("grok-4", [user_message(["inflation?"])], stream=True,
                          tools=search_tools("web,x") + [code_tool()])
    responses = client.respond_stream(body)
    changes = list(responses)
    response = responses.response
    assert [c.activity for c in changes if c.activity] == [
        "searching the web: 'euro area inflation 2026'…", "searching X…",
        "searching X: 'from:ecb inflation'…", "running code…"]
    assert response.text == "Inflation fell to 2.1 % [1]."
    assert response.reasoning == "Look it up, then compute."
    assert response.citations == [
        {"url": "https://www.ecb.europa.eu/stats", "title": "ECB statistics"},
        {"url": "https://x.com/i/status/1", "title": None}]
    code = response.tool_calls[-1]
    assert (code["kind"], code["code"], code["outputs"]) == (
        "code_interpreter", "print(round(2.14, 1))", [{"type": "logs", "logs": "2.1\n"}])
    assert responses.response.usage.tool_calls_by_kind == {
        "web_search": 1, "x_search": 1, "code_interpreter": 1}
    assert response.usage.num_sources_used == 3
    assert response.cost == response.usage.cost_in_usd_ticks / 10**10 > 0.015


def test_the_default_answer_runs_each_tool_it_is_offered(client):
    body = responses_body("grok-4", [user_message(["latest on fusion?"])], stream=True,
                          tools=search_tools("web:iter.org,x:@iterorg"))
    response = client.respond_stream(body).until_done()
    assert [c["url"].split("/")[2] for c in response.citations] == ["iter.org", "x.com", "x.com"]
    assert [c["query"] for c in response.tool_calls] == ["latest on fusion?", "from:iterorg"]
    assert 'to: "latest on fusion?"' in response.text


@pytest.mark.parametrize(("end", "cls"), [("failed", ServerError),
                                          ("incomplete", ResponseIncompleteError),
                                          ("error", ServerError)])
def test_failure_events_over_http_keep_the_partial_text(client, srv, end, cls):
    srv.enqueue_responses(ToolRun(text="The first half", end=end, chunk_chars=4))
    responses = client.respond_stream(GOOD)
    ended = []
    responses.on_end(ended.append)
    seen = []
    with pytest.raises(cls) as caught:
        for change in responses:
            seen.append(change.content)
    assert "".join(seen) == "The first half"
    assert caught.value.response is responses.response is ended[0]
    assert responses.response.text == "The first half" and responses.response.partial


def test_a_cut_stream_is_interrupted_and_close_stops(client, srv):
    srv.enqueue_responses(Replay("xai-web-search-tool", cut_after=40))
    with pytest.raises(StreamInterruptedError) as caught:
        client.respond_stream(GOOD).until_done()
    assert caught.value.response.partial and caught.value.response.text
    srv.enqueue_responses(Replay("xai-x-search-tool"))
    responses = client.respond_stream(GOOD)
    for count, _ in enumerate(responses):
        if count == 100:
            responses.close()
    assert responses.response.stopped and 0 < len(responses.response.text) < 6304


def test_stored_responses_continue_and_can_be_fetched_and_deleted(client, srv):
    first = client.respond(responses_body("grok-4", [user_message(["one"])], stream=False,
                                            store=True))
    follow = responses_body("grok-4", [user_message(["two"])], stream=True,
                            previous_response_id=first.id)
    assert 'to: "two"' in client.respond_stream(follow).until_done().text
    auth = {"Authorization": f"Bearer {FAKE_KEY}"}
    stored = requests.get(f"{srv.base_url}/responses/{first.id}", headers=auth, timeout=10)
    assert stored.json()["id"] == first.id
    requests.delete(f"{srv.base_url}/responses/{first.id}", headers=auth, timeout=10)
    with pytest.raises(NotFoundError):
        client.respond_stream(follow)
    unstored = client.respond(responses_body("grok-4", [user_message(["three"])],
                                               stream=False))
    with pytest.raises(NotFoundError):
        client.respond({**follow, "previous_response_id": unstored.id})


def test_faults_and_retries_use_the_clients_transport(client, srv):
    srv.enqueue_responses(Fault(503), ToolRun(text="after a retry"))
    assert client.respond_stream(GOOD).until_done().text == "after a retry"
    assert len(srv.responses_requests) == 2
