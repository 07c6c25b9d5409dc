"""Money: prices per model (xAI's live figures, a built-in fallback table), ticks to USD, formatting."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

USD_TICKS = 10_000_000_000  # xAI's cost_in_usd_ticks: 1 USD = 10^10 ticks
CHARS_PER_TOKEN = 4  # xAI's tokenizers average about four characters of English per token

# Fallback prices in USD per 1 M tokens (input, cached input, output); /v1/language-models wins.
FALLBACK_PRICES: dict[str, tuple[float, float, float]] = {
    "grok-4.3": (1.25, 0.20, 2.50),
    "grok-4": (1.25, 0.20, 2.50),
    "grok-4.20-0309-reasoning": (2.0, 0.20, 6.0),
    "grok-4.20-0309-non-reasoning": (2.0, 0.20, 6.0),
    "grok-3-mini": (0.30, 0.075, 0.50),
}


@dataclass(frozen=True)
class Price:
    """Prices in USD per 1 M tokens."""

    input: float
    cached_input: float
    output: float
    image_input: float | None = None


def fallback_price(model: str | None) -> Price | None:
    """A price from the built-in table, matching the longest known prefix of `model`."""
    if not model:
        return None
    for name in sorted(FALLBACK_PRICES, key=len, reverse=True):
        if model == name or model.startswith(name + "-"):
            return Price(*FALLBACK_PRICES[name])
    return None


def price_from_language_model(data: Mapping) -> Price | None:
    """A price from one `/v1/language-models` entry (integer USD cents per 100 M tokens)."""

    def usd_per_million(key: str) -> float | None:
        value = data.get(key)
        return None if value is None else value / 10_000

    if data.get("prompt_text_token_price") is None:
        return None
    return Price(
        input=usd_per_million("prompt_text_token_price") or 0.0,
        cached_input=usd_per_million("cached_prompt_text_token_price") or 0.0,
        output=usd_per_million("completion_text_token_price") or 0.0,
        image_input=usd_per_million("prompt_image_token_price"),
    )


class PriceBook:
    """Live prices by model id and alias, fetched once (by `load`) on first use."""

    def __init__(self, load: Callable[[], Iterable]) -> None:
        self._load = load
        self._prices: dict[str, Price] | None = None
        self._lock = threading.Lock()

    def get(self, model: str | None) -> Price | None:
        if not model:
            return None
        with self._lock:
            if self._prices is None:
                self._prices = {name: m.price for m in self._load() if m.price
                                for name in (m.id, *m.aliases)}
        return self._prices.get(model)


def format_cost(cost: float | None, *, estimate: bool = False) -> str:
    """USD for people: six decimals below a cent, four above; "≈" before an estimate.

    >>> format_cost(0.000123), format_cost(0.25), format_cost(None), format_cost(0.5, estimate=True)
    ('$0.000123', '$0.2500', 'n/a', '≈ $0.5000')
    """
    if cost is None:
        return "n/a"
    return ("≈ " if estimate else "") + (f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}")
