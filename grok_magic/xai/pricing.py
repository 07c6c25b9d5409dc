"""Money: prices per model (xAI's live figures, a built-in fallback table), ticks to USD, formatting.

An answer's cost is xAI's own `cost_in_usd_ticks` when it sent one (exact); else it is priced from
xAI's price list (`/v1/language-models`, kept a day beside the ledger: price_list), else from
the built-in table below (both estimates). Prompts of LONG_CONTEXT_TOKENS or more bill every
token at the long-context rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from grok_magic.model_names import REDIRECT_TARGET, is_retired

USD_TICKS = 10_000_000_000  # xAI's cost_in_usd_ticks: 1 USD = 10^10 ticks
CHARS_PER_TOKEN = 4  # xAI's tokenizers average about four characters of English per token
LONG_CONTEXT_TOKENS = 200_000  # a prompt this long bills all its tokens at the long-context rate
LONG_CONTEXT_FACTOR = 2.0  # the long-context rate when a source gives none: about 2x every price
EXACT_SOURCE = "exact, from xAI"
PRICES_OF = "2026-12"  # when the built-in table was last checked against xAI's pages
BUILTIN_SOURCE = f"built-in prices of {PRICES_OF}"

# Fallback prices in USD per 1 M tokens: (input, cached input, output[, long-context input,
# cached input, output]); without a long-context tier, 2x. Names match as prefixes (grok-4.3-latest
# is grok-4.3); names xAI retired are billed as what it serves them as (grok-4.3).
FALLBACK_PRICES: dict[str, tuple[float, ...]] = {
    "grok-4.7": (2.00, 0.50, 6.00, 4.00, 1.00, 12.00),
    "grok-4.6": (2.00, 0.50, 6.00, 4.00, 1.00, 12.00),
    "grok-4.5": (2.00, 0.30, 6.00, 4.00, 0.60, 12.00),
    "grok-4.3": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
    "grok-4.20": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),  # its aliases: grok-4.20-reasoning, …
    "grok-4.20-0309-reasoning": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
    "grok-4.20-0309-non-reasoning": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
    "grok-4.20-multi-agent-0309": (1.25, 0.20, 2.50, 2.50, 0.40, 5.00),
    "grok-build-0.1": (1.00, 0.20, 2.00, 2.00, 0.40, 4.00),
    "grok-3-mini": (0.30, 0.075, 0.50),
}
# Image and video models: USD per image, per second of video. xAI's pages say $0.02 at 1k or 2k
# for grok-imagine-image and "$0.02–0.08" for the others (the split is unconfirmed).
IMAGE_PRICES: dict[str, float] = {
    "grok-imagine-image": 0.02,
    "grok-imagine-image-2.0": 0.04,  # unconfirmed: somewhere in $0.02–0.08
    "grok-imagine-image-quality": 0.08,  # unconfirmed: the top of $0.02–0.08
}
VIDEO_PRICES: dict[str, float] = {"grok-imagine-video": 0.05}  # per second, 480p or 720p
# An edit also bills its reference images; xAI's pages give no figure for it, so this is our
# assumption (a tenth of a generated image), used only when xAI sends no cost of its own.
REFERENCE_IMAGE_PRICE = 0.002


@dataclass(frozen=True)
class Price:
    """Prices in USD per 1 M tokens, below LONG_CONTEXT_TOKENS and (`long_*`) from there on;
    a long-context price not given is LONG_CONTEXT_FACTOR times the other.

    >>> Price(1.25, 0.20, 2.50).tier(200_000).output, Price(1.25, 0.20, 2.50).tier(199_999).output
    (5.0, 2.5)
    """

    input: float
    cached_input: float
    output: float
    image_input: float | None = None
    long_input: float | None = None
    long_cached_input: float | None = None
    long_output: float | None = None

    def __post_init__(self) -> None:
        for name in ("input", "cached_input", "output"):
            if getattr(self, f"long_{name}") is None:
                object.__setattr__(self, f"long_{name}", getattr(self, name) * LONG_CONTEXT_FACTOR)

    def tier(self, prompt_tokens: int) -> Price:
        """The prices that apply to an answer whose prompt had `prompt_tokens`."""
        if prompt_tokens < LONG_CONTEXT_TOKENS:
            return self
        factor = self.long_input / self.input if self.input else LONG_CONTEXT_FACTOR
        image = None if self.image_input is None else self.image_input * factor
        return replace(self, input=self.long_input, cached_input=self.long_cached_input,
                       output=self.long_output, image_input=image)


def fallback_price(model: str | None) -> Price | None:
    """A price from the built-in table, matching the longest known prefix of `model`; a name xAI
    retired is billed at the price of the model it serves it as.

    >>> fallback_price("grok-4-fast-reasoning") == fallback_price("grok-4.3"), fallback_price("x")
    (True, None)
    """
    if not model:
        return None
    for name in sorted(FALLBACK_PRICES, key=len, reverse=True):
        if model == name or model.startswith(name + "-"):
            return Price(*FALLBACK_PRICES[name][:3], None, *FALLBACK_PRICES[name][3:])
    if is_retired(model):
        return fallback_price(REDIRECT_TARGET)
    return None


def _named(table: Mapping[str, float], model: str | None) -> float | None:
    if not model:
        return None
    return table.get(model.removesuffix("-latest"))


def image_price(model: str | None) -> float | None:
    """USD per generated image (at 1k or 2k), or None for a model the table does not know.

    >>> image_price("grok-imagine-image"), image_price("grok-4.3")
    (0.02, None)
    """
    return _named(IMAGE_PRICES, model)


def video_price(model: str | None) -> float | None:
    """USD per second of generated video, or None for a model the table does not know."""
    return _named(VIDEO_PRICES, model)


def imagine_cost(model: str | None, *, images: int = 0, references: int = 0,
                 seconds: float = 0.0) -> float | None:
    """What a generation costs by the built-in table: `images` made (plus the `references` an
    edit sends), or `seconds` of video; None for a model the table does not know.

    >>> imagine_cost("grok-imagine-image", images=2), imagine_cost("grok-imagine-video", seconds=5)
    (0.04, 0.25)
    """
    if seconds:
        per_second = video_price(model)
        return None if per_second is None else round(per_second * seconds, 10)
    each = image_price(model)
    if each is None:
        return None
    return round(each * images + REFERENCE_IMAGE_PRICE * references, 10)


def _usd_per_million(value: object) -> float | None:
    """A `/v1/language-models` price (integer USD cents per 100 M tokens) in USD per 1 M, or None
    for anything that is not a non-negative number (the listing is the server's text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value < float("inf"):
        return None
    return value / 10_000


PRICE_FIELDS = ("prompt_text_token_price", "cached_prompt_text_token_price",
                "completion_text_token_price")
LONG_WORDS = frozenset({"long", "context", "ctx", "lc", "tier"})


def _long_context_fields(data: Mapping) -> dict[str, float]:
    """Long-context prices in a listing entry, by the short-context field they stand for. Their
    names are unconfirmed: any key naming a price field plus "long" (long_context_prompt_text_
    token_price, prompt_text_token_price_long_context, …), or those fields inside a mapping whose
    key says "long"."""
    found: dict[str, float] = {}
    for key, value in data.items():
        if not isinstance(key, str) or "long" not in key.lower():
            continue
        if isinstance(value, Mapping):
            for name in PRICE_FIELDS:
                price = _usd_per_million(value.get(name))
                if price is not None:
                    found.setdefault(name, price)
            continue
        base = "_".join(w for w in key.lower().split("_") if w not in LONG_WORDS)
        price = _usd_per_million(value)
        if base in PRICE_FIELDS and price is not None:
            found.setdefault(base, price)
    return found


def price_from_language_model(data: Mapping) -> Price | None:
    """A price from one `/v1/language-models` entry (integer USD cents per 100 M tokens), with a
    long-context tier when the entry carries one (else 2x)."""
    prompt = _usd_per_million(data.get("prompt_text_token_price"))
    if prompt is None:
        return None
    long = _long_context_fields(data)
    cached = _usd_per_million(data.get("cached_prompt_text_token_price"))
    return Price(
        input=prompt,
        # No cached price listed: no discount assumed (cached tokens at the input price).
        cached_input=prompt if cached is None else cached,
        output=_usd_per_million(data.get("completion_text_token_price")) or 0.0,
        image_input=_usd_per_million(data.get("prompt_image_token_price")),
        long_input=long.get("prompt_text_token_price"),
        long_cached_input=long.get("cached_prompt_text_token_price"),
        long_output=long.get("completion_text_token_price"),
    )


def format_cost(cost: float | None, *, estimate: bool = False) -> str:
    """USD for people: six decimals below a cent, four above; "≈" before an estimate.

    >>> format_cost(0.000123), format_cost(0.25), format_cost(None), format_cost(0.5, estimate=True)
    ('$0.000123', '$0.2500', 'n/a', '≈ $0.5000')
    """
    if cost is None:
        return "n/a"
    return ("≈ " if estimate else "") + (f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}")
