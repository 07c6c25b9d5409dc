"""Grok's tools in a cell and in the panel (--search, --run-code, the Search toggle), through the
magic, the real client, HTTP and SSE to the stand-in's /v1/responses: what reaches xAI, what the
user sees (Sources, the code Grok ran, usage), history across both APIs, store, dry runs, errors."""

from __future__ import annotations

import json
import re

import pytest

from grok_magic.ledger.store import Ledger
from grok_magic.notebook.sources import source_links
from grok_magic.xai.client import LIVE_SEARCH_HINT
from tests.support.inert_check import html_findings
from tests.support.magic_helpers import magic_shell, run
from tests.support.standin_responses import TOOL_FEE_TICKS, Replay, ToolRun, enqueue_responses
from tests.support.xai_standin import Fault


@pytest.fixture
def ip(xai_env):
    return magic_shell(max_retries=2)


def findings(out) -> list[str]:
    """What the inertness checker finds in the answer's and the Sources list's HTML (our own
    folded blocks and the usage widget are not the renderer's)."""
    return [f for o in out.outputs for f in html_findings(o.get("text/html", ""))
            if "<details" not in o.get("text/html", "") and "grok-usage" not in o.get("text/html", "")]


def bodies(srv, path: str = "/v1/responses") -> list[dict]:
    return [r.json for r in srv.requests if r.path.split("?")[0] == path]


def test_search_web_sends_the_tool_and_shows_numbered_sources(ip, xai_env):
    out = run(ip, "%%grok --search web:arxiv.org,nature.com\nWhat does the latest survey say?")
    assert out.error is None, out.everything()
    body = bodies(xai_env)[-1]
    assert body["tools"] == [{"type": "web_search", "allowed_domains": ["arxiv.org", "nature.com"]}]
    assert body["store"] is False and body["stream"] is True
    assert bodies(xai_env, "/v1/chat/completions") == []
    shown = out.shown()
    assert "Stand-in answer" in shown
    assert "Sources" in shown and "arxiv.org" in shown and "nature.com" in shown
    assert "1. arxiv.org/stand-in/" in out.plain()  # no title: the host and the path tell them apart
    grok = ip.user_ns["_grok"]
    assert [c["url"].split("/")[2] for c in grok.citations] == ["arxiv.org", "nature.com"]
    assert grok.tool_calls[0]["kind"] == "web_search"
    assert grok.usage.tool_calls_by_kind == {"web_search": 1}
    assert grok.usage.server_side_tools_used == 1
    usage = out.plain()
    assert "sources: 2" in usage and "tool calls: 1 (web search 1)" in usage
    assert "(exact, from xAI, tool fees included)" in usage
    assert grok.cost >= TOOL_FEE_TICKS / 10**10
    assert findings(out) == []


def test_the_thinking_line_says_what_the_tools_do(ip, xai_env):
    enqueue_responses(xai_env, ToolRun(text="Done.", searches=[("web", "grok release"),
                                                               ("x", "from:xai")]))
    out = run(ip, "%%grok --search web,x\nAnything new?")
    assert out.error is None, out.everything()
    lines = [o.data.get("text/plain", "") for o in out.raw]
    assert any("searching the web: 'grok release'…" in line for line in lines), lines
    assert any("searching X: 'from:xai'…" in line for line in lines), lines
    assert "searching" not in out.plain()  # the line made way for the answer


def test_run_code_shows_the_code_folded_under_the_answer(ip, xai_env):
    out = run(ip, "%%grok --run-code\nWhat is the sum of 1 to 10?")
    assert out.error is None, out.everything()
    assert bodies(xai_env)[-1]["tools"] == [{"type": "code_interpreter"}]
    html = out.html()
    assert "<details class='grok-code-ran'>" in html
    assert "print(sum(range(1, 11)))" in out.shown()
    # the code is folded and highlighted by the safe renderer; what it printed shows under it
    assert re.search(r"<details class='grok-code-ran'><summary>Code Grok ran \(1 line\)[^<]*</summary>"
                     r".*<span style=\"color:#08b\">print</span>.*</details>"
                     r"<div class='grok-code-output'><strong>Output</strong>.*55", html, re.S), html
    assert "[Code Grok ran (1 line) — also in _grok.tool_calls]\nOutput:\n55" in out.plain()
    call = ip.user_ns["_grok"].tool_calls[0]
    assert (call["kind"], call["code"]) == ("code_interpreter", "print(sum(range(1, 11)))")
    assert "tool calls: 1 (code interpreter 1)" in out.plain()
    assert findings(out) == []


