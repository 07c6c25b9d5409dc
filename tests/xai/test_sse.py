"""The SSE line splitter and event decoder: recorded streams cut at every byte, CR/LF/CRLF,
UTF-8 split inside characters, comments, multi-line data, [DONE], in-stream errors; and the
same bytes through real HTTP from the stand-in, split into arbitrary HTTP chunks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from grok_magic.errors import AnswerLimitError, APIStatusError, ServerError
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from grok_magic.xai.sse import LineSplitter, SSEDecoder, StreamState, iter_sse_data, iter_sse_json
from tests.support.xai_standin import FAKE_KEY, Replay, Stream

RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "xai-recorded"
STREAMS = {p.name.removesuffix(".response.sse"): p.read_bytes() for p in RECORDINGS.glob("*.sse")}
SMALL = sorted(name for name, body in STREAMS.items() if len(body) < 10_000)
LARGE = sorted(name for name, body in STREAMS.items() if len(body) >= 10_000)
SAMPLE_SIZE = 2_000


def decode(chunks) -> tuple[list[str], bool]:
    state = StreamState()
    return list(iter_sse_data(chunks, state)), state.done


def with_line_ends(body: bytes, end: bytes) -> bytes:
    return body.replace(b"\n", end)


def reference_events(body: bytes) -> list[str]:
    """An independent reading of an LF-only recording: the `data: ` payload of each event."""
    events = [e for e in body.decode("utf-8").split("\n\n") if e.strip()]
    payloads = [e.removeprefix("data: ") for e in events]
    assert payloads[-1] == "[DONE]"
    return payloads[:-1]


def interesting_offsets(body: bytes) -> set[int]:
    """Every offset next to a CR or LF and every offset inside a multi-byte UTF-8 character."""
    offsets = set()
    for i, byte in enumerate(body):
        if byte in b"\r\n":
            offsets.update((i - 1, i, i + 1, i + 2))
        elif byte >= 0x80:
            offsets.update((i, i + 1))
    return {o for o in offsets if 0 <= o <= len(body)}


def sampled_offsets(body: bytes, seed: int) -> list[int]:
    """All interesting offsets plus a seeded random sample, SAMPLE_SIZE in all at least."""
    rng = random.Random(seed)
    offsets = interesting_offsets(body) | {0, 1, len(body) - 1, len(body)}
    rest = sorted(set(range(len(body) + 1)) - offsets)
    offsets |= set(rng.sample(rest, max(SAMPLE_SIZE - len(offsets), 500)))
    return sorted(offsets)


def test_recordings_are_present():
    assert set(SMALL) == {"grok-4-fast_simple_streaming", "grok-code-fast_simple_streaming"}
    assert len(LARGE) == 2


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_whole_recording_matches_an_independent_reading(name):
    body = STREAMS[name]
    events, done = decode([body])
    assert done
    assert events == reference_events(body)
    parsed = list(iter_sse_json([body]))
    assert [json.loads(e) for e in events] == parsed
    assert all(p["object"] == "chat.completion.chunk" for p in parsed)


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_small_recordings_at_every_split_point(name, end):
    body = with_line_ends(STREAMS[name], end)
    expected = decode([body])
    assert expected[1] and len(expected[0]) == len(reference_events(STREAMS[name]))
    for cut in range(len(body) + 1):
        got = decode([body[:cut], body[cut:]])
        assert got == expected, f"split at byte {cut} of {len(body)}"


@pytest.mark.parametrize("name", SMALL)
def test_small_recordings_parse_to_the_same_json_at_every_split_point(name):
    body = STREAMS[name]
    expected = list(iter_sse_json([body]))
    for cut in range(len(body) + 1):
        assert list(iter_sse_json([body[:cut], body[cut:]])) == expected, cut


@pytest.mark.parametrize("name", LARGE)
@pytest.mark.parametrize("end", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_large_recordings_at_sampled_split_points(name, end):
    body = with_line_ends(STREAMS[name], end)
    expected = decode([body])
    assert expected[1] and len(expected[0]) > 250
    offsets = sampled_offsets(body, seed=len(body))
    assert len(offsets) >= SAMPLE_SIZE
    for cut in offsets:
        assert decode([body[:cut], body[cut:]]) == expected, f"split at byte {cut}"


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_random_multi_splits(name, end):
    body = with_line_ends(STREAMS[name], end)
    expected = decode([body])
    rng = random.Random(20260515)
    for _ in range(60):
        cuts = sorted(rng.sample(range(1, len(body)), rng.randint(2, 80)))
        bounds = [0, *cuts, len(body)]
        chunks = [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        chunks.insert(rng.randrange(len(chunks)), b"")  # an empty read changes nothing
        assert decode(chunks) == expected, cuts


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_one_byte_at_a_time(name):
    body = with_line_ends(STREAMS[name], b"\r\n")
    assert decode([body[i : i + 1] for i in range(len(body))]) == decode([body])


def test_utf8_is_decoded_per_line_not_per_chunk():
    line = "data: Olá — 40°C ✓ 🚀\n\n".encode()
    for cut in range(len(line) + 1):
        events, _ = decode([line[:cut], line[cut:]])
        assert events == ["Olá — 40°C ✓ 🚀"], cut
        assert "\ufffd" not in events[0]


def test_cr_and_lf_split_across_chunks_is_one_line_end():
    splitter = LineSplitter()
    assert splitter.feed(b"data: a\r") == ["data: a"]
    assert splitter.feed(b"\n") == []  # the LF of the CRLF above, not an empty line
    assert splitter.feed(b"\r") == [""]
    assert splitter.feed(b"") == []
    assert splitter.feed(b"\ndata: b\n") == ["data: b"]
    assert splitter.feed(b"\r\r") == ["", ""]
    assert splitter.feed(b"tail") == []
    assert splitter.flush() == ["tail"]


def feed_all(chunks) -> list[str]:
    splitter = LineSplitter()
    return [line for chunk in chunks for line in splitter.feed(chunk)] + splitter.flush()


def test_a_long_line_grows_across_many_chunks_and_ends_on_a_split_crlf():
    payload = "é🚀" * 20_000 + "x" * 50_001  # multi-byte characters cut by most chunk bounds
    body = b"data: " + payload.encode() + b"\r\n\r\ndata: [DONE]\r\n\r\n"
    cr = body.index(b"\r")
    for size in (1, 7, 1024):
        # Chunks of `size` bytes, with one cut between the CR and LF ending the long line.
        bounds = sorted({*range(0, len(body), size), cr + 1, len(body)})
        chunks = [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        pairs = zip(chunks, chunks[1:], strict=False)
        assert any(a.endswith(b"\r") and b.startswith(b"\n") for a, b in pairs)
        assert feed_all(chunks) == ["data: " + payload, "", "data: [DONE]", ""], size
        assert decode(chunks) == ([payload], True), size


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_line_ends_at_chunk_bounds_after_a_long_unfinished_line(end):
    lines = ["a" * 10_000, "", "b🚀" * 3_000, "", "c", ""]
    body = end.join(line.encode() for line in lines)
    rng = random.Random(len(end))
    breaks = [i for i, byte in enumerate(body) if byte in b"\r\n"]
    for _ in range(40):
        # Cut right before, inside and right after line ends, plus a few random cuts.
        cuts = {b + rng.choice((0, 1, 2)) for b in breaks} | set(rng.sample(range(len(body)), 20))
        bounds = sorted({0, len(body), *(c for c in cuts if 0 < c < len(body))})
        chunks = [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        assert feed_all(chunks) == lines[:-1], bounds


def test_a_cr_ending_a_chunk_is_one_line_end_whatever_follows():
    splitter = LineSplitter()
    assert splitter.feed(b"x" * 5000) == []
    assert splitter.feed(b"y\r") == ["x" * 5000 + "y"]
    assert splitter.feed(b"") == []  # an empty read keeps the pending CR
    assert splitter.feed(b"\nz") == []  # that LF completes the CRLF
    assert splitter.feed(b"\r") == ["z"]
    assert splitter.feed(b"w\n") == ["w"]  # no LF followed: the CR alone ended "z"
    assert splitter.flush() == []


def test_utf8_character_cut_into_single_bytes_in_an_unfinished_line():
    splitter = LineSplitter()
    for byte in "data: 🚀".encode():
        assert splitter.feed(bytes([byte])) == []
    assert splitter.flush() == ["data: 🚀"]
    assert splitter.flush() == []


def test_mixed_line_endings():
    body = b"data: 1\r\n\r\ndata: 2\r\rdata: 3\n\ndata: 4\r\n\ndata: [DONE]\r\n\r\n"
    assert decode([body]) == (["1", "2", "3", "4"], True)


def test_comments_are_skipped_and_multiline_data_joined():
    body = (
        b": keep-alive\n\n"
        b"data: first\n: a comment inside an event\ndata: second\n\n"
        b"event: message\nid: 7\nretry: 1000\ndata:no-space\n\n"
        b"data\n\n"
        b":\n\n"
        b"data: [DONE]\n\n"
    )
    assert decode([body]) == (["first\nsecond", "no-space", ""], True)


def test_done_ends_the_stream_and_later_bytes_are_ignored():
    body = b'data: {"a":1}\n\ndata: [DONE]\n\ndata: {"b":2}\n\n'
    assert decode([body]) == (['{"a":1}'], True)
    assert list(iter_sse_json([body])) == [{"a": 1}]


def test_a_stream_without_done_says_so():
    assert decode([b'data: {"a":1}\n\n']) == (['{"a":1}'], False)
    # The last event of a stream cut before its blank line still counts.
    assert decode([b'data: {"a":1}\n\ndata: {"b":2}']) == (['{"a":1}', '{"b":2}'], False)
    assert decode([b"data: [DONE]"]) == ([], True)


def test_decoder_ignores_unknown_fields():
    decoder = SSEDecoder()
    assert decoder.line("event: ping") is None
    assert decoder.line("") is None  # an event with no data dispatches nothing
    assert decoder.line("data: x") is None
    assert decoder.end() == "x"
    assert decoder.end() is None


def test_error_event_inside_a_200_stream_raises_the_matching_error():
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b'data: {"code":"The service is currently unavailable",'
        b'"error":"Timed out waiting for first token"}\n\n'
    )
    events = iter_sse_json([body], request_id="req-42")
    assert next(events)["choices"][0]["delta"]["content"] == "Hi"
    with pytest.raises(ServerError) as info:
        next(events)
    err = info.value
    assert "Timed out waiting for first token" in err.message
    assert err.code == "The service is currently unavailable"
    assert err.request_id == "req-42"


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b"42", b'"text"'])
def test_events_that_are_not_json_objects_raise_a_grok_error(data):
    with pytest.raises(APIStatusError, match="not a JSON object"):
        list(iter_sse_json([b"data: " + data + b"\n\n"]))


# -- the same bytes through real HTTP -------------------------------------------------------
@pytest.fixture
def client(xai_server):
    return GrokClient(Settings(api_key=FAKE_KEY, base_url=xai_server.base_url), sleep=lambda s: None)


def recording_request(srv, name: str) -> dict:
    return srv.recordings[name].request_body


def offline_response(name: str):
    from grok_magic.xai.response import Response

    response = Response()
    for event in iter_sse_json([STREAMS[name]]):
        response.add_chunk(event)
    return response.finish()


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize(
    "options",
    [{}, {"split": 1}, {"split": 7}, {"split": 4096}, {"crlf": True, "split": 3},
     {"comments": True}, {"comments": True, "crlf": True, "split": 5}],
    ids=["events", "bytes", "7", "4k", "crlf3", "comments", "all"],
)
def test_recordings_replayed_over_http(client, xai_server, name, options):
    xai_server.enqueue(Replay(name, **options))
    stream = client.stream(recording_request(xai_server, name))
    deltas = list(stream)
    got, want = stream.response, offline_response(name)
    assert got.complete and not got.partial
    assert (got.text, got.reasoning, got.usage, got.finish_reason, got.model, got.id) == (
        want.text, want.reasoning, want.usage, want.finish_reason, want.model, want.id)
    assert "".join(d.content for d in deltas) == got.text
    assert "".join(d.reasoning for d in deltas) == got.reasoning
    assert got.tool_calls == want.tool_calls


def test_random_http_chunking_of_a_long_recording(client, xai_server):
    name = LARGE[0]
    body = STREAMS[name]
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(body)), 300)) + sorted(interesting_offsets(body))[:200]
    xai_server.enqueue(Replay(name, split=cuts))
    response = client.stream(recording_request(xai_server, name)).until_done()
    assert response.reasoning == offline_response(name).reasoning


def test_multibyte_content_split_inside_characters_over_http(client, xai_server):
    text = "Olá! Ça coûte 40°C — 🚀 ✓"
    event = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}]}
    xai_server.enqueue(Stream(events=[event], split=1))
    body = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}
    assert client.stream(body).until_done().text == text


def test_the_event_parser_is_json_loads_without_its_wrapper():
    """`_loads` gives what json.loads gives — on every event of every recording, and on the
    edge cases the bare scanner cannot take whole (spaces, garbage, empty, non-objects)."""
    import json

    from grok_magic.xai.sse import _loads

    recordings = Path(__file__).resolve().parents[1] / "fixtures" / "xai-recorded"
    events = [line[6:] for path in recordings.rglob("*") if path.suffix in (".sse", ".txt")
              for line in path.read_text(encoding="utf-8").splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    events += [line for path in (recordings / "responses").glob("*.chunks.txt")
               for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    assert len(events) > 1000
    assert all(_loads(e) == json.loads(e) for e in events)
    for text in (' {"a": 1}', '{"a": 1}\t', "[1, 2]", '"s"', "3.5", "null", '{"a": "\\u00e9"}'):
        assert _loads(text) == json.loads(text)
    for bad in ('{"a": 1} x', "", "{", '{"a": }', "nan nan"):
        with pytest.raises(ValueError):
            _loads(bad)


# -- bounded memory: an event that never ends is cut ------------------------------------------
def endless(piece: bytes, first: bytes = b""):
    """`first`, then `piece` again and again: the stream a hostile server sends."""
    yield first
    while True:
        yield piece


@pytest.mark.parametrize("first, piece", [
    (b"data: ", b"x" * 1000),  # one line that never ends
    (b"", b"data: x\n"),  # data lines with no blank line after them
    (b"data: {}\n\n", b"x" * 999 + b"\n"),  # a line per chunk, never a blank one
    (b"data: \r", b"x" * 1000),  # CR line ends: the general splitter
    (b"data: a\r\n", b"data: x\r\n"),  # CR line ends, data lines forever
])
def test_an_event_that_never_ends_is_cut_at_the_limit(first, piece):
    events = iter_sse_data(endless(piece, first), max_event_bytes=100_000)
    with pytest.raises(AnswerLimitError, match="passed 100,000 bytes without ending"):
        for _ in events:
            pass


def test_events_up_to_the_limit_pass_and_comments_do_not_count():
    event = b"data: " + b"y" * 99_990 + b"\n\n"
    chunks = [b": keep-alive\n\n" * 10_000, event[:50_000], event[50_000:], b"data: [DONE]\n\n"]
    state = StreamState()
    assert list(iter_sse_data(chunks, state, max_event_bytes=100_000)) == ["y" * 99_990]
    assert state.done
