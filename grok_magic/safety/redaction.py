"""The API key as a secret value, and masking it in any text: whole, split, case-changed or encoded."""

from __future__ import annotations

import bisect
import re
import threading
from urllib.parse import unquote

MASK = "***"
LOOKALIKE_MASK = "xai-***"
# xAI keys look like "xai-" followed by a long run of letters and digits; mask lookalikes too.
KEY_LOOKALIKE = re.compile(r"xai-[A-Za-z0-9_\-]{8,}", re.I)
MIN_SECRET_LENGTH = 4
# A run of this many characters of a registered key is masked wherever it appears, so a key the
# server echoes split in two, or cut short, is still hidden.
FRAGMENT = 8
# Percent-encoded runs (e.g. `xai%2Dfake%2D...`) are decoded before they are searched.
_URL_CHAR = r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~+\-])"
# Tried only where a run starts (the lookbehind): the leftmost match always starts there anyway,
# and trying inside long runs made redaction quadratic in a long word with a "%" in the text.
ENCODED_RUN = re.compile(rf"(?<![A-Za-z0-9._~+\-]){_URL_CHAR}*%[0-9A-Fa-f]{{2}}{_URL_CHAR}*")
# The password of a URL's user info (`https://user:pass@proxy/v1`): a scan from each "://" stops
# at the next "/", "@" or space, and the next "://" holds a "/", so it stays linear.
URL_PASSWORD = re.compile(r"(?<=://)([^/@\s:]*):[^/@\s]+@")

# Text is searched folded: ASCII letters lowered (keys are ASCII; str.lower() could change the
# length, and so the offsets, of other text) and URL-safe base64 read as standard base64. Every
# form of a key is folded the same way, so the fold only ever joins what is the same key.
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", "abcdefghijklmnopqrstuvwxyz+/")
# Pieces: a run of FRAGMENT characters of a key is masked wherever it appears; runs of
# SHORT_PIECE or more only when SEVERAL pieces of a key appear in one text (a key cut into
# 6-character bits); an encoded form (base64, hex) is masked from ENCODED_PIECE characters on.
SHORT_PIECE = 6
SEVERAL = 3
ENCODED_PIECE = 16
BASE64_CHAR = re.compile(r"[A-Za-z0-9+/=_\-]")
BASE64_EDGE = 4  # base64 characters either side of a masked run also hold bits of the key
# Characters that show as nothing, stripped before matching so a key with one between every
# letter is still found: Unicode's format characters (Cf, e.g. U+200B zero-width space, U+2060
# word joiner, U+FEFF, the tag characters), plus the combining grapheme joiner and the variation
# selectors, which also render as nothing. The list is checked against unicodedata in the tests.
INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufe00-\ufe0f\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]+"
)

_lock = threading.Lock()
_secrets: list[str] = []  # registered keys, as given
_search: _KeySearch | None = None  # built for the keys registered, rebuilt when one is added


class _KeySearch:
    """Every piece of every registered key, in every form, as one trie-shaped regex.

    A trie (the pieces merged by their common prefixes) is matched in time linear in the text
    whatever the number of pieces, where a flat alternation of several hundred of them would try
    each in turn at every position. The lookahead finds overlapping pieces, so a run of a key is
    covered to its last character."""

    def __init__(self, secrets: list[str]) -> None:
        self.kinds: list[str] = []  # what each form is ("as typed", "in hex", "in base64")
        self.places: dict[str, set[tuple[int, int]]] = {}  # piece -> (form, offset) it is at
        self.blocks: set[str] = set()
        self.shortest = min(FRAGMENT, *map(len, secrets))  # a run this long is masked alone
        for secret in secrets:
            self._add_forms(secret)
        self.pattern = re.compile(f"(?=({_trie_regex(self.places)}))")
        self.prefilter = re.compile(_trie_regex(self.blocks))

    def _add_forms(self, secret: str) -> None:
        raw = secret.encode("utf-8")
        forms = [(secret.translate(_FOLD), SHORT_PIECE, "as typed"),
                 (raw.hex(), ENCODED_PIECE, "in hex"),
                 *((form.translate(_FOLD), ENCODED_PIECE, "in base64")
                   for form in base64_forms(raw))]
        for form, size, kind in forms:
            number = len(self.kinds)
            self.kinds.append(kind)
            for offset, piece in enumerate(_pieces(form, size)):
                self.places.setdefault(piece, set()).add((number, offset))
            # A key's public "xai-" is no block: it is in every text about xAI.
            self.blocks |= _blocks(form, size, phase=3 if form.startswith("xai+") else 0)

    def spans(self, folded: str) -> list[tuple]:
        """(start, end, kind, places of its first piece) of the runs of key pieces in folded
        text, before the rule for short pieces is applied. A run goes on only while each piece
        is the next one of the same form (one place further), so pieces of two keys, or of two
        places in one, that happen to overlap in the text do not add up to a longer run."""
        runs: list[list] = []
        at: set[tuple[int, int]] = set()  # where in which form the run's last piece may be
        last = -2
        for match in (m for a, b in self._windows(folded)
                      for m in self.pattern.finditer(folded, a, b)):
            start, piece = match.start(), match.group(1)
            places = self.places[piece]
            following = {(form, offset + 1) for form, offset in at} & places
            if start == last + 1 and following:
                at = following
                runs[-1][1:3] = start + len(piece), self.kinds[min(at)[0]]
            else:
                at = places
                runs.append([start, start + len(piece), self.kinds[min(places)[0]], places])
            last = start
        return [tuple(run) for run in runs]

    @staticmethod
    def several(runs: list[tuple]) -> set[int]:
        """The forms that SEVERAL or more runs come from, each from another place in it: a key
        cut into bits. One word that happens to be in a key, however often it appears, is not."""
        offsets: dict[int, set[int]] = {}
        for *_, places in runs:
            for form, offset in places:
                offsets.setdefault(form, set()).add(offset)
        return {form for form, found in offsets.items() if len(found) >= SEVERAL}

    def _windows(self, folded: str) -> list[list[int]]:
        """Stretches of the text around each block found: every piece of a key holds a block
        and lies within ENCODED_PIECE characters of it, so only these need the exact search."""
        windows: list[list[int]] = []
        for match in self.prefilter.finditer(folded):
            start, end = max(0, match.start() - ENCODED_PIECE), match.end() + ENCODED_PIECE
            if windows and start <= windows[-1][1]:
                windows[-1][1] = end
            else:
                windows.append([start, end])
        return windows