def test_the_code_grok_ran_is_shown_as_text(ip, xai_env):
    enqueue_responses(xai_env, ToolRun(text="Ran it.", code="print('<script>alert(1)</script>')",
                                       code_output="<img src=x onerror=alert(1)>\n"))
    out = run(ip, "%%grok --run-code\nRun something")
    html = out.html()
    assert "<script>" not in html and "<img" not in html
    assert "print(" in out.shown() and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Output<img src=x onerror=alert(1)>" in out.shown()  # printed text, shown as text
    (ran,) = [o["text/html"] for o in out.outputs if "grok-code-ran" in o.get("text/html", "")]
    # our own folding (a <details> with a text-only summary) around what the renderer made
    inner, folds = re.subn(r"<details class='grok-code-ran'><summary>[^<>]*</summary>", "<div>", ran)
    assert folds == 1 and html_findings(inner.replace("</details>", "</div>")) == [], ran


def test_hostile_citations_are_text_or_dropped(ip, xai_env):
    enqueue_responses(xai_env, ToolRun(text="See the sources.", searches=[("web", "q")], citations=[
        {"url": "javascript:alert(1)", "title": "click"},
        {"url": "data:text/html,<script>alert(1)</script>", "title": "data"},
        {"url": "https://ok.example/a b)(<x>", "title": "<img src=x onerror=alert(1)> **bold**"},
        {"url": "//no-scheme.example/x", "title": "relative"},
    ]))
    out = run(ip, "%%grok --search web\nq")
    assert out.error is None, out.everything()
    html = out.html()
    assert findings(out) == []
    assert "javascript:" not in html and "data:text/html" not in html and "no-scheme" not in html
    assert "<img" not in html
    assert "<img src=x onerror=alert(1)> **bold**" in out.shown()  # the title, as text
    assert "href=\"https://ok.example/a%20b%29%28%3Cx%3E\"" in html
    assert len(source_links(ip.user_ns["_grok"].citations)) == 1


