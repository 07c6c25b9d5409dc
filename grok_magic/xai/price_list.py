"""xAI's price list (`GET /v1/language-models`), kept a day in a file beside the ledger.

The file (PRICE_FILE in the ledger's folder: folder 0700, file 0600, written atomically) holds
when the list was fetched and, per model, its id, aliases and prices in USD per 1 M tokens. A
file less than MAX_AGE old is used as it is; an older one is refreshed on first need and still
used if the fetch fails. Nothing here raises: a file that cannot be read or written is simply
not used, and then the built-in table prices the answer. Loaded on first need, not with
%load_ext.

>>> listing = PriceList(0.0, {"grok-4.3": Price(1.25, 0.20, 2.50)})
>>> listing.fresh(3600.0), listing.fresh(MAX_AGE + 1)
(True, False)
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from grok_magic.private_files import PRIVATE_FILE, make_private_folder
from grok_magic.safety import untrusted_json
from grok_magic.safety.redaction import key_in, redact
from grok_magic.xai.pricing import Price

PRICE_FILE = "xai-prices.json"
FORMAT = 1
MAX_AGE = 24 * 3600.0  # seconds a fetched list is used without asking xAI again
CLOCK_SKEW = 300.0  # a list dated this far in the future still counts as fresh
MAX_FILE_BYTES = 4 << 20  # a bigger file is not a price list grok_magic wrote
PRICE_NAMES = tuple(f.name for f in fields(Price))


@dataclass(frozen=True)
class PriceList:
    """Prices by model id and alias, as fetched at `fetched` (seconds since the epoch)."""

    fetched: float
    prices: Mapping[str, Price]
    models: tuple = ()  # (id, aliases, Price) as listed, for the file

    def fresh(self, now: float) -> bool:
        return -CLOCK_SKEW <= now - self.fetched < MAX_AGE

    @property
    def day(self) -> str:
        """The local date of the fetch, e.g. 2026-12-02."""
        return datetime.fromtimestamp(self.fetched).strftime("%Y-%m-%d")

    @property
    def source(self) -> str:
        """How a cost priced from this list says where its price came from."""
        return f"xAI's price list of {self.day}"

    @classmethod
    def of(cls, models: Iterable, fetched: float) -> PriceList | None:
        """The list from `ModelInfo`s (ids and aliases redacted there); None if none is priced."""
        listed = tuple((m.id, tuple(m.aliases), m.price) for m in models if m.price is not None)
        if not listed:
            return None
        prices = {name: price for id_, aliases, price in listed for name in (id_, *aliases)}
        return cls(fetched, prices, listed)


def price_file(ledger: Path | str | None) -> Path | None:
    """Where the price list lives: in the ledger's folder; None when the ledger is off."""
    return None if ledger is None else Path(ledger).parent / PRICE_FILE


def fetch_list(load: Callable[[], Iterable], now: float | None = None) -> PriceList | None:
    """xAI's price list from `load()` (`ModelInfo`s), or None when it gave no prices or failed."""
    try:
        return PriceList.of(load(), time.time() if now is None else now)
    except Exception:  # noqa: BLE001 - prices never fail an answer: the built-in table is used
        return None


