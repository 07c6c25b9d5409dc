"""A proxy's password in XAI_BASE_URL (`http://ann:s3cretpass@proxy/v1`) is never shown: not in
the settings table, a dry run (its URL, its curl command, what -o keeps), the reprs of the client
and the settings, nor an error that quotes the base URL. Sending is unchanged: the request still
goes to that URL, with the key in the Authorization header."""

from __future__ import annotations

import json
import socket

import pytest

from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from tests.support.magic_helpers import close_ledger, magic_shell, run
from tests.support.xai_standin import FAKE_KEY

PASSWORD = "s3cretpass"
MASKED = "ann:***@"


def with_user_info(base_url: str) -> str:
    """`base_url` with `ann:s3cretpass@` in front of its host."""
    scheme, rest = base_url.split("://", 1)
    return f"{scheme}://ann:{PASSWORD}@{rest}"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def proxied(xai_env, monkeypatch):
    """XAI_BASE_URL: the stand-in, reached with a user and password in the URL."""
    url = with_user_info(xai_env.base_url)
    monkeypatch.setenv("XAI_BASE_URL", url)
    monkeypatch.setenv("GROK_LEDGER", "off")
    return url


@pytest.fixture
def ip(proxied):
    shell_ = magic_shell(max_retries=0)
    yield shell_
    close_ledger(shell_)


def assert_masked(text: str) -> None:
    assert PASSWORD not in text
    assert MASKED in text


def test_the_settings_table_masks_the_password(ip):
    out = run(ip, "%grok")
    assert out.error is None
    assert_masked(out.everything())
    assert_masked(out.shown())  # what the rendered table says, entities decoded


def test_a_dry_run_masks_the_password_in_its_url_and_curl(ip, xai_env):
    out = run(ip, "%%grok --dry-run -o sent\nWhat is a median?")
    assert out.error is None
    assert_masked(out.everything())
    assert_masked(out.shown())
    assert_masked(out.plain())
    assert "Bearer $XAI_API_KEY" in out.plain() and FAKE_KEY not in out.everything()
    assert PASSWORD not in json.dumps(ip.user_ns["sent"]) + repr(ip.user_ns["sent"])
    assert xai_env.answer_requests == []  # nothing was sent


def test_reprs_of_the_client_and_the_settings_mask_the_password(proxied):
    settings = Settings.load()
    assert settings.base_url == proxied  # kept whole: it is what requests are sent to
    assert_masked(repr(settings))
    assert "api_key" not in repr(settings) and FAKE_KEY not in repr(settings)
    client = GrokClient(settings)
    try:
        assert_masked(repr(client))
    finally:
        client.close()


def test_a_connection_error_quoting_the_base_url_masks_the_password(monkeypatch):
    monkeypatch.setenv("XAI_BASE_URL", f"http://ann:{PASSWORD}@127.0.0.1:{closed_port()}/v1")
    monkeypatch.setenv("XAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("GROK_LEDGER", "off")
    shell_ = magic_shell(max_retries=0)
    out = run(shell_, "%%grok\nWhat is a median?")
    assert out.error is not None and "Traceback" not in out.everything()
    assert_masked(str(out.error))
    assert_masked(out.everything())


def test_the_request_still_goes_to_the_url_with_the_key_as_bearer(ip, xai_env):
    out = run(ip, "%%grok --no-stream\nWhat is a median?")
    assert out.error is None, out.everything()
    [request] = xai_env.answer_requests
    assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert PASSWORD not in out.everything()


def test_a_dry_run_masks_the_url_it_is_given_whoever_builds_it():
    """`--each --dry-run` builds its DryRun elsewhere: the mask is in DryRun itself."""
    from grok_magic.notebook.reports import DryRun

    dry = DryRun(f"https://ann:{PASSWORD}@proxy.example/v1/chat/completions", {"model": "grok-4"})
    assert dry.url == "https://ann:***@proxy.example/v1/chat/completions"
    bundle = dry._repr_mimebundle_()
    assert_masked(bundle["text/plain"])
    assert PASSWORD not in bundle["text/html"]
