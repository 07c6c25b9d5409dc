"""The Response accumulator and Usage: every recording's text, reasoning, model, id, usage and
cost (numbers taken from the files), streamed and whole, through real HTTP to the stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from grok_magic.xai.response import USD_TICKS, Price, Response, Usage, fallback_price
from tests.support.xai_standin import FAKE_KEY, Replay, Reply

RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "xai-recorded"

# name: (model served, finish, prompt, completion, total, cached, reasoning, cost ticks, text)
EXPECTED = {
    "grok-4-fast_simple": (
        "grok-4-fast-reasoning", "stop", 165, 2, 292, 156, 125, 731_000, "Olá!"),
    "grok-4-fast_simple_streaming": (
        "grok-4-fast-reasoning", "stop", 165, 2, 296, 164, 129, 739_000, "Olá!"),
    "grok-code-fast_simple_streaming": (
        "grok-code-fast-1", "stop", 213, 2, 413, 192, 198, 3_080_400, "Olá!"),
    "grok-3-mini_thinking_0": (
        "grok-3-mini-high", "tool_calls", 288, 27, 665, 7, 350, 2_733_250, ""),
    "grok-3-mini_thinking_1": (
        "grok-3-mini-high", "stop", 331, 11, 674, 283, 332, 2_071_250,
        "The weather in Florence, Italy is 40°C."),
    "grok-3-mini_thinking_streaming_0": (
        "grok-3-mini-high", "tool_calls", 288, 27, 628, 287, 313, 1_918_250, ""),
    "grok-3-mini_thinking_streaming_1": (
        "grok-3-mini-high", "stop", 331, 11, 613, 330, 271, 1_660_500,
        "The weather in Florence, Italy is 40°C."),
    "grok-4-fast_tool_object": (
        "grok-4-fast-reasoning", "tool_calls", 401, 44, 630, 305, 185, 1_489_500, ""),
}


@pytest.fixture
def client(xai_server):
    return GrokClient(Settings(api_key=FAKE_KEY, base_url=xai_server.base_url), sleep=lambda s: None)


def fetch(client, srv, name: str) -> Response:
    """The recording `name` replayed by the stand-in and read by the client."""
    srv.enqueue(Replay(name))
    body = srv.recordings[name].request_body
    if body.get("stream"):
        return client.stream(body).until_done()
    return client.complete(body)


def recorded_id(name: str) -> str:
    path = next(RECORDINGS.glob(f"{name}.response.*"))
    return json.loads(path.read_bytes().split(b"\n")[0].removeprefix(b"data: "))["id"]


def test_every_recording_is_covered():
    names = {p.name.split(".")[0] for p in RECORDINGS.glob("*.request.json")}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_usage_cost_and_answer_from_each_recording(client, xai_server, name):
    model, finish, prompt, completion, total, cached, reasoning, ticks, text = EXPECTED[name]
    response = fetch(client, xai_server, name)
    assert response.complete and not response.partial and not response.stopped
    assert response.model == model
    assert response.requested_model == xai_server.recordings[name].request_body["model"]
    assert response.finish_reason == finish
    assert response.text == text
    assert response.id == recorded_id(name)
    u = response.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (prompt, completion, total)
    assert (u.cached_tokens, u.reasoning_tokens, u.text_tokens) == (cached, reasoning, prompt)
    assert (u.image_tokens, u.num_sources_used) == (0, 0)
    # total = prompt + completion + reasoning (completion excludes reasoning)
    assert total == prompt + completion + reasoning
    assert u.cost_in_usd_ticks == ticks
    assert response.cost == pytest.approx(ticks / 1e10, abs=1e-15)
    assert response.system_fingerprint and response.system_fingerprint.startswith("fp_")


def test_the_issue_example_numbers(client, xai_server):
    response = fetch(client, xai_server, "grok-4-fast_simple")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens,
            response.usage.total_tokens) == (165, 2, 292)
    assert response.usage.cached_tokens == 156 and response.usage.reasoning_tokens == 125
    assert response.cost == pytest.approx(0.0000731)


def test_a_recorded_answer_says_its_cost_is_exact_and_what_caching_saved(client, xai_server):
    response = fetch(client, xai_server, "grok-4-fast_simple")
    assert response.cost_source == "exact, from xAI" and response.price is None
    # grok-4-fast-reasoning is retired: its saving is estimated at grok-4.3's built-in prices
    # (no list is fetched for an answer whose cost xAI gave).
    assert response.cache_saving == pytest.approx(156 * (1.25 - 0.20) / 1e6)
    assert not any(r.path.endswith("/language-models") for r in xai_server.requests)


def test_without_xais_cost_a_long_prompt_is_priced_at_the_long_context_rate(client, xai_server):
    usage = {"prompt_tokens": 300_000, "completion_tokens": 1000, "total_tokens": 301_000,
             "prompt_tokens_details": {"cached_tokens": 100_000}}
    xai_server.enqueue(Reply("ok", usage=usage))
    response = client.complete({"model": "grok-4.3", "messages": [{"role": "user", "content": "x"}]})
    live = {m.id: m.price for m in client.list_models()}["grok-4.3"]
    assert response.price == live and response.price_source.startswith("xAI's price list of ")
    expected = (200_000 * live.input + 100_000 * live.cached_input + 1000 * live.output) * 2 / 1e6
    assert response.cost == pytest.approx(expected)
    assert response.cache_saving == pytest.approx(100_000 * 2 * (live.input - live.cached_input)
                                                  / 1e6)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cost_from_live_prices_matches_xais_own_figure(client, xai_server, name):
    """Without cost_in_usd_ticks, /v1/language-models prices give the same cost."""
    response = fetch(client, xai_server, name)
    prices = {m.id: m.price for m in client.list_models()}
    served = "grok-3-mini" if response.model.startswith("grok-3-mini") else response.model
    usage = Usage(**{**vars(response.usage), "cost_in_usd_ticks": None})
    assert usage.cost(prices[served]) == pytest.approx(response.usage.cost_in_usd_ticks / USD_TICKS)


@pytest.mark.parametrize("name", ["grok-3-mini_thinking_0", "grok-3-mini_thinking_streaming_0"])
def test_reasoning_and_tool_calls(client, xai_server, name):
    response = fetch(client, xai_server, name)
    assert response.reasoning.startswith("First, the user is asking for the weather")
    assert len(response.reasoning) > 1000
    assert response.tool_calls[0]["function"] == {
        "name": "weather", "arguments": '{"location":"Florence, Italy"}'}
    assert response.tool_calls[0]["id"].startswith("call_")
    message = response.assistant_message()
    assert message["role"] == "assistant" and message["tool_calls"] == response.tool_calls


def test_streamed_reasoning_of_grok_code_fast(client, xai_server):
    response = fetch(client, xai_server, "grok-code-fast_simple_streaming")
    assert response.reasoning.startswith('First, the user said: "Say hi in Portuguese')
    assert response.text == "Olá!"
    assert response.first_token_at is not None and response.elapsed >= 0


def test_structured_output_tool_call(client, xai_server):
    response = fetch(client, xai_server, "grok-4-fast_tool_object")
    args = json.loads(response.tool_calls[0]["function"]["arguments"])
    assert args == {"age": 30, "city": "Paris", "name": "Alice"}


@pytest.mark.parametrize("stream", [False, True])
def test_citations_and_every_usage_detail(client, xai_server, stream):
    usage = {
        "prompt_tokens": 1300, "completion_tokens": 40, "total_tokens": 1440,
        "prompt_tokens_details": {"text_tokens": 1044, "audio_tokens": 0, "image_tokens": 256,
                                  "cached_tokens": 600},
        "completion_tokens_details": {"reasoning_tokens": 100, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
        "num_sources_used": 3,
    }
    citations = ["https://example.com/a", "https://example.com/b"]
    xai_server.enqueue(Reply("See the sources.", usage=usage, citations=citations))
    body = {"model": "grok-4", "messages": [{"role": "user", "content": "news?"}]}
    response = client.stream(body).until_done() if stream else client.complete(body)
    u = response.usage
    assert response.citations == citations
    assert (u.image_tokens, u.cached_tokens, u.text_tokens) == (256, 600, 1044)
    assert (u.reasoning_tokens, u.num_sources_used, u.cost_in_usd_ticks) == (100, 3, None)
    # No xAI figure: the built-in price of grok-4.3 (served for grok-4): 1.25 / 0.20 / 2.50.
    assert response.model == "grok-4.3"
    expected = (700 * 1.25 + 600 * 0.20 + 140 * 2.50) / 1e6
    assert response.cost == pytest.approx(expected)


def test_image_tokens_use_the_image_price():
    usage = Usage(prompt_tokens=1000, cached_tokens=100, image_tokens=500, completion_tokens=10,
                  reasoning_tokens=90)
    price = Price(input=2.0, cached_input=0.5, output=10.0, image_input=1.0)
    assert usage.cost(price) == pytest.approx((400 * 2.0 + 500 * 1.0 + 100 * 0.5 + 100 * 10) / 1e6)
    same = Price(input=2.0, cached_input=0.5, output=10.0)
    assert usage.cost(same) == pytest.approx((900 * 2.0 + 100 * 0.5 + 100 * 10) / 1e6)
    assert Usage(prompt_tokens=5).cost(None) is None
    assert Usage(cost_in_usd_ticks=731_000).cost(None) == pytest.approx(0.0000731)


def test_usage_from_partial_or_missing_dicts():
    assert Usage.from_dict(None) == Usage()
    assert Usage.from_dict({"prompt_tokens": 3, "prompt_tokens_details": None}) == Usage(
        prompt_tokens=3)


def test_usage_totals_add_up():
    a = Usage(prompt_tokens=10, completion_tokens=2, total_tokens=12, cost_in_usd_ticks=5)
    b = Usage(prompt_tokens=1, cached_tokens=1, reasoning_tokens=4, num_sources_used=2)
    total = a + b
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (11, 2, 12)
    assert (total.cached_tokens, total.reasoning_tokens, total.num_sources_used) == (1, 4, 2)
    assert total.cost_in_usd_ticks == 5
    assert (Usage() + Usage()).cost_in_usd_ticks is None


def test_fallback_prices():
    assert fallback_price("grok-3-mini-high") == Price(0.30, 0.075, 0.50)
    # Retired names are billed as what xAI serves them as: grok-4.3.
    assert fallback_price("grok-4") == Price(1.25, 0.20, 2.50) == fallback_price("grok-4.3")
    assert fallback_price("grok-4.20-0309-reasoning") == Price(1.25, 0.20, 2.50)
    assert fallback_price("grok-9") is None and fallback_price(None) is None


def test_usage_kept_from_the_last_chunk_that_carries_it():
    response = Response()
    response.add_chunk({"id": "a", "model": "m", "choices": [{"delta": {"content": "x"}}],
                        "usage": {"prompt_tokens": 1}})
    response.add_chunk({"id": "b", "choices": [{"delta": {"content": "y"}}], "usage": None})
    response.add_chunk({"choices": [], "usage": {"prompt_tokens": 9, "total_tokens": 10}})
    response.finish()
    assert response.usage.prompt_tokens == 9 and response.id == "a" and response.text == "xy"


def test_tool_call_arguments_merge_across_chunks():
    response = Response()
    response.add_chunk({"choices": [{"delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "function": {"name": "get", "arguments": '{"a"'}}]}}]})
    response.add_chunk({"choices": [{"delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": ": 1}"}}]}, "finish_reason": "tool_calls"}]})
    response.finish()
    assert response.tool_calls == [
        {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": '{"a": 1}'}}]
    assert response.finish_reason == "tool_calls"


def test_partial_and_stopped_flags_and_repr():
    response = Response(requested_model="grok-4")
    response.add_chunk({"choices": [{"delta": {"content": "half an ans"}}]})
    assert response.text_so_far == "half an ans" and response.text == ""
    response.finish(partial=True)
    assert response.partial and not response.complete and not response.stopped
    assert "partial" in repr(response) and "grok-4" in repr(response)
    response.finish(stopped=True)
    assert response.partial and response.stopped and "stopped" in repr(response)
    assert str(response) == "half an ans"


def test_json_answers():
    response = Response.from_completion(
        {"choices": [{"message": {"content": '```json\n{"a": [1, 2]}\n```'}}]})
    assert response.json() == {"a": [1, 2]}
    assert response.usage is None and response.cost is None
    with pytest.raises(ValueError):
        Response.from_completion({"choices": [{"message": {"content": "no"}}]}).json()
