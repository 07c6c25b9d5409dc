"""GrokClient: xAI's chat completions — complete(), stream() as a ResponseStream — and its
Responses API — respond(), respond_stream() — with list_models() and prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from grok_magic.errors import (
    APIStatusError,
    AuthenticationError,
    GoneError,
    GrokError,
)
from grok_magic.safety.redaction import mask_url_credentials, redact
from grok_magic.settings import Settings
from grok_magic.xai.messages import ENDPOINTS
from grok_magic.xai.price_list import PriceBook
from grok_magic.xai.pricing import Price, price_from_language_model
from grok_magic.xai.response import Response
from grok_magic.xai.responses_events import ResponsesStream, decode_json
from grok_magic.xai.streams import ResponseStream
from grok_magic.xai.transport import Transport, request_id_of, unexpected_body

PRICE_LIST_TIMEOUT = 5.0  # seconds the price list may take (an answer waits for its price)
LIVE_SEARCH_HINT = (
    "Live Search (search_parameters) is retired; use --search web or --search x, which run "
    "xAI's search tools through the Responses API."
)



@dataclass(frozen=True)
class ModelInfo:
    """A model the key can use: id, aliases, whether it takes images, prices (USD per 1 M)."""

    id: str
    aliases: tuple[str, ...] = ()
    image_input: bool | None = None
    price: Price | None = None

    @classmethod
    def from_language_model(cls, data: Mapping) -> ModelInfo:
        price = price_from_language_model(data)
        return cls(
            id=redact(str(data["id"])),
            aliases=tuple(redact(a) for a in _listed(data.get("aliases")) if isinstance(a, str)),
            image_input="image" in (data.get("input_modalities") or ()),
            price=price,
        )


def _listed(value: object) -> list | tuple:
    return value if isinstance(value, list | tuple) else ()


@dataclass
class GrokClient(Transport):
    """A client for xAI's chat completions API.

    >>> client = GrokClient()                      # key from XAI_API_KEY or .env
    >>> body = {"model": "grok-4.3", "messages": [{"role": "user", "content": "Hi"}]}
    >>> client.complete(body).text                  # doctest: +SKIP
    """

    _prices: PriceBook | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._prices = PriceBook(self._models_for_prices)

    def __getstate__(self) -> dict:
        # Pickled without the key (Settings drops it) and without the live HTTP session.
        return {"settings": self.settings, "sleep": self.sleep}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    @classmethod
    def from_env(cls, api_key: str | None = None, **overrides) -> GrokClient:
        return cls(Settings.load(api_key=api_key, **overrides))

    def complete(self, body: Mapping, *, timeout: float | None = None,
                 headers: Mapping[str, str] | None = None) -> Response:
        """Send a request and return the whole answer (the body's `stream` is forced off).
        `headers` go with it (e.g. `x-grok-conv-id`, the prompt-cache key)."""
        body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        response = Response(requested_model=body.get("model"))
        http = self._post(ENDPOINTS["chat"], body, stream=False, timeout=timeout, headers=headers)
        data = self.read_json(http, "the answer", capped=True)
        if not isinstance(data, dict):
            raise APIStatusError("xAI sent an answer that is not a chat completion",
                                 status=http.status_code, request_id=request_id_of(http))
        response = Response.from_completion(
            data, requested_model=body.get("model"), started=response.started,
            request_id=request_id_of(http),
        )
        self.fill_price(response)
        return response

    def stream(self, body: Mapping, *, timeout: float | None = None,
               headers: Mapping[str, str] | None = None) -> ResponseStream:
        """Send a streaming request; iterate the result for Deltas, or call `.until_done()`."""
        body = dict(body, stream=True, stream_options={"include_usage": True})
        response = Response(requested_model=body.get("model"))
        http = self._post(ENDPOINTS["chat"], body, stream=True, timeout=timeout, headers=headers)
        return self._open_stream(ResponseStream, http, response)

    def respond(self, body: Mapping, *, timeout: float | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        """Send a `/v1/responses` request (see xai.responses.responses_body) and return the
        whole answer; a failed or incomplete one raises, its text kept on `err.response`."""
        body = {k: v for k, v in body.items() if k != "stream"}
        started = Response().started
        http = self._post(ENDPOINTS["responses"], body, stream=False, timeout=timeout,
                          headers=headers)
        data = self.read_json(http, "the answer", capped=True)
        if not isinstance(data, dict):
            raise APIStatusError("xAI sent an answer that is not a response object",
                                 status=http.status_code, request_id=request_id_of(http))
        response = decode_json(data, request_id=request_id_of(http),
                               requested_model=body.get("model"), started=started).response
        self.fill_price(response)
        return response

    def respond_stream(self, body: Mapping, *, timeout: float | None = None,
                       headers: Mapping[str, str] | None = None) -> ResponseStream:
        """Send a streaming `/v1/responses` request; iterate the result for ResponsesDeltas
        (text, reasoning, tool activity), or call `.until_done()`."""
        body = dict(body, stream=True)
        response = Response(requested_model=body.get("model"))
        http = self._post(ENDPOINTS["responses"], body, stream=True, timeout=timeout,
                          headers=headers)
        return self._open_stream(ResponsesStream, http, response)

    def _post(self, path: str, body: Mapping, *, stream: bool, timeout: float | None,
              headers: Mapping[str, str] | None = None):
        try:
            return self.send("POST", path, body, stream=stream, timeout=timeout, headers=headers)
        except GoneError as err:
            if path == ENDPOINTS["responses"]:  # what a 410 there means, and what replaces it
                err.hint = LIVE_SEARCH_HINT
            raise

    def _open_stream(self, kind: type[ResponseStream], http, response: Response) -> ResponseStream:
        if "text/event-stream" not in (http.headers.get("content-type") or "").lower():
            raise unexpected_body(http, "an event stream")
        stream = kind(http, response, request_id_of(http))
        stream.on_end(self.fill_price)  # first, so the cost is known to every later listener
        return stream

    def get_json(self, path: str, *, timeout: float | None = 30.0,
                 retries: int | None = None) -> object:
        http = self.send("GET", path, timeout=timeout, retries=retries)
        return self.read_json(http, f"the answer to {path}")

    def list_models(self) -> list[ModelInfo]:
        """Models this key can use, with image support and prices when xAI says them.

        From `/v1/language-models`; if that fails, the bare ids from `/v1/models`.
        """
        try:
            data = self.get_json("/language-models")
            models = data.get("models") if isinstance(data, dict) else None
            if isinstance(models, list):
                return [ModelInfo.from_language_model(m) for m in models]
        except AuthenticationError:
            raise
        except APIStatusError:
            pass
        data = self.get_json("/models")
        models = data.get("data") if isinstance(data, dict) else None
        return [ModelInfo(id=m["id"]) for m in models or () if isinstance(m, dict) and "id" in m]

    @property
    def prices(self) -> PriceBook:
        """xAI's price list: kept a day beside the ledger, fetched on first need (pricing.py)."""
        return self._prices

    def price_for(self, model: str | None) -> Price | None:
        """The live price of `model` or an alias of it (xAI's price list), else None."""
        return self._prices.get(model)

    def _models_for_prices(self) -> list[ModelInfo]:
        """xAI's price list for the PriceBook; [] when it cannot be had (no key, offline, …):
        one short try, so that an answer never waits long for its price."""
        try:
            data = self.get_json("/language-models", timeout=PRICE_LIST_TIMEOUT, retries=0)
        except GrokError:
            return []
        models = data.get("models") if isinstance(data, dict) else None
        return [ModelInfo.from_language_model(m) for m in models or ()
                if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def fill_price(self, response: Response) -> None:
        """Set the price of an answer from xAI's price list (`price`, and `price_source`, which
        the usage widget shows): one that came without xAI's own cost figure
        (`cost_in_usd_ticks`), or ended without usage (priced by estimate), is priced from the
        list (fetched if need be); one with an exact cost and cached tokens gets the price its
        cache saving is estimated from, from a list already at hand (nothing is fetched for it).
        Without a list, the built-in table prices the answer (`Response.priced`)."""
        usage = response.usage
        if response.price is not None or response.replay_of is not None:
            return
        if usage is None and response.prompt_estimate is None:
            return
        exact = usage is not None and usage.cost_in_usd_ticks is not None
        if exact and not usage.cached_tokens:
            return
        for model in dict.fromkeys((response.model, response.requested_model)):
            found = self._prices.lookup(model, fetch=not exact)
            if found is not None:
                response.price, response.price_source = found
                return

    def __repr__(self) -> str:
        key = "set" if self.settings.has_key else "missing"
        return f"GrokClient(base_url={mask_url_credentials(self.settings.base_url)!r}, key={key})"
