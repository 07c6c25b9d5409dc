"""Prices: the built-in table and its long-context tier, xAI's price list kept a day beside the
ledger (written privately, reused, refreshed, used stale when the fetch fails), where a cost comes
from as the usage widget says it, what prompt caching saved, and `%grok models`' marks. Through
the real magics and client to the stand-in where a user would see it."""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from grok_magic.errors import APIConnectionError
from grok_magic.notebook.display import cache_text, cost_text, usage_rows
from grok_magic.notebook.reports import ledger_usage_report, models_report
from grok_magic.safety.redaction import Secret
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient, ModelInfo
from grok_magic.xai.price_list import (
    MAX_AGE,
    PRICE_FILE,
    PriceBook,
    PriceList,
    known_prices,
    price_file,
    read,
)
from grok_magic.xai.pricing import (
    BUILTIN_SOURCE,
    EXACT_SOURCE,
    FALLBACK_PRICES,
    LONG_CONTEXT_TOKENS,
    Price,
    fallback_price,
    image_price,
    price_from_language_model,
    video_price,
)
from grok_magic.xai.response import Response, Totals, Usage
from tests.support.magic_helpers import close_ledger, magic_shell, run
from tests.support.xai_standin import FAKE_KEY, Reply, resolve_model

TODAY = f"xAI's price list of {date.today().isoformat()}"


def listed_price(model: str) -> Price:
    """What the stand-in's /v1/language-models says `model` costs (USD per 1M tokens)."""
    m = resolve_model(model)
    return Price(m.prompt_price / 10_000, m.cached_price / 10_000, m.completion_price / 10_000)


def no_ticks(prompt: int, completion: int, cached: int = 0) -> dict:
    """A chat `usage` without xAI's cost figure (the answer must be priced from a list)."""
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": 0}}


def language_model_requests(srv) -> int:
    return sum(r.path.split("?")[0] == "/v1/language-models" for r in srv.requests)


def usage_line(outcome) -> str:
    (line,) = [o["text/plain"] for o in outcome.outputs
               if o.get("text/plain", "").startswith("tokens · ")]
    return line


@pytest.fixture
def shell(xai_env, ledger_path):
    ip = magic_shell(max_retries=0)
    yield ip
    close_ledger(ip)


def file_beside(ledger_path: Path) -> Path:
    return ledger_path.parent / PRICE_FILE


def age_file(path: Path, seconds: float, **prices) -> None:
    """Make the price file `seconds` old (and give its models these prices)."""
    data = json.loads(path.read_text())
    data["fetched"] = time.time() - seconds
    for model in data["models"]:
        model.update(prices)
    path.write_text(json.dumps(data))


# -- the built-in table ------------------------------------------------------------------------
def test_the_built_in_table_is_todays_with_its_long_context_tier():
    expected = {
        "grok-4.3": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
        "grok-4.20-0309-reasoning": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
        "grok-4.20-0309-non-reasoning": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
        "grok-4.20-multi-agent-0309": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
        "grok-4.20-reasoning": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
        "grok-4.7": (2.00, 0.50, 6.00, 4.00, 1.00, 12.00),
        "grok-4.6": (2.00, 0.50, 6.00, 4.00, 1.00, 12.00),
        "grok-4.5": (2.00, 0.30, 6.00, 4.00, 0.60, 12.00),
        "grok-build-0.1": (1.00, 0.20, 2.00, 2.00, 0.40, 4.00),
        "grok-3-mini": (0.30, 0.075, 0.50, 0.60, 0.15, 1.00),
        "grok-3-mini-high": (0.30, 0.075, 0.50, 0.60, 0.15, 1.00),
        "grok-4.3-latest": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
    }
    for model, prices in expected.items():
        p = fallback_price(model)
        assert (p.input, p.cached_input, p.output, p.long_input, p.long_cached_input,
                p.long_output) == pytest.approx(prices), model
    assert BUILTIN_SOURCE == "built-in prices of 2026-12"
    assert "grok-4" not in FALLBACK_PRICES  # a retired name: billed as what xAI serves it as


