"""Today's xAI by default (issue 21): the Responses API with store=false, grok-4.3, reasoning carried
encrypted, one prompt-cache key per conversation and per --each run, replay across both APIs —
through the magic, the real client and SSE parser, to the stand-in. Chat completions stay tested
in the other files (and here, side by side)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from grok_magic.ask import CONVERSATION_HEADER
from grok_magic.model_names import DEFAULT_MODEL
from tests.support.magic_helpers import magic_shell, run, wait_until
from tests.support.standin_batches import batch_state
from tests.support.xai_standin import FAKE_KEY

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def ip(xai_env):
    return magic_shell(max_retries=0)


def sent(srv, path: str = "/v1/responses") -> list:
    return [r for r in srv.requests if r.path.split("?")[0] == path and r.method == "POST"]


def roles(body: dict) -> list[str]:
    return [item.get("role") or item.get("type") for item in body["input"]]


# -- the default ---------------------------------------------------------------------------------
def test_a_cell_goes_to_the_responses_api_with_grok_4_3_and_stores_nothing(ip, xai_env):
    out = run(ip, "%%grok\nSay hi")
    assert out.error is None, out.everything()
    [request] = sent(xai_env)
    body = request.json
    assert body["model"] == DEFAULT_MODEL == "grok-4.3"
    assert body["store"] is False and body["stream"] is True
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["prompt_cache_key"].startswith("grok-magic-")
    assert sent(xai_env, "/v1/chat/completions") == []
    assert "Stand-in answer" in out.shown()
    assert ip.user_ns["_grok"].model == "grok-4.3" and ip.user_ns["_grok"].usage.prompt_tokens > 0


def test_store_true_is_sent_only_when_the_user_sets_it(ip, xai_env):
    run(ip, "%config GrokMagics.store = True")
    run(ip, "%%grok\nOne")
    run(ip, "%%grok\nTwo")
    first, second = (r.json for r in sent(xai_env))
    assert first["store"] is True and "include" not in first
    assert second["previous_response_id"] and roles(second) == ["user"]


def test_reasoning_comes_back_encrypted_and_goes_with_the_next_turn(ip, xai_env):
    run(ip, "%%grok -s 'Be brief.'\nWhy is the sky blue?")
    first = ip.user_ns["_grok"]
    assert first.reasoning and first.reasoning_items
    encrypted = first.reasoning_items[0]["encrypted_content"]
    assert encrypted not in run(ip, "%grok history").everything()  # opaque: never shown
    out = run(ip, "%%grok -s 'Be brief.'\nAnd sunsets?")
    assert out.error is None, out.everything()
    body = sent(xai_env)[-1].json
    assert roles(body) == ["system", "user", "reasoning", "assistant", "user"]
    carried = body["input"][2]
    assert carried["encrypted_content"] == encrypted and carried["id"].startswith("rs_")
    assert body["input"][3]["content"] == first.text


def test_one_cache_key_per_conversation_new_after_new_and_reset(ip, xai_env):
    for source in ("%%grok\nOne", "%%grok\nTwo", "%%grok --new\nThree", "%%grok\nFour"):
        assert run(ip, source).error is None
    run(ip, "%grok reset")
    run(ip, "%%grok\nFive")
    keys = [r.json["prompt_cache_key"] for r in sent(xai_env)]
    assert keys[0] == keys[1] != keys[2] == keys[3] != keys[4]


def test_the_prefix_stays_put_so_the_second_turn_is_mostly_cached(ip, xai_env):
    description = "A table of 400 sales rows: " + "city, month, sales, returns; " * 150
    ip.user_ns["notes"] = description
    run(ip, "%%grok -s 'You are a data analyst.'\nHere is my data: {notes}. What stands out?")
    cold = ip.user_ns["_grok"].usage
    run(ip, "%%grok -s 'You are a data analyst.'\nWhich city next?")
    warm = ip.user_ns["_grok"].usage
    assert cold.cached_tokens == 0
    assert warm.cached_tokens > 0.9 * cold.prompt_tokens
    assert warm.cost_in_usd_ticks < warm.prompt_tokens * 12500  # cheaper than all at list price


def test_cache_false_sends_no_key_on_either_api(ip, xai_env):
    run(ip, "%config GrokMagics.cache = False")
    run(ip, "%%grok\nOne")
    run(ip, "%config GrokMagics.api = 'chat'")
    run(ip, "%%grok\nTwo")
    assert "prompt_cache_key" not in sent(xai_env)[-1].json
    [chat] = sent(xai_env, "/v1/chat/completions")
    assert CONVERSATION_HEADER not in {k.lower() for k in chat.headers}


def test_chat_completions_carry_the_key_as_x_grok_conv_id(ip, xai_env):
    run(ip, "%config GrokMagics.api = 'chat'")
    run(ip, "%config GrokMagics.system = 'You answer questions about a long table. ' * 40")
    run(ip, "%%grok\nOne")
    run(ip, "%%grok\nTwo")
    first, second = sent(xai_env, "/v1/chat/completions")
    header = {k.lower(): v for k, v in first.headers.items()}[CONVERSATION_HEADER]
    assert header == {k.lower(): v for k, v in second.headers.items()}[CONVERSATION_HEADER]
    assert header.startswith("grok-magic-")
    assert "reasoning_items" not in json.dumps(second.json)  # Responses-only, never on chat
    assert ip.user_ns["_grok"].usage.cached_tokens > 0


def test_images_and_schema_work_on_the_default(ip, xai_env):
    from PIL import Image

    ip.user_ns["photo"] = Image.new("RGB", (32, 24), (200, 30, 30))
    ip.user_ns["schema"] = {"type": "object", "properties": {"colour": {"type": "string"}},
                            "required": ["colour"]}
    out = run(ip, "%%grok --schema schema -o seen\nWhat colour is {photo}?")
    assert out.error is None, out.everything()
    body = sent(xai_env)[-1].json
    parts = body["input"][-1]["content"]
    assert [p["type"] for p in parts] == ["input_text", "input_image", "input_text"]
    assert parts[1]["image_url"].startswith("data:image/")
    assert body["text"]["format"]["type"] == "json_schema"
    assert isinstance(ip.user_ns["seen"], dict) and "colour" in ip.user_ns["seen"]


def test_a_retired_name_is_said_once_per_kernel_under_the_answer(ip, xai_env):
    first = run(ip, "%%grok -m grok-4\nOne")
    assert "grok-4 is served as grok-4.3 (xAI retired grok-4 on 2026-05-15)" in first.shown()
    assert ip.user_ns["_grok"].model == "grok-4.3"
    second = run(ip, "%%grok -m grok-4\nTwo")
    assert "served as" not in second.shown()
    assert "served as" not in run(ip, "%%grok\nThree").shown()  # asked grok-4.3, got it


def test_a_dry_run_shows_the_responses_body_and_curl_without_the_key(ip, xai_env):
    out = run(ip, "%%grok --dry-run\nHello")
    assert out.error is None and sent(xai_env) == []
    text = out.everything()
    assert "/v1/responses" in text and '"prompt_cache_key"' in text and '"store": false' in text
    assert FAKE_KEY not in text


# -- one ledger, both APIs -----------------------------------------------------------------------
def test_an_answer_recorded_on_one_api_replays_on_the_other(ledger_shell, xai_env):
    ip = ledger_shell
    run(ip, "%config GrokMagics.api = 'chat'")
    run(ip, "%%grok -s 'Be terse.'\nName a prime.")
    asked = ip.user_ns["_grok"].text
    run(ip, "%%grok -s 'Be terse.'\nAnd another?")
    run(ip, "%grok reset")
    run(ip, "%config GrokMagics.api = 'responses'")
    run(ip, '%config GrokMagics.replay = "only"')
    before = len(xai_env.requests)
    first = run(ip, "%%grok -s 'Be terse.'\nName a prime.")
    assert first.error is None, first.everything()
    assert ip.user_ns["_grok"].replayed and ip.user_ns["_grok"].text == asked
    second = run(ip, "%%grok -s 'Be terse.'\nAnd another?")  # the history matches too
    assert second.error is None, second.everything()
    assert len(xai_env.requests) == before


def test_a_ledger_of_schema_3_has_its_responses_rows_rehashed(tmp_path, xai_env, monkeypatch):
    from grok_magic.ledger.canonical import Canonical
    from grok_magic.ledger.schema import MIGRATIONS
    from grok_magic.ledger.store import Ledger

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    path.chmod(0o600)
    for step in MIGRATIONS[:3]:
        conn.executescript(step)
    body = {"model": "grok-4.3", "store": False, "prompt_cache_key": "k", "stream": True,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]}
    text = Canonical.of(body).text
    conn.execute("INSERT INTO exchanges (time, session, source, api, endpoint, request_hash, "
                 "request, answer, status) VALUES ('2026-11-01T00:00:00.000Z', 's', 'cell', "
                 "'responses', '/responses', 'old-hash', ?, 'Hello.', 'ok')", (text,))
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    chat = Canonical.of({"model": "grok-4.3", "messages": [{"role": "user", "content": "Hi"}]})
    ledger = Ledger(path)
    try:
        assert ledger.find_answer(chat.hash).answer == "Hello."
    finally:
        ledger.close()


# -- runs, batches and the panel ------------------------------------------------------------------
def test_each_uses_the_default_api_with_one_key_for_the_run(ip, xai_env):
    ip.user_ns["reviews"] = ["great", "awful", "fine", "late"]
    run(ip, "%%grok\nHello")
    out = run(ip, "%%grok --each reviews -o labels -s 'Label it.'\nLabel: {item}")
    assert out.error is None, out.everything()
    requests = sent(xai_env)
    conversation_key = requests[0].json["prompt_cache_key"]
    keys = {r.json["prompt_cache_key"] for r in requests[1:]}
    assert len(requests) == 5 and len(keys) == 1 and conversation_key not in keys
    assert all("include" not in r.json for r in requests[1:])  # no history: nothing to carry
    assert list(ip.user_ns["labels"]["answer"].str.contains("Stand-in answer")) == [True] * 4
    assert sum(r.json["input"][1]["content"][0]["text"].startswith("Label: ") for r in requests[1:]) == 4


def test_batch_api_lines_go_to_the_responses_endpoint(ip, xai_env):
    ip.user_ns["reviews"] = ["great", "awful", "fine"]
    out = run(ip, "%%grok --each reviews --batch-api -o job\nLabel: {item}")
    assert out.error is None, out.everything()
    [data] = batch_state(xai_env).files.values()
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert [line["url"] for line in lines] == ["/v1/responses"] * 3
    assert all(line["body"]["store"] is False for line in lines)
    table = ip.user_ns["job"].wait(timeout=20)
    assert list(table["answer"].str.contains("Stand-in answer")) == [True] * 3


def test_the_panel_uses_the_magics_api_and_conversation_key(ip, xai_env):
    run(ip, "%%grok\nFirst, in a cell")
    assert run(ip, "%grok chat").error is None
    panel = ip.user_ns["_grok_panel"]
    panel.send("Then in the panel")
    wait_until(lambda: len(sent(xai_env)) == 2)
    cell, in_panel = (r.json for r in sent(xai_env))
    assert in_panel["prompt_cache_key"] == cell["prompt_cache_key"]
    assert roles(in_panel)[-1] == "user" and len(in_panel["input"]) >= 3


def test_a_chat_dry_run_shows_the_conversation_key_header_in_curl(ip, xai_env):
    run(ip, "%config GrokMagics.api = 'chat'")
    text = run(ip, "%%grok --dry-run\nHello").plain()
    assert f"curl {xai_env.base_url}/chat/completions" in text
    assert "-H 'x-grok-conv-id: grok-magic-" in text and "prompt_cache_key" not in text


def test_a_dry_run_shows_carried_reasoning_by_its_size_only(ip, xai_env):
    run(ip, "%%grok\nWhy is the sky blue?")
    encrypted = ip.user_ns["_grok"].reasoning_items[0]["encrypted_content"]
    out = run(ip, "%%grok --dry-run -o body\nAnd sunsets?")
    assert f"…({len(encrypted):,} characters, encrypted)" in out.plain()
    assert encrypted not in out.everything()
    [carried] = [i for i in ip.user_ns["body"]["input"] if i.get("type") == "reasoning"]
    assert carried["encrypted_content"] == encrypted  # -o VAR holds the body as it would be sent


def test_past_max_history_the_window_moves_in_steps_so_the_prefix_stays_cached(ip, xai_env):
    run(ip, "%config GrokMagics.max_history = 4")
    for n in range(1, 10):
        assert run(ip, f"%%grok\nQuestion {n}, about the same long table of sales figures.").error is None
    firsts, counts = [], []
    for request in sent(xai_env):
        users = [m["content"] for m in request.as_chat["messages"] if m["role"] == "user"]
        firsts.append(users[0].split(",")[0])
        counts.append(len(users) - 1)  # earlier exchanges sent with the new question
    assert counts == [0, 1, 2, 3, 4, 3, 4, 3, 4]  # never more than max_history
    # The first turn sent stays the same two turns running (half of max_history at a time).
    assert firsts == ["Question 1"] * 5 + ["Question 3"] * 2 + ["Question 5"] * 2
    assert ip.user_ns["_grok"].usage.cached_tokens > 0


def test_the_panel_says_served_as_once_too_sharing_the_kernels_notes(ip, xai_env):
    run(ip, '%config GrokMagics.model = "grok-4"')
    assert "grok-4 is served as grok-4.3" in run(ip, "%%grok\nIn a cell").shown()
    assert run(ip, "%grok chat").error is None
    panel = ip.user_ns["_grok_panel"]
    assert panel.send("In the panel").model == "grok-4.3"
    assert "served as" not in panel_text(panel)  # the cell said it already
    from grok_magic.notebook.panel import ChatPanel

    fresh = ChatPanel(model="grok-4-0709", client=ip.grok_magics.client())
    fresh.send("A panel of its own")
    assert "grok-4-0709 is served as grok-4.3 (xAI retired grok-4-0709 on 2026-05-15)" in (
        panel_text(fresh))


def panel_text(panel) -> str:
    """The last answer of the panel as shown, with the note under it."""
    from tests.support.magic_helpers import visible_text
    from tests.support.panel_views import answer_of, shown_text

    return shown_text(panel) + "\n" + visible_text(answer_of(panel).note.value)


def test_the_ledger_keeps_carried_reasoning_by_digest_not_its_bytes(ledger_shell, xai_env):
    ip = ledger_shell
    run(ip, "%%grok\nWhy is the sky blue?")
    encrypted = ip.user_ns["_grok"].reasoning_items[0]["encrypted_content"]
    run(ip, "%%grok\nAnd sunsets?")
    ledger = ip.grok_magics.recorder.ledger
    rows = ledger.entries()
    assert len(rows) == 2
    assert all(encrypted not in row.request for row in rows)
    assert '"encrypted_content":{"bytes":' in rows[-1].request.replace(" ", "")
