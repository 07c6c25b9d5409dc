"""Settings: where the key (argument > XAI_API_KEY > .env found upward), base URL, timeouts and
defaults come from; each source proven by a request reaching the stand-in with that key."""

from __future__ import annotations

import pytest

from grok_magic.errors import MissingKeyError
from grok_magic.settings import (
    CONNECT_TIMEOUT,
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    MAX_RETRIES,
    READ_TIMEOUT,
    Settings,
    find_env_file,
)
from grok_magic.xai.client import GrokClient
from tests.support.xai_standin import FAKE_KEY, Reply

BODY = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}
OTHER_KEY = "xai-other-9876543210fedcba"


def key_seen_by_server(srv, settings: Settings) -> str:
    srv.enqueue(Reply("ok"))
    GrokClient(settings, sleep=lambda s: None).complete(BODY)
    return srv.answer_requests[-1].headers["Authorization"].removeprefix("Bearer ")


def test_defaults():
    settings = Settings.load()
    assert settings.api_key is None and settings.key_source == "none" and not settings.has_key
    assert settings.base_url == DEFAULT_BASE_URL == "https://api.x.ai/v1"
    assert settings.model == DEFAULT_MODEL == "grok-4.3"
    assert settings.connect_timeout == CONNECT_TIMEOUT == 10.0
    assert settings.read_timeout == READ_TIMEOUT == 3600.0
    assert settings.max_retries == MAX_RETRIES == 2


def test_missing_key_error_says_what_to_do():
    with pytest.raises(MissingKeyError) as info:
        Settings.load().require_key()
    text = str(info.value)
    assert "XAI_API_KEY" in text and ".env" in text
    assert info.value.paragraph() == text


def test_key_from_the_environment(xai_server, monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", FAKE_KEY)
    settings = Settings.load(base_url=xai_server.base_url)
    assert settings.key_source == "XAI_API_KEY"
    assert key_seen_by_server(xai_server, settings) == FAKE_KEY


def test_key_from_a_dotenv_file_in_a_parent_folder(xai_server, tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        f"# project secrets\nXAI_API_KEY={FAKE_KEY}\nXAI_BASE_URL={xai_server.base_url}/\n"
        f"OTHER=ignored\n")
    deep = tmp_path / "notebooks" / "chapter1"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_env_file() == tmp_path / ".env"
    settings = Settings.load()
    assert settings.key_source == ".env" and settings.base_url == xai_server.base_url
    assert key_seen_by_server(xai_server, settings) == FAKE_KEY
    import os

    assert "XAI_API_KEY" not in os.environ  # read, not exported


def test_the_nearest_dotenv_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(f"XAI_API_KEY={OTHER_KEY}\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / ".env").write_text(f'XAI_API_KEY="{FAKE_KEY}"\n')
    monkeypatch.chdir(inner)
    assert Settings.load().api_key == FAKE_KEY


def test_environment_beats_dotenv_and_argument_beats_both(xai_server, tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(f"XAI_API_KEY=xai-from-dotenv-00000000\n"
                                   f"XAI_BASE_URL={xai_server.base_url}\n")
    monkeypatch.setenv("XAI_API_KEY", OTHER_KEY)
    from_env = Settings.load()
    assert (from_env.api_key, from_env.key_source) == (OTHER_KEY, "XAI_API_KEY")
    explicit = Settings.load(api_key=FAKE_KEY)
    assert (explicit.api_key, explicit.key_source) == (FAKE_KEY, "argument")
    assert key_seen_by_server(xai_server, explicit) == FAKE_KEY


def test_base_url_from_the_environment_and_overrides(monkeypatch):
    monkeypatch.setenv("XAI_BASE_URL", "http://127.0.0.1:9/v1/")
    assert Settings.load().base_url == "http://127.0.0.1:9/v1"
    assert Settings.load(base_url="http://example.test/v1").base_url == "http://example.test/v1"
    custom = Settings.load(read_timeout=5.0, connect_timeout=1.0, model="grok-3-mini",
                           max_retries=0, base_url=None)
    assert (custom.read_timeout, custom.connect_timeout, custom.model, custom.max_retries) == (
        5.0, 1.0, "grok-3-mini", 0)
    assert custom.base_url == "http://127.0.0.1:9/v1"  # None means "not set"


def test_model_from_the_environment(monkeypatch):
    monkeypatch.setenv("XAI_MODEL", "grok-4.3")
    assert Settings.load().model == "grok-4.3"


@pytest.mark.parametrize("raw", [f" {FAKE_KEY}\n", f"{FAKE_KEY}\r\n", f"\t{FAKE_KEY} "])
def test_stray_whitespace_around_a_pasted_key_is_dropped(xai_server, monkeypatch, raw):
    monkeypatch.setenv("XAI_API_KEY", raw)
    settings = Settings.load(base_url=xai_server.base_url)
    assert settings.api_key == FAKE_KEY
    assert key_seen_by_server(xai_server, settings) == FAKE_KEY
    assert Settings.load(api_key=raw).api_key == FAKE_KEY
    assert Settings.load().with_key(raw).api_key == FAKE_KEY


def test_blank_key_counts_as_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", "   ")
    (tmp_path / ".env").write_text("XAI_API_KEY=\n")
    assert Settings.load(api_key="  ").api_key is None


def test_the_key_is_not_in_the_repr():
    settings = Settings.load(api_key=FAKE_KEY)
    assert FAKE_KEY not in repr(settings) and "key_source='argument'" in repr(settings)
    assert FAKE_KEY not in repr(settings.with_key(OTHER_KEY))


def test_with_key(xai_server):
    settings = Settings.load(base_url=xai_server.base_url).with_key(FAKE_KEY, source="typed")
    assert settings.key_source == "typed" and settings.require_key() == FAKE_KEY
    assert key_seen_by_server(xai_server, settings) == FAKE_KEY