@pytest.mark.parametrize("retired", ["grok-4", "grok-4-0709", "grok-4-latest", "grok-3",
                                     "grok-4-fast-reasoning", "grok-4-1-fast-non-reasoning",
                                     "grok-code-fast-1"])
def test_retired_names_are_billed_at_grok_4_3s_prices(retired):
    assert fallback_price(retired) == fallback_price("grok-4.3")


def test_image_and_video_prices():
    assert image_price("grok-imagine-image") == 0.02
    assert 0.02 <= image_price("grok-imagine-image-2.0") <= 0.08
    assert 0.02 <= image_price("grok-imagine-image-quality") <= 0.08
    assert video_price("grok-imagine-video") == 0.05
    assert image_price("grok-4.3") is None and image_price(None) is None
    assert video_price("grok-imagine-image") is None


# -- the long-context tier ---------------------------------------------------------------------
def test_a_long_prompt_bills_every_token_at_the_long_context_rate():
    price = Price(1.25, 0.20, 2.50)  # long tier not given: 2x
    short = Usage(prompt_tokens=LONG_CONTEXT_TOKENS - 1, cached_tokens=1000, completion_tokens=500,
                  reasoning_tokens=500)
    long = Usage(prompt_tokens=LONG_CONTEXT_TOKENS, cached_tokens=1000, completion_tokens=500,
                 reasoning_tokens=500)
    assert short.cost(price) == pytest.approx(
        ((LONG_CONTEXT_TOKENS - 1 - 1000) * 1.25 + 1000 * 0.20 + 1000 * 2.50) / 1e6)
    assert long.cost(price) == pytest.approx(
        ((LONG_CONTEXT_TOKENS - 1000) * 2.50 + 1000 * 0.40 + 1000 * 5.00) / 1e6)
    # A tier of its own (grok-4.7: 4 / 1 / 12), not 2x of everything.
    own = Price(2.0, 0.5, 6.0, long_input=4.0, long_cached_input=1.0, long_output=12.0)
    assert long.cost(own) == pytest.approx(((LONG_CONTEXT_TOKENS - 1000) * 4 + 1000 * 1
                                            + 1000 * 12) / 1e6)
    assert Price(1.0, 0.1, 2.0, image_input=0.5).tier(LONG_CONTEXT_TOKENS).image_input == 1.0


def test_the_long_tier_matches_what_the_stand_in_bills():
    from tests.support.xai_standin import cost_ticks

    m = resolve_model("grok-4.3")
    for prompt in (LONG_CONTEXT_TOKENS - 1, LONG_CONTEXT_TOKENS, 600_000):
        usage = Usage(prompt_tokens=prompt, cached_tokens=50_000, completion_tokens=700,
                      reasoning_tokens=300)
        assert usage.cost(listed_price("grok-4.3")) == pytest.approx(
            cost_ticks(m, prompt, 50_000, 1000) / 1e10)


def test_a_long_prompt_is_priced_at_the_long_rate_in_the_widget(shell, xai_env):
    xai_env.enqueue(Reply("ok", usage=no_ticks(250_000, 1000)))
    line = usage_line(run(shell, "%%grok\nA question with a long document"))
    p = listed_price("grok-4.3")
    cost = (250_000 * p.input * 2 + 1000 * p.output * 2) / 1e6
    assert f"cost: ≈ ${cost:.4f} (estimated from {TODAY})" in line, line


