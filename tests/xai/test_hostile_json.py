"""JSON a server or a model controls, whatever its shape: parsing it stays linear in its size
(Grok Imagine's image and video answers fuzzed with generated bodies up to 1 MB, time per KB
flat), and nesting too deep for Python is one clear paragraph, never a RecursionError traceback
— in an API body, an error body, an SSE event and a --json answer, through the real client to
the stand-in."""

from __future__ import annotations

import json
import random

import pytest

from grok_magic.errors import UnexpectedResponseError
from grok_magic.safety import untrusted_json
from grok_magic.safety.untrusted_json import MAX_DEPTH, TooDeepError
from grok_magic.xai.imagine import image_body, read_images, read_video
from tests.support.clients import make_client
from tests.support.linear import FLAT, growth
from tests.support.magic_helpers import magic_shell, run
from tests.support.xai_standin import FAKE_KEY, Fault, Raw, Reply

SMALL, LARGE = 128 * 1024, 1024 * 1024  # bytes of JSON
BODY = image_body("a fox", count=2)
DEEP = 50_000


def filler(size: int, seed: int) -> str:
    """`size` characters of text that exercises the key masking on the way: words, percent
    escapes, quotes, backslashes and key-like pieces (never the fake key)."""
    rng = random.Random(seed)
    pieces = ["fox ", "%41%42 ", "\\\"q\\\" ", "xai-", "sk-", "é ", "\\u00e9 ", "<b> ", "a" * 40]
    out: list[str] = []
    total = 0
    while total < size:
        piece = rng.choice(pieces)
        out.append(piece)
        total += len(piece)
    return "".join(out)[:size].rstrip("\\")


