"""Fetching what xAI made (images, videos) from the temporary URLs it gives: by the kernel,
never by the page, and never with the key.

The files sit on another host than the API, so the request carries no Authorization header
(its own session: the API session's auth is never attached). Redirects are refused (a URL
that moves could move to a host that should not see the request); the type the server
declares must be one asked for and agree with the file's first bytes; and the body is read
up to a cap, so a hostile or broken server cannot fill memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from grok_magic._version import __version__
from grok_magic.errors import GrokError
from grok_magic.safety.redaction import redact

MAX_IMAGE_BYTES = 40 * 1024 * 1024  # a 2k PNG is a few MB; xAI sends JPEG
MAX_VIDEO_BYTES = 300 * 1024 * 1024  # 15 s at 720p is tens of MB
CHUNK = 256 * 1024
TIMEOUT = (10.0, 60.0)  # seconds to connect, and between bytes
VIDEO_TYPES = {"video/mp4": lambda data: data[4:8] == b"ftyp"}
EXPIRED_HINT = ("xAI keeps what it made at its URL only for a while. Run the cell again to make "
                "new ones (that is billed again); a generation once fetched is kept in the "
                "ledger's media folder and replays from there.")


class DownloadError(GrokError):
    """Could not fetch what xAI made."""


@dataclass
class Fetched:
    data: bytes
    media_type: str


def where(url: str) -> str:
    """The host a URL names, for messages (never its path or query: a signed URL's token)."""
    return redact(urlsplit(url).hostname or "?")


class Downloader:
    """Fetches files from xAI's file hosts over one keep-alive session with no auth."""

    def __init__(self, timeout: tuple[float, float] = TIMEOUT) -> None:
        self.timeout = timeout
        self._session = None
        self._lock = threading.Lock()

    @property
    def session(self):
        with self._lock:
            if self._session is None:
                import requests

                self._session = requests.Session()
                self._session.headers["User-Agent"] = f"grok-magic/{__version__}"
                self._session.trust_env = False  # no .netrc credentials, ever
            return self._session

    def fetch(self, url: str, types: Collection[str], *, max_bytes: int,
              sniff: Callable[[bytes], str | None] | None = None) -> Fetched:
        """The file at `url`, of one of `types` (checked against its first bytes by `sniff`:
        the type they hold, or None), at most `max_bytes`; raises DownloadError."""
        import requests

        host = where(url)
        if urlsplit(url).scheme not in ("http", "https"):
            raise DownloadError(f"xAI gave a file address that is not http(s) (on {host}); "
                                "nothing was fetched")
        failure = None
        try:
            http = self.session.get(url, stream=True, timeout=self.timeout,
                                    allow_redirects=False, headers={"Accept": ", ".join(types)})
        except requests.RequestException as exc:
            failure = f"could not fetch the file from {host}: {type(exc).__name__}"
        if failure is not None:  # raised outside the except: requests' frames stay out
            raise DownloadError(failure)
        try:
            return self._read(http, host, types, max_bytes, sniff)
        finally:
            http.close()

    def _read(self, http, host: str, types, max_bytes: int, sniff) -> Fetched:
        import requests

        status = http.status_code
        if 300 <= status < 400:
            raise DownloadError(f"the file's address on {host} answered with a redirect (HTTP "
                                f"{status}), which grok_magic does not follow; nothing was kept")
        if status in (403, 404, 410):
            raise DownloadError(f"the file is no longer at its address on {host} (HTTP "
                                f"{status}): the URL xAI gave has expired", hint=EXPIRED_HINT)
        if status >= 400:
            raise DownloadError(f"{host} answered HTTP {status} for the file")
        declared = (http.headers.get("content-type") or "").split(";")[0].strip().lower()
        if declared not in types:
            raise DownloadError(f"{host} sent {redact(declared[:60]) or 'no content type'} where "
                                f"{' or '.join(sorted(types))} was expected; nothing was kept")
        length = http.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise DownloadError(f"the file on {host} is {int(length):,} bytes, over the "
                                f"{max_bytes:,}-byte limit; nothing was kept")
        data = bytearray()
        try:
            for chunk in http.iter_content(CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise DownloadError(f"the file on {host} is over the {max_bytes:,}-byte "
                                        "limit; nothing was kept")
        except (requests.RequestException, OSError) as exc:
            reason = type(exc).__name__
        else:
            reason = None
        if reason is not None:
            raise DownloadError(f"the connection to {host} broke while the file was arriving "
                                f"({reason})")
        found = sniff(bytes(data[:16])) if sniff is not None else declared
        if found != declared:
            raise DownloadError(f"{host} declared {declared} but the file holds "
                                f"{found or 'something else'}; nothing was kept")
        return Fetched(bytes(data), declared)

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None


def fetch_pictures(downloader: Downloader, response, *, max_bytes: int = MAX_IMAGE_BYTES,
                   concurrency: int = 4) -> list[DownloadError]:
    """Fetch every picture of `response` (an ImageResponse) that came as a URL, a few at once,
    checking each decodes as the image it claims; the URL is dropped once used. The errors of
    the ones that could not be fetched (their `data` stays None)."""
    from concurrent.futures import ThreadPoolExecutor

    from grok_magic.xai.imagine import IMAGE_TYPES, media_type_of

    def one(picture) -> DownloadError | None:
        if picture.url is None:
            return check_picture(picture)
        url, picture.url = picture.url, None
        try:
            fetched = downloader.fetch(url, IMAGE_TYPES, max_bytes=max_bytes, sniff=media_type_of)
        except DownloadError as err:
            return err
        picture.data = fetched.data
        return check_picture(picture)

    pictures = list(response.pictures)
    if len(pictures) == 1:
        results = [one(pictures[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(pictures))) as pool:
            results = list(pool.map(one, pictures))
    return [err for err in results if err is not None]


def check_picture(picture) -> DownloadError | None:
    """None when `picture.data` is a whole PNG or JPEG (its type and size now set); else the
    error, and the data dropped."""
    import io

    from PIL import Image

    from grok_magic.xai.imagine import media_type_of

    kind = media_type_of(picture.data or b"")
    try:
        with Image.open(io.BytesIO(picture.data or b"")) as image:
            image.verify()
            picture.width, picture.height = image.size
            fmt = image.format
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for a broken file
        fmt = None
    if kind is None or {"PNG": "image/png", "JPEG": "image/jpeg"}.get(fmt or "") != kind:
        picture.data = None
        return DownloadError("xAI sent an image that does not decode as a PNG or JPEG; it was "
                             "not kept")
    picture.media_type = kind
    return None


def video_type_of(head: bytes) -> str | None:
    """The video type the first bytes of a file show (an MP4's `ftyp` box), else None."""
    return next((kind for kind, looks in VIDEO_TYPES.items() if looks(head)), None)


def fetch_video(downloader: Downloader, url: str, *, max_bytes: int | None = None) -> Fetched:
    """The video xAI made, from its temporary `url`: an MP4 (declared and by its first bytes),
    at most `max_bytes` (MAX_VIDEO_BYTES), fetched like the images (no key, no redirect);
    raises DownloadError."""
    return downloader.fetch(url, VIDEO_TYPES, max_bytes=max_bytes or MAX_VIDEO_BYTES,
                            sniff=video_type_of)