# -- xAI's price list: parsed defensively -----------------------------------------------------
def test_long_context_prices_in_the_listing_are_read_under_any_likely_name():
    base = {"prompt_text_token_price": 20000, "cached_prompt_text_token_price": 5000,
            "completion_text_token_price": 60000}
    assert price_from_language_model(base).long_output == pytest.approx(12.0)  # none: 2x
    for extra in (
        {"long_context_prompt_text_token_price": 30000,
         "long_context_cached_prompt_text_token_price": 7000,
         "long_context_completion_text_token_price": 90000},
        {"prompt_text_token_price_long_context": 30000,
         "cached_prompt_text_token_price_long_context": 7000,
         "completion_text_token_price_long_context": 90000},
        {"long_context": {"prompt_text_token_price": 30000, "cached_prompt_text_token_price": 7000,
                          "completion_text_token_price": 90000}},
    ):
        p = price_from_language_model({**base, **extra})
        assert (p.long_input, p.long_cached_input, p.long_output) == pytest.approx((3.0, 0.7, 9.0))
        assert (p.input, p.cached_input, p.output) == pytest.approx((2.0, 0.5, 6.0))
    odd = price_from_language_model({**base, "long_context_prompt_text_token_price": "lots",
                                     "completion_text_token_price": True})
    assert odd.long_input == pytest.approx(4.0) and odd.output == 0.0
    assert price_from_language_model({"prompt_text_token_price": "12"}) is None
    nocache = price_from_language_model({"prompt_text_token_price": 20000})
    assert nocache.cached_input == nocache.input  # no cached price listed: no discount assumed


# -- the price file beside the ledger ----------------------------------------------------------
class Listing:
    """A fake `/v1/language-models` for a PriceBook: counts its calls, may fail."""

    def __init__(self, input_price: float = 1.0, fail: bool = False) -> None:
        self.calls, self.fail, self.input_price = 0, fail, input_price

    def __call__(self):
        self.calls += 1
        if self.fail:
            return []
        data = {"id": "grok-test", "aliases": ["grok-test-latest"],
                "prompt_text_token_price": int(self.input_price * 10_000),
                "cached_prompt_text_token_price": 2000, "completion_text_token_price": 30000}
        return [ModelInfo.from_language_model(data)]


def test_the_price_file_is_private_atomic_and_reused_for_a_day(tmp_path):
    ledger = tmp_path / "new" / "folder" / "ledger.sqlite"
    now = [1_800_000_000.0]
    listing = Listing(1.5)
    book = PriceBook(listing, clock=lambda: now[0])
    book.beside(ledger)
    price, source = book.lookup("grok-test-latest")
    assert price.input == 1.5 and source == PriceList(now[0], {}).source
    path = price_file(ledger)
    assert path == ledger.parent / PRICE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [PRICE_FILE]  # no temporary file left
    data = json.loads(path.read_text())
    assert data["fetched"] == now[0] and data["models"][0]["id"] == "grok-test"
    # Another kernel (a new book) within the day: the file, and no fetch.
    again = Listing(9.9)
    other = PriceBook(again, clock=lambda: now[0] + MAX_AGE - 60)
    other.beside(ledger)
    assert other.get("grok-test").input == 1.5 and again.calls == 0
    # A day later: fetched again, and written.
    now[0] += MAX_AGE + 1
    listing.input_price = 2.5
    assert book.get("grok-test").input == 2.5 and listing.calls == 2
    assert read(path).prices["grok-test"].input == 2.5