def _blocks(form: str, size: int, phase: int = 0) -> set[str]:
    """Shorter strings one of which is in any `size`-long piece of `form`: `block` characters
    every `stride`, where stride + block - 1 == size (a piece covers the block that starts at
    the first of them among its first `stride` characters). Searched first, they
    let text that holds no piece of a key (nearly all text) skip the exact search."""
    size = min(size, len(form))
    block = (size + 1) // 2
    stride = size - block + 1
    phase = min(phase, max(0, len(form) - size), stride - 1)
    return {form[k : k + block] for k in range(phase, len(form) - block + 1, stride)}


def _pieces(form: str, size: int) -> list[str]:
    size = min(size, len(form))
    return [form[i : i + size] for i in range(len(form) - size + 1)]


def base64_forms(raw: bytes) -> list[str]:
    """The base64 characters that `raw` fixes on its own, at each of the three alignments it can
    have inside a longer encoded text (`Bearer <key>`, a JSON document…): those whose six bits
    all come from `raw`.

    >>> base64_forms(b"key!")[0]
    'a2V5I'
    """
    import base64

    forms = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode("ascii")
        first = -(-offset * 8 // 6)  # the first character with no bit of the padding
        last = (offset + len(raw)) * 8 // 6  # characters from here hold bits of what follows
        forms.append(encoded[first:last])
    return forms


def _trie_regex(words) -> str:
    """One regex matching any of `words` (the longest where several start at one place)."""
    root: dict = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        inner = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{inner})?" if "" in node else inner

    return emit(root)