def read(path: Path | None) -> PriceList | None:
    """The list in `path`, whatever its age, or None when there is none that can be read."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return None
        return _parse(untrusted_json.loads(raw.decode("utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _parse(data: object) -> PriceList | None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    fetched = data.get("fetched")
    if not _number(fetched):
        return None
    models = []
    for entry in data.get("models") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        values = {k: entry.get(k) for k in PRICE_NAMES}
        if not all(values[k] is None or _number(values[k]) for k in PRICE_NAMES) or any(
                values[k] is None for k in ("input", "cached_input", "output")):
            continue
        aliases = tuple(redact(a) for a in entry.get("aliases") or () if isinstance(a, str))
        models.append(_Listed(redact(entry["id"]), aliases, Price(**values)))
    return PriceList.of(models, float(fetched))


@dataclass(frozen=True)
class _Listed:
    id: str
    aliases: tuple
    price: Price


def _number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


def write(path: Path | None, listing: PriceList) -> bool:
    """Write `listing` to `path` atomically (a private temporary file renamed over it); whether
    it was written. Never the key: the listing is the server's text, masked as shown, and a file
    in which a key is still found is not written."""
    if path is None:
        return False
    document = {
        "format": FORMAT,
        "about": "xAI's price list (GET /v1/language-models), USD per 1M tokens; grok_magic "
                 "fetches it again when it is a day old.",
        "fetched": listing.fetched,
        "fetched_at": datetime.fromtimestamp(listing.fetched, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "models": [{"id": redact(id_), "aliases": [redact(a) for a in aliases],
                    **{k: getattr(price, k) for k in PRICE_NAMES}}
                   for id_, aliases, price in listing.models],
    }
    if key_in(document) is not None:
        return False
    text = json.dumps(document, indent=1, ensure_ascii=False)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        make_private_folder(path.parent)
        handle = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
        try:
            os.chmod(temporary, PRIVATE_FILE)  # exactly 0600, whatever the umask took away
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                handle = None
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
        finally:
            if handle is not None:
                os.close(handle)
        os.replace(temporary, path)
        return True
    except OSError:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        return False


def known_prices(ledger: Path | str | None) -> Callable[[str | None], Price | None]:
    """A price for each model without asking xAI (for reports): the list in the file beside
    `ledger`, whatever its age, else the built-in table."""
    from grok_magic.xai.pricing import fallback_price

    listing = read(price_file(ledger))

    def price_of(model: str | None) -> Price | None:
        found = listing.prices.get(model) if listing is not None and model else None
        return found or fallback_price(model)

    return price_of


_DEFAULT = object()  # PriceBook's ledger: wherever settings.ledger_location() says
RETRY_AFTER_FAILURE = 600.0  # seconds before a failed fetch of the price list is tried again


class PriceBook:
    """Live prices by model id and alias: xAI's price list, from the file beside the ledger
    while it is under a day old, else fetched (by `load`, which gives `ModelInfo`s) on first need
    and written there; an older file when the fetch fails. Never raises: without
    a list, None (and the built-in table prices the answer)."""

    def __init__(self, load: Callable[[], Iterable], *, clock: Callable[[], float] = time.time
                 ) -> None:
        self._load = load
        self._clock = clock
        self._ledger: object = _DEFAULT
        self._list: PriceList | None = None
        self._read_file = False
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def beside(self, ledger: object) -> None:
        """Keep the list beside the ledger at `ledger` (a path; None: the ledger is off, so no
        file: the list is kept in memory only)."""
        with self._lock:
            if ledger != self._ledger:
                self._ledger, self._read_file = ledger, False

    def _file(self) -> Path | None:
        ledger = self._ledger
        if ledger is _DEFAULT:
            from grok_magic.settings import ledger_location

            ledger = ledger_location()
        return price_file(ledger)

    def current(self, *, fetch: bool = True):
        """The price list (a `PriceList`) or None: fetched when none under a day old
        is at hand and `fetch` is true (at most once per RETRY_AFTER_FAILURE after a failure)."""
        with self._lock:
            now = self._clock()
            if self._list is not None and self._list.fresh(now):
                return self._list
            if fetch or not self._read_file:
                path = self._file()
                on_disk = read(path)
                self._read_file = True
                if on_disk is not None and (self._list is None
                                            or on_disk.fetched > self._list.fetched):
                    self._list = on_disk
                if fetch and (self._list is None or not self._list.fresh(now)) \
                        and now >= self._retry_at:
                    fetched = fetch_list(self._load, now)
                    if fetched is None:
                        self._retry_at = now + RETRY_AFTER_FAILURE
                    else:
                        self._list = fetched
                        write(path, fetched)
            return self._list

    def lookup(self, model: str | None, *, fetch: bool = True) -> tuple[Price, str] | None:
        """(price, where it came from: "xAI's price list of 2026-12-02") for `model` or an alias
        of it, or None."""
        if not model:
            return None
        listing = self.current(fetch=fetch)
        price = listing.prices.get(model) if listing is not None else None
        return None if price is None else (price, listing.source)

    def get(self, model: str | None) -> Price | None:
        found = self.lookup(model)
        return None if found is None else found[0]
