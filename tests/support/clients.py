"""A GrokClient on the stand-in that never really sleeps: its waits are recorded instead."""

from __future__ import annotations

from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from tests.support.xai_standin import FAKE_KEY


class FakeSleep:
    """Records the delays the client asks for instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(srv, sleep=None, **settings) -> GrokClient:
    settings.setdefault("api_key", FAKE_KEY)
    settings.setdefault("base_url", srv.base_url)
    return GrokClient(Settings(**settings), sleep=sleep or FakeSleep())