class Secret:
    """A key that never shows itself: `repr`/`str` are masked, it cannot be pickled.

    >>> key = Secret("xai-DOCTEST-Xq4Zr8Lw2Pj6Vn0")
    >>> key, f"{key}", key.reveal()[:4]
    (Secret('***'), '***', 'xai-')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The key itself, for the one place that sends it (the Authorization header)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return other._value == self._value
        if isinstance(other, str):
            return other == self._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):
        raise TypeError("an API key is not pickled; load it again from XAI_API_KEY or .env")


def register_secret(key: str | None) -> None:
    """Remember a key in use so that every later redaction masks it, whatever its shape."""
    if not key or len(key) < MIN_SECRET_LENGTH:
        return
    global _search
    with _lock:
        if key not in _secrets:
            _secrets.append(key)
            _search = None


def _key_search() -> _KeySearch | None:
    global _search
    if not _secrets:
        return None
    search = _search
    if search is None:
        with _lock:
            search = _search = _search or _KeySearch(list(_secrets))
    return search


class _Unseen:
    """Text with its invisible characters taken out, and the way back to the original offsets."""

    def __init__(self, text: str) -> None:
        self.kept: list[tuple[int, int]] = []  # (offset in the stripped text, in the original)
        pieces, last, at = [], 0, 0
        for match in INVISIBLE.finditer(text):
            if match.start() > last:
                self.kept.append((at, last))
                pieces.append(text[last : match.start()])
                at += match.start() - last
            last = match.end()
        if last < len(text):
            self.kept.append((at, last))
            pieces.append(text[last:])
        self.text = "".join(pieces)

    def original(self, offset: int) -> int:
        index = bisect.bisect_right(self.kept, (offset, float("inf"))) - 1
        at, origin = self.kept[index]
        return origin + offset - at


def key_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, how) of every form of a registered key in `text`, in order: `how` says the
    form ("as typed", "in base64", "in hex", "with invisible characters between its letters",
    "in pieces").

    >>> register_secret("xai-DOCTEST-Qz7Wv3Kp9Lm2Rt5Yx8Nb")
    >>> [how for *_, how in key_spans("k=eGFpLURPQ1RFU1QtUXo3V3YzS3A5TG0yUnQ1WXg4TmI= ok")]
    ['in base64']
    """
    search = _key_search()
    if search is None or not text:
        return []
    unseen = _Unseen(text) if INVISIBLE.search(text) else None
    folded = (unseen.text if unseen else text).translate(_FOLD)
    runs = search.spans(folded)
    several = search.several(runs)
    spans = []
    for start, end, how, places in runs:
        if how == "as typed" and end - start < FRAGMENT:
            # a piece alone is not a key (unless the key is that short); several of one are
            if end - start < search.shortest and not any(form in several for form, _ in places):
                continue
            how = "in pieces"
        if how == "in base64":
            start, end = _base64_edges(folded, start, end)
        if unseen is not None:
            original = unseen.original(start), unseen.original(end - 1) + 1
            if original[1] - original[0] != end - start and how == "as typed":
                how = "with invisible characters between its letters"
            start, end = original
        spans.append((start, end, how))
    return spans


def _base64_edges(text: str, start: int, end: int) -> tuple[int, int]:
    for _ in range(BASE64_EDGE):
        if start > 0 and BASE64_CHAR.match(text, start - 1):
            start -= 1
    for _ in range(BASE64_EDGE):
        if end < len(text) and BASE64_CHAR.match(text, end):
            end += 1
    return start, end


def redact(text: str, key: str | Secret | None = None) -> str:
    """Mask every registered key (and `key`), pieces of it, and anything that looks like a key.

    >>> redact("bad key xai-QRSTUVWXYZqrstuv")
    'bad key xai-***'
    """
    if not text or not isinstance(text, str):
        return text
    if isinstance(key, Secret):
        key = key.reveal()
    register_secret(key)
    text = ENCODED_RUN.sub(_redact_encoded, text) if "%" in text else text
    spans = key_spans(text)
    if spans:
        out, last = [], 0
        for start, end, _ in spans:
            if start < last:  # edges of two runs may touch
                start = last
            out += [text[last:start], MASK]
            last = max(last, end)
        out.append(text[last:])
        text = "".join(out)
    text = mask_url_credentials(text)
    return KEY_LOOKALIKE.sub(LOOKALIKE_MASK, text)


def mask_url_credentials(url: str) -> str:
    """A URL with the password of its user info masked.

    >>> mask_url_credentials("https://ann:s3cret@proxy.example/v1")
    'https://ann:***@proxy.example/v1'
    """
    return URL_PASSWORD.sub(rf"\1:{MASK}@", url) if "://" in url else url


def _redact_encoded(match: re.Match) -> str:
    run = match.group(0)
    decoded = unquote(run)
    return MASK if key_spans(decoded) or KEY_LOOKALIKE.search(decoded) else run


def key_in(value, where: str = "the request") -> tuple[str, str] | None:
    """(where, how) of the first registered key in a JSON-like value about to be sent — in any
    form `redact` masks (lookalikes aside: only a key in use is refused). Image data is skipped:
    it is the user's own pixels, and megabytes of it.

    >>> register_secret("xai-DOCTEST-Qz7Wv3Kp9Lm2Rt5Yx8Nb")
    >>> key_in({"messages": [{"content": "it is xai-DOCTEST-Qz7Wv3Kp9Lm2Rt5Yx8Nb"}]})
    ("the request's messages[0].content", 'as typed')
    """
    found = _find_key(value, "")
    if found is None:
        return None
    path, how = found
    return (f"{where}'s {path}" if path else where), how


def _find_key(value, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        if value.startswith("data:image/"):
            return None
        spans = key_spans(value) or (key_spans(unquote(value)) if "%" in value else [])
        return (path, spans[0][2]) if spans else None
    if isinstance(value, dict):
        for name, item in value.items():
            inner = f"{path}.{name}" if path else str(name)
            found = (_find_key(name, inner) if isinstance(name, str) else None) or _find_key(
                item, inner)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _find_key(item, f"{path}[{index}]")
            if found:
                return found
    return None


def redact_value(value):
    """A copy of a JSON-like value (dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value