def test_api_responses_by_config_and_one_history_across_both_apis(ip, xai_env):
    ip.run_line_magic("config", 'GrokMagics.api = "chat"')
    run(ip, "%%grok\nMy name is Ada.")
    ip.run_line_magic("config", 'GrokMagics.api = "responses"')
    out = run(ip, "%%grok -s 'Be brief.'\nWhat is my name?")
    assert out.error is None, out.everything()
    body = bodies(xai_env)[-1]
    assert [i["role"] for i in body["input"]] == ["system", "user", "assistant", "user"]
    assert body["input"][1]["content"] == [{"type": "input_text", "text": "My name is Ada."}]
    assert "tools" not in body
    ip.run_line_magic("config", 'GrokMagics.api = "chat"')
    run(ip, "%%grok --search x:@xai\nAnd what did xAI post?")  # tools: Responses whatever the api
    assert bodies(xai_env)[-1]["tools"] == [{"type": "x_search", "allowed_x_handles": ["xai"]}]
    run(ip, "%%grok\nThanks.")
    messages = bodies(xai_env, "/v1/chat/completions")[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3 + ["user"]
    assert all("tool_calls" not in m for m in messages)  # xAI's own tool calls stay out


def test_store_continues_from_the_previous_response(ip, xai_env):
    ip.run_line_magic("config", 'GrokMagics.api = "responses"')
    ip.run_line_magic("config", "GrokMagics.store = True")
    run(ip, "%%grok\nOne.")
    first = ip.user_ns["_grok"]
    out = run(ip, "%%grok\nTwo.")
    assert out.error is None, out.everything()
    one, two = bodies(xai_env)[-2:]
    assert one["store"] is True and "previous_response_id" not in one
    assert two["previous_response_id"] == first.id
    assert [i["role"] for i in two["input"]] == ["user"]  # xAI holds the rest
    run(ip, "%%grok -n\nThree.")
    assert "previous_response_id" not in bodies(xai_env)[-1]


def test_dry_run_shows_the_responses_body_and_curl(ip, xai_env, monkeypatch, tmp_path):
    monkeypatch.delenv("XAI_API_KEY")
    from PIL import Image

    Image.new("RGB", (8, 6), (255, 0, 0)).save(tmp_path / "pic.png")
    out = run(ip, "%%grok --dry-run --search web --run-code --json --max-tokens 50 "
                  "--detail high -i pic.png -s 'Terse.'\nSummarise")
    assert out.error is None, out.everything()
    assert bodies(xai_env) == []
    plain = out.plain()
    assert f"curl {xai_env.base_url}/responses" in plain
    body = json.loads(plain.split("\n", 1)[1].split("\n\ncurl")[0])
    assert body["tools"] == [{"type": "web_search"}, {"type": "code_interpreter"}]
    assert body["text"] == {"format": {"type": "json_object"}}
    assert body["max_output_tokens"] == 50 and body["store"] is False
    assert body["input"][0] == {"role": "system", "content": "Terse."}
    image = body["input"][1]["content"][1]
    assert image["type"] == "input_image" and image["detail"] == "high"


def test_schema_and_reasoning_effort_map_to_the_responses_body(ip, xai_env):
    ip.user_ns["shape"] = {"type": "object", "properties": {"n": {"type": "integer"}}}
    out = run(ip, "%%grok --dry-run --search web --schema shape --reasoning-effort low\nCount")
    body = json.loads(out.plain().split("\n", 1)[1].split("\n\ncurl")[0])
    assert body["text"]["format"]["type"] == "json_schema"
    assert body["text"]["format"]["schema"] == ip.user_ns["shape"]
    assert body["reasoning"] == {"effort": "low"}


@pytest.mark.parametrize("run_, words", [
    (ToolRun(text="Half of the answer", end="failed"), "the answer failed (server_error)"),
    (ToolRun(text="Half of the answer", end="incomplete"), "max_output_tokens"),
    (ToolRun(text="Half of the answer", end="error", error_code="rate_limit_exceeded",
             error_message="slow down"), "slow down"),
])
def test_failures_are_one_paragraph_and_keep_the_partial_text(ip, xai_env, run_, words):
    enqueue_responses(xai_env, run_)
    out = run(ip, "%%grok --search web\nq")
    assert out.error is not None
    paragraph = out.error.paragraph()
    assert words in paragraph and "\n" not in paragraph
    assert out.shown().count(paragraph) == 1  # in the answer area, under the partial text
    assert "Half of the answer" in out.shown()
    grok = ip.user_ns["_grok"]
    assert grok.partial and grok.text == "Half of the answer"


def test_a_410_says_live_search_is_retired(ip, xai_env):
    enqueue_responses(xai_env, Fault(410, {"code": "Gone", "error": "Live search is deprecated."}))
    out = run(ip, "%%grok --search web\nq")
    assert LIVE_SEARCH_HINT in out.error.paragraph() and LIVE_SEARCH_HINT in out.shown()


def test_responses_exchanges_are_recorded_and_replay_with_their_sources(ip, xai_env, tmp_path):
    run(ip, "%%grok --search web\nWhat is new in astronomy?")
    ip.run_line_magic("config", 'GrokMagics.replay = "auto"')
    out = run(ip, "%%grok -n --search web\nWhat is new in astronomy?")
    assert out.error is None, out.everything()
    assert len(bodies(xai_env)) == 1  # answered from the ledger
    grok = ip.user_ns["_grok"]
    assert grok.replayed and grok.citations and "Sources" in out.shown()
    assert grok.usage.tool_calls_by_kind == {"web_search": 1}
    ledger = Ledger(ip.grok_magics.recorder.ledger.path, readonly=True)
    entries = ledger.last(5)
    assert [(e.api, e.endpoint) for e in entries] == [("responses", "/responses")], entries
    ledger.close()


def test_the_panels_search_toggle_lets_grok_search(xai_env):
    from grok_magic.conversation import Conversation
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.notebook.panel import ChatPanel
    from grok_magic.settings import Settings
    from grok_magic.xai.client import GrokClient

    panel = ChatPanel(client=GrokClient(Settings.load()), models=["grok-4"],
                      conversation=Conversation(recorder=Recorder(None)))
    panel.send("Plain question")  # the Responses API by default, with no tools
    assert "tools" not in bodies(xai_env)[-1]
    panel.search_toggle.value = True
    response = panel.send("What happened today?")
    tools = [t["type"] for t in bodies(xai_env)[-1]["tools"]]
    assert tools == ["web_search", "x_search"]
    assert response.citations
    answer = panel.transcript.children[-1]
    sources = [w for w in answer.children[-1].children if "grok-sources" in w._dom_classes]
    html = sources[0].outputs[0]["data"]["text/html"]
    assert "Sources" in html and html_findings(html) == []
    # the earlier turn, its reasoning carried (encrypted), then the new question
    sent = bodies(xai_env)[-1]["input"]
    assert [m.get("role") or m["type"] for m in sent] == ["user", "reasoning", "assistant", "user"]


def test_recorded_x_search_sources_are_told_apart_and_the_counts_add_up(ip, xai_env):
    """Real recorded traffic: twenty X posts cited by URL alone, six tool calls of two kinds,
    and xAI's billing details counting one X search."""
    enqueue_responses(xai_env, Replay("xai-x-search-tool"))
    out = run(ip, "%%grok --search x\nWhat are the latest videos and images from xAI?")
    assert out.error is None, out.everything()
    plain = out.plain()
    listed = re.findall(r"^\d+\. [^\n]* <https://[^\n]*>$", plain.split("Sources:")[-1], re.M)
    assert len(listed) == 20, plain
    # each X post is named by the day it was posted (read from its id), never just "x.com"
    assert listed[0] == "1. X post of 2025-11-17 <https://x.com/i/status/1990530503129391571>"
    assert not any(line.split(" <")[0].endswith("x.com") for line in listed)
    # the kinds add up to the total; what xAI billed is said apart
    assert "tool calls: 6 (web search 4, x search 2)" in plain, plain
    assert "billed by xAI as: x search 1" in plain, plain
    assert findings(out) == []