def image_answer(shape: str, size: int) -> str:
    """A /v1/images answer of about `size` bytes, its weight in one place."""
    text = filler(size, seed=size)
    items = [{"url": "https://imgen.x.ai/a.jpg", "revised_prompt": "a fox"}]
    if shape == "long revised prompt":
        items[0]["revised_prompt"] = text
    elif shape == "long url":
        items[0]["url"] = "https://imgen.x.ai/" + "a" * size
    elif shape == "big b64_json":
        import base64

        items = [{"b64_json": base64.b64encode(b"\xff\xd8" + b"x" * (size * 3 // 4)).decode()}]
    elif shape == "many stray keys":
        items[0].update({f"k{i}": i for i in range(size // 12)})
    elif shape == "long model":
        return json.dumps({"data": items, "model": text})
    elif shape == "too many images":
        items = items * (size // 60)
    elif shape == "deep stray value":
        depth = size // 2
        return json.dumps({"data": items})[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    return json.dumps({"data": items, "model": "grok-imagine-image"})


def video_answer(shape: str, size: int) -> str:
    text = filler(size, seed=size + 1)
    if shape == "long error":
        return json.dumps({"status": "failed", "error": text})
    if shape == "long url":
        return json.dumps({"status": "done", "video": {"url": "https://v.x.ai/" + "v" * size,
                                                      "duration": 5}})
    if shape == "long model":
        return json.dumps({"status": "pending", "progress": 50, "model": text})
    if shape == "many stray keys":
        return json.dumps({"status": "pending", **{f"k{i}": [i] for i in range(size // 14)}})
    depth = size // 2  # deep stray value
    return '{"status": "pending", "x": ' + "[" * depth + "]" * depth + "}"


def parse_images(text: str) -> None:
    try:
        read_images(untrusted_json.loads(text), BODY, request_id="req-1")
    except (ValueError, UnexpectedResponseError):
        pass  # refused as it must be: what is timed is getting there


def parse_video(text: str) -> None:
    try:
        read_video(untrusted_json.loads(text), "job-1")
    except (ValueError, UnexpectedResponseError):
        pass


IMAGE_SHAPES = ["long revised prompt", "long url", "big b64_json", "many stray keys",
                "long model", "too many images", "deep stray value"]
VIDEO_SHAPES = ["long error", "long url", "long model", "many stray keys", "deep stray value"]


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_reading_an_image_answer_stays_linear(shape):
    assert len(image_answer(shape, LARGE)) >= LARGE * 0.9
    assert growth(parse_images, lambda size: image_answer(shape, size), SMALL, LARGE) < FLAT


@pytest.mark.parametrize("shape", VIDEO_SHAPES)
def test_reading_a_video_answer_stays_linear(shape):
    assert len(video_answer(shape, LARGE)) >= LARGE * 0.9
    assert growth(parse_video, lambda size: video_answer(shape, size), SMALL, LARGE) < FLAT


def test_what_is_read_keeps_no_more_than_it_needs():
    """A megabyte revised prompt or video error is cut to a bounded length, key-masked."""
    [picture] = read_images(json.loads(image_answer("long revised prompt", LARGE)), BODY).pictures
    assert len(picture.revised_prompt) <= 16_000
    state = read_video(json.loads(video_answer("long error", LARGE)), "job-1")
    assert state.status == "failed" and len(state.error) <= 2_000


# -- nesting ---------------------------------------------------------------------------------
def test_nesting_up_to_the_limit_parses_and_past_it_is_refused():
    fine = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert untrusted_json.loads(fine) == json.loads(fine)
    for depth in (MAX_DEPTH + 1, 900, DEEP):
        with pytest.raises(TooDeepError, match=f"deeper than {MAX_DEPTH} levels"):
            untrusted_json.loads('{"a": ' + "[" * depth + "]" * depth + "}")


def test_a_deep_api_body_is_one_paragraph(xai_env):
    """A non-streamed answer nested past Python's recursion limit: the client names it."""
    deep = b'{"choices": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    xai_env.enqueue(Raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: " + str(len(deep)).encode() + b"\r\n\r\n" + deep))
    client = make_client(xai_env, max_retries=0)
    with pytest.raises(UnexpectedResponseError, match="expected JSON as the answer"):
        client.complete({"model": "grok-4",
                         "messages": [{"role": "user", "content": "hi"}]})


@pytest.fixture
def ip(xai_env):
    return magic_shell(max_retries=0)


def test_a_deep_error_body_is_still_a_clear_error(ip, xai_env):
    xai_env.enqueue(Fault(500, "[" * DEEP + "]" * DEEP, content_type="application/json"))
    out = run(ip, "%%grok --no-stream\nhi")
    assert out.error is not None and "RecursionError" not in out.everything()
    assert "500" in out.told() and "Traceback" not in out.told()
    assert FAKE_KEY not in out.everything()


def test_a_deep_stream_event_is_one_paragraph(ip, xai_env):
    event = '{"choices": ' + "[" * DEEP + "]" * DEEP + "}"
    xai_env.enqueue(Raw(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
                         f"data: {event}\n\n").encode()))
    out = run(ip, "%%grok\nhi")
    assert out.error is not None and "RecursionError" not in out.everything()
    assert "stream event" in out.told() and "Traceback" not in out.told()


@pytest.mark.parametrize("depth", [900, DEEP])
def test_a_deep_json_answer_is_one_paragraph_and_its_text_is_kept(ip, xai_env, depth):
    """A --json answer nested 900 deep would show as ~1.6 MB of indentation (one line per
    level, each indented by its depth) for 1.8 KB of answer; 50,000 deep is past Python's
    recursion limit. Both are refused as JSON; the text stays in _grok.text."""
    answer = "[" * depth + "]" * depth
    xai_env.enqueue(Reply(content=answer, chunk_chars=4000))
    out = run(ip, "%%grok --json -q\nDeep")
    assert "RecursionError" not in out.everything() and "Traceback" not in out.told()
    assert f"nested deeper than {MAX_DEPTH} levels" in out.told()
    assert ip.user_ns["_grok"].text == answer
    assert sum(len(o.get("text/html", "")) for o in out.outputs) < 40 * len(answer)