def test_a_stale_file_is_used_when_the_fetch_fails_and_the_fetch_is_not_retried_at_once(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    seed = PriceBook(Listing(1.5), clock=lambda: 1_800_000_000.0)
    seed.beside(ledger)
    assert seed.get("grok-test") is not None
    failing = Listing(fail=True)
    now = [1_800_000_000.0 + 3 * MAX_AGE]
    book = PriceBook(failing, clock=lambda: now[0])
    book.beside(ledger)
    price, source = book.lookup("grok-test")
    assert price.input == 1.5 and source == PriceList(1_800_000_000.0, {}).source
    assert book.get("grok-test") is not None and failing.calls == 1  # not on every answer
    now[0] += 3600
    book.get("grok-test")
    assert failing.calls == 2


def test_no_file_and_no_fetch_means_no_live_price(tmp_path):
    book = PriceBook(Listing(fail=True), clock=lambda: 1_800_000_000.0)
    book.beside(tmp_path / "ledger.sqlite")
    assert book.lookup("grok-test") is None
    assert not (tmp_path / PRICE_FILE).exists()
    offline = PriceBook(lambda: (_ for _ in ()).throw(OSError("offline")))  # never raises
    offline.beside(None)
    assert offline.get("grok-4.3") is None


def test_with_the_ledger_off_the_list_stays_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listing = Listing(1.5)
    book = PriceBook(listing)
    book.beside(None)
    assert book.get("grok-test").input == 1.5 and book.get("grok-test").input == 1.5
    assert listing.calls == 1 and list(tmp_path.rglob(PRICE_FILE)) == []


def test_a_damaged_or_foreign_price_file_is_ignored(tmp_path):
    path = tmp_path / PRICE_FILE
    for text in ("not json", "[]", '{"format": 1, "fetched": "yesterday", "models": []}',
                 '{"format": 99, "fetched": 1, "models": []}',
                 '{"format": 1, "fetched": 1, "models": [{"id": 3}, {"id": "x", "input": "1"}]}'):
        path.write_text(text)
        assert read(path) is None, text
    assert read(tmp_path / "missing.json") is None


def test_the_key_never_reaches_the_price_file(tmp_path):
    Secret(FAKE_KEY)  # a key in use: registered, so every redaction masks it
    data = {"id": f"grok-{FAKE_KEY}", "aliases": [FAKE_KEY, "ok"],
            "prompt_text_token_price": 10000, "completion_text_token_price": 20000}
    book = PriceBook(lambda: [ModelInfo.from_language_model(data)])
    book.beside(tmp_path / "ledger.sqlite")
    assert book.current() is not None
    text = (tmp_path / PRICE_FILE).read_text()
    assert FAKE_KEY not in text and "ok" in text


# -- through the magics: the list beside the ledger, and the widget's words -------------------
def test_an_exact_cost_says_it_is_xais_own(shell, xai_env):
    outcome = run(shell, "%%grok\nHello")
    grok = shell.user_ns["_grok"]
    line = usage_line(outcome)
    assert f"cost: ${grok.cost:.6f} (exact, from xAI) ·" in line, line
    assert grok.cost_source == EXACT_SOURCE
    assert language_model_requests(xai_env) == 0  # an exact cost needs no price list
    assert FAKE_KEY not in outcome.everything()


def test_a_cost_priced_from_xais_list_says_which_and_the_list_is_kept_a_day(
        xai_env, tmp_path, monkeypatch):
    ledger = tmp_path / "private" / "ledger.sqlite"
    monkeypatch.setenv("GROK_LEDGER", str(ledger))
    ip = magic_shell(max_retries=0)
    try:
        xai_env.enqueue(Reply("one", usage=no_ticks(1000, 100)))
        first = run(ip, "%%grok\nFirst")
        p = listed_price("grok-4.3")
        cost = (1000 * p.input + 100 * p.output) / 1e6
        assert f"cost: ≈ ${cost:.6f} (estimated from {TODAY}) ·" in usage_line(first)
        assert ip.user_ns["_grok"].price_source == TODAY
        path = file_beside(ledger)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        text = path.read_text()
        assert FAKE_KEY not in text and json.loads(text)["models"][0]["id"] == "grok-4.3"
        xai_env.enqueue(Reply("two", usage=no_ticks(1000, 100)))
        run(ip, "%%grok\nSecond")
        assert language_model_requests(xai_env) == 1
    finally:
        close_ledger(ip)
    # A new kernel's magics (a new client) within the day: the file, no second request.
    ip = magic_shell(max_retries=0)
    try:
        xai_env.enqueue(Reply("three", usage=no_ticks(1000, 100)))
        third = run(ip, "%%grok\nThird")
        assert f"(estimated from {TODAY})" in usage_line(third)
        assert language_model_requests(xai_env) == 1
        # The session row: xAI's tokens, and a cost priced from a list, so marked ≈.
        session = usage_line(third).split("session: ")[1]
        assert session.startswith("1,") and ", ≈ $" in session, session
        assert FAKE_KEY not in first.everything() + third.everything()
    finally:
        close_ledger(ip)


def test_a_day_old_list_is_fetched_again(shell, xai_env, ledger_path):
    xai_env.enqueue(Reply("one", usage=no_ticks(1000, 100)))
    run(shell, "%%grok\nFirst")
    path = file_beside(ledger_path)
    age_file(path, MAX_AGE + 60)
    stale = json.loads(path.read_text())["fetched"]
    ip = magic_shell(max_retries=0)  # a new client: what it knows is the file, a day old
    try:
        xai_env.enqueue(Reply("two", usage=no_ticks(1000, 100)))
        line = usage_line(run(ip, "%%grok\nSecond"))
        assert language_model_requests(xai_env) == 2
        assert f"(estimated from {TODAY})" in line
        assert json.loads(path.read_text())["fetched"] > stale + MAX_AGE
    finally:
        close_ledger(ip)


def test_a_stale_list_is_used_when_xai_cannot_be_asked(shell, xai_env, ledger_path, monkeypatch):
    xai_env.enqueue(Reply("one", usage=no_ticks(1000, 100)))
    run(shell, "%%grok\nFirst")
    path = file_beside(ledger_path)
    age_file(path, 3 * 24 * 3600, input=7.0, output=9.0)
    day = datetime.fromtimestamp(json.loads(path.read_text())["fetched"]).strftime("%Y-%m-%d")
    real_get_json = GrokClient.get_json

    def offline(self, path, **kw):
        if path == "/language-models":
            raise APIConnectionError("no network")
        return real_get_json(self, path, **kw)

    monkeypatch.setattr(GrokClient, "get_json", offline)
    ip = magic_shell(max_retries=0)
    try:
        xai_env.enqueue(Reply("two", usage=no_ticks(1000, 100)))
        outcome = run(ip, "%%grok\nSecond")
        assert outcome.error is None  # prices never fail an answer
        cost = (1000 * 7.0 + 100 * 9.0) / 1e6
        assert f"cost: ≈ ${cost:.6f} (estimated from xAI's price list of {day}) ·" in \
            usage_line(outcome)
    finally:
        close_ledger(ip)


def test_without_a_list_the_built_in_prices_and_the_widget_says_so(shell, xai_env, ledger_path,
                                                                  monkeypatch):
    monkeypatch.setattr(GrokClient, "_models_for_prices", lambda self: [])
    xai_env.enqueue(Reply("one", usage=no_ticks(1000, 100)))
    line = usage_line(run(shell, "%%grok\nFirst"))
    cost = (1000 * 1.25 + 100 * 2.50) / 1e6
    assert f"cost: ≈ ${cost:.6f} (estimated from built-in prices of 2026-12) ·" in line, line
    assert not file_beside(ledger_path).exists()


def test_with_the_ledger_off_no_price_file_is_written(xai_env, tmp_path):
    ip = magic_shell(max_retries=0)
    run(ip, '%config GrokMagics.ledger = "off"')
    xai_env.enqueue(Reply("one", usage=no_ticks(1000, 100)))
    line = usage_line(run(ip, "%%grok\nFirst"))
    assert f"(estimated from {TODAY})" in line  # fetched, kept in memory only
    assert list(tmp_path.rglob(PRICE_FILE)) == []


# -- what caching saved ------------------------------------------------------------------------
def test_usage_and_response_say_what_caching_saved():
    usage = Usage(prompt_tokens=4210, cached_tokens=3968, completion_tokens=10,
                  cost_in_usd_ticks=12_345_000)
    response = Response(model="grok-4.3", usage=usage)
    saved = 3968 * (1.25 - 0.20) / 1e6
    assert response.cache_saving == pytest.approx(saved)
    assert cache_text(response) == f"cached 3,968 of 4,210 · saved ≈ ${saved:.6f}"
    assert cost_text(response) == "$0.001234 (exact, from xAI)"
    long = Usage(prompt_tokens=300_000, cached_tokens=100_000)
    assert long.cache_saving(fallback_price("grok-4.3")) == pytest.approx(100_000 * 2.10 / 1e6)
    assert Response(usage=Usage(prompt_tokens=10)).cache_saving is None
    assert Response(model="grok-4.3", usage=usage, replay_of=3).cache_saving is None
    assert Response(model="no-such-model", usage=usage).cache_saving is None
    rows = dict(usage_rows(response, Usage(total_tokens=99), 0.5, totals_saved=saved))
    assert rows["cache"] == f"cached 3,968 of 4,210 · saved ≈ ${saved:.6f}"
    assert rows["session"] == f"99 tokens, $0.5000, caching saved ≈ ${saved:.6f}"
    tally = Totals()
    tally.add(response)
    tally.add(Response(model="grok-4.3", usage=Usage(prompt_tokens=5, cost_in_usd_ticks=1)))
    assert tally.saved == pytest.approx(saved) and not tally.approximate
    assert "cache" not in dict(usage_rows(Response(usage=Usage(prompt_tokens=5)), None, None))


def test_cost_words_for_each_source():
    listed = Response(model="grok-4.3", usage=Usage(prompt_tokens=1000),
                      price=Price(1.0, 0.1, 2.0), price_source="xAI's price list of 2026-12-02")
    assert cost_text(listed) == "≈ $0.001000 (estimated from xAI's price list of 2026-12-02)"
    builtin = Response(model="grok-4.3", usage=Usage(prompt_tokens=1000))
    assert cost_text(builtin) == "≈ $0.001250 (estimated from built-in prices of 2026-12)"
    assert builtin.cost_source == BUILTIN_SOURCE
    tools = Usage(prompt_tokens=1000, server_side_tools_used=1, cost_in_usd_ticks=50_000_000)
    assert cost_text(Response(usage=tools)) == "$0.005000 (exact, from xAI, tool fees included)"
    tools.cost_in_usd_ticks = None
    assert cost_text(Response(model="grok-4.3", usage=tools)) == (
        "≈ $0.001250 (estimated from built-in prices of 2026-12; tool fees not included)")
    stopped = Response(model="grok-4.3", prompt_estimate=1000, stopped=True, partial=True)
    assert cost_text(stopped) == ("≈ $0.001250 (estimated tokens, priced from built-in prices "
                                  "of 2026-12)")
    assert cost_text(Response(model="unknown", usage=Usage(prompt_tokens=5))) == "n/a"
    tally = Totals()
    tally.add(listed)
    assert tally.listed == 1 and tally.approximate and tally.estimated == 0


def test_a_second_turn_shows_its_cached_tokens_and_what_they_saved(shell, xai_env, ledger_path):
    run(shell, "%%grok\nA first question, with enough text to be worth caching " + "word " * 200)
    outcome = run(shell, "%%grok\nA follow-up")
    grok = shell.user_ns["_grok"]
    u = grok.usage
    assert u.cached_tokens > 0, "the stand-in caches a conversation's prefix"
    p = fallback_price("grok-4.3")  # an exact cost: no list fetched, the built-in prices
    saved = u.cached_tokens * (p.input - p.cached_input) / 1e6
    line = usage_line(outcome)
    assert f"cache: cached {u.cached_tokens:,} of {u.prompt_tokens:,} · saved ≈ ${saved:.6f}" \
        in line, line
    assert f"caching saved ≈ ${saved:.6f}" in line.split("session: ")[1]
    assert "(exact, from xAI)" in line  # the saving is an estimate, the cost is not
    assert 'data-key=\'cache\'' in outcome.html()
    assert language_model_requests(xai_env) == 0

    session = run(shell, "%grok usage").plain()
    assert f"saved by caching: ≈ ${saved:.6f} ({u.cached_tokens:,} cached tokens" in session
    today = run(shell, "%grok usage --today")
    plain = today.plain()
    assert f"{grok.model}: 2 answers" in plain
    assert f"{u.cached_tokens:,} cached (saved ≈ ${saved:.6f})" in plain, plain
    assert "total: 2 answers" in plain and "cached tokens" in today.shown()
    assert "saved by caching" in today.shown()
    assert FAKE_KEY not in outcome.everything() + today.everything()


def test_the_ledger_usage_report_sums_cached_tokens_and_savings_per_model(tmp_path):
    from grok_magic.ledger.store import Entry, Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite")
    base = dict(time="2026-12-02T10:00:00Z", session="s", source="cell", request_hash="h",
                request="{}", status="ok", cost=0.01)
    rows = [Entry(**base, model_served="grok-4.3", prompt_tokens=5000, cached_tokens=4000,
                  answer_key="a"),
            Entry(**base, model_served="grok-4.3", prompt_tokens=300_000, cached_tokens=100_000,
                  answer_key="b"),
            Entry(**base, model_served="grok-3-mini", prompt_tokens=100, answer_key="c")]
    assert ledger.record_many(rows) == 3
    totals = {t.model: t for t in ledger.totals()}
    ledger.close()
    grok = totals["grok-4.3"]
    assert (grok.cached_tokens, grok.long_cached_tokens) == (104_000, 100_000)
    saved = (4000 * 1.05 + 100_000 * 2.10) / 1e6
    assert grok.cache_saving(fallback_price("grok-4.3")) == pytest.approx(saved)
    report = ledger_usage_report(list(totals.values()), "all", tmp_path / "ledger.sqlite",
                                 known_prices(tmp_path / "ledger.sqlite"))
    assert f"104,000 cached (saved ≈ ${saved:.4f})" in report.plain
    assert "grok-3-mini: 1 answers" in report.plain and "0 cached (saved —)" in report.plain
    assert "total: 3 answers, 0 failed, 0 stopped or cut off, 305,100 prompt" in report.plain


# -- %grok models ------------------------------------------------------------------------------
def test_models_marks_aliases_the_default_and_retired_names(shell, xai_env):
    outcome = run(shell, "%grok models")
    plain = outcome.plain()
    lines = {line.split(" ")[0]: line for line in plain.splitlines()}
    grok = lines["grok-4.3"]
    assert "grok-4, grok-4-latest, grok-4-0709" in grok and "default" in grok and "in use" in grok
    assert "serves the retired grok-4, grok-4-latest, grok-4-0709" in grok
    assert "retired 2026-05-15, served as grok-4.3" in lines["grok-4-fast-reasoning"]
    assert "retired" not in lines["grok-3-mini"] and "default" not in lines["grok-3-mini"]
    assert "(≥ 200k: 2.5 / 0.4 / 5)" in grok or "≥ 200k" in grok
    shown = outcome.shown()
    assert "aliases" in shown and "notes" in shown and "retired 2026-05-15" in shown
    assert FAKE_KEY not in outcome.everything()


def test_models_report_marks_the_model_in_use_by_an_alias():
    models = [ModelInfo("grok-4.3", ("grok-4",), True, Price(1.25, 0.2, 2.5)),
              ModelInfo("grok-4-fast-reasoning", (), True, None)]
    report = models_report(models, "grok-4")
    first, second = report.plain.splitlines()
    assert first.startswith("grok-4.3 ← (grok-4)") and "in use (grok-4)" in first
    assert "default" in first and "serves the retired grok-4" in first
    assert "$ — / — / —" in second and "retired 2026-05-15, served as grok-4.3" in second


# -- the panel ---------------------------------------------------------------------------------
def test_the_panel_says_where_a_cost_came_from(xai_env, ledger_path):
    from grok_magic.notebook.panel import ChatPanel
    from tests.support.magic_helpers import wait_until  # noqa: F401 - the panel's send waits itself

    panel = ChatPanel(model="grok-4.3", models=["grok-4.3"],
                      client=GrokClient(Settings.load(max_retries=0)))
    panel.send("first " + "word " * 200)
    exact = panel._last.view.answer
    xai_env.enqueue(Reply("two", usage=no_ticks(1000, 100)))
    panel.send("second")
    html_of = [w.value for w in _widgets(panel.widget) if "grok-usage-items" in
               str(getattr(w, "value", ""))]
    assert "(exact, from xAI)" in html_of[0], html_of[0]
    assert "(estimated from xAI&#x27;s price list of " in html_of[-1], html_of[-1]
    assert "≈ $" in panel.totals_view.value
    assert exact is not None and os.path.exists(file_beside(ledger_path))


def _widgets(root):
    found = [root]
    for child in getattr(root, "children", ()):
        found += _widgets(child)
    return found
