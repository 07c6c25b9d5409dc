"""xAI's Files and Batch API over the client's transport (retries, errors, key hygiene): upload
a JSONL file, create a batch from it, read its state, page through its results, cancel it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from grok_magic.errors import APIStatusError, InputError
from grok_magic.safety.redaction import redact
from grok_magic.xai.client import GrokClient

# xAI publishes no size limit for batch input files; OpenAI-style APIs take 100–200 MB. A run
# whose JSONL is larger is split into several files, one batch each (the parts of one job).
MAX_UPLOAD_BYTES = 100 * 2**20
RESULTS_PAGE = 1000  # the most results the API returns per page
CHAT_URL = "/v1/chat/completions"
RESPONSES_URL = "/v1/responses"  # its results come back as chat completions too
LINE_URLS = {"chat": CHAT_URL, "responses": RESPONSES_URL}


def line_url(body: dict) -> str:
    """The endpoint a batch line with `body` names: a Responses body has `input`."""
    return LINE_URLS["responses" if "input" in body else "chat"]


class BatchTooLargeError(InputError):
    """Batch too large."""


class BatchPendingError(InputError):
    """Batch still running."""


@dataclass(frozen=True)
class BatchStatus:
    """A batch as xAI last described it."""

    id: str
    name: str | None
    requests: int
    pending: int
    success: int
    error: int
    cancelled: int
    created: str | None = None
    expires: str | None = None
    cancelled_at: str | None = None
    cancel_by_xai_message: str | None = None

    @classmethod
    def from_json(cls, data: Mapping) -> BatchStatus:
        state = data.get("state") or {}
        return cls(
            id=redact(str(data.get("batch_id") or data.get("id") or "")),
            name=data.get("name"), requests=int(state.get("num_requests") or 0),
            pending=int(state.get("num_pending") or 0), success=int(state.get("num_success") or 0),
            error=int(state.get("num_error") or 0), cancelled=int(state.get("num_cancelled") or 0),
            created=data.get("create_time"), expires=data.get("expire_time"),
            cancelled_at=data.get("cancel_time"),
            cancel_by_xai_message=redact(data["cancel_by_xai_message"])
            if data.get("cancel_by_xai_message") else None,
        )

    @classmethod
    def combine(cls, parts: list[BatchStatus]) -> BatchStatus:
        """One status for a job of several batches (its first batch's id)."""
        first = parts[0]
        if len(parts) == 1:
            return first
        pending = [p for p in parts if p.pending]
        expires = [p.expires for p in (pending or parts) if p.expires]
        return cls(
            id=first.id, name=first.name, requests=sum(p.requests for p in parts),
            pending=sum(p.pending for p in parts), success=sum(p.success for p in parts),
            error=sum(p.error for p in parts), cancelled=sum(p.cancelled for p in parts),
            created=first.created, expires=min(expires) if expires else None,
            cancelled_at=next((p.cancelled_at for p in parts if p.cancelled_at), None),
            cancel_by_xai_message=next((p.cancel_by_xai_message for p in parts
                                        if p.cancel_by_xai_message), None),
        )

    @property
    def done(self) -> int:
        return self.success + self.error

    @property
    def state(self) -> str:
        """pending, done, cancelled (by you or by xAI) or expired."""
        expired = bool(self.expires) and _past(self.expires)
        if self.pending:
            return "expired" if expired else "pending"
        if self.cancelled:  # requests that will never be answered: by you, by xAI, or by time
            return "expired" if expired and not self.cancelled_at else "cancelled"
        return "done"

    @property
    def finished(self) -> bool:
        return self.state != "pending"


def _past(moment: str) -> bool:
    try:
        when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return False
    return when.timestamp() < datetime.now().timestamp()


class MultipartFile:
    """A multipart/form-data body streamed from a file on disk (with its length, so it is sent
    with Content-Length rather than chunked)."""

    def __init__(self, path: Path, fields: Mapping[str, str], name: str = "file") -> None:
        self.boundary = f"grok-{uuid.uuid4().hex}"
        head = "".join(f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{k}\""
                       f"\r\n\r\n{v}\r\n" for k, v in fields.items())
        head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                 f"filename=\"{path.name}\"\r\nContent-Type: application/jsonl\r\n\r\n")
        self._parts = [head.encode(), None, f"\r\n--{self.boundary}--\r\n".encode()]
        self._path = path
        self._size = path.stat().st_size
        self._file = None
        self._index = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._parts[0]) + self._size + len(self._parts[2])

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while self._index < 3 and (size < 0 or len(out) < size):
            want = -1 if size < 0 else size - len(out)
            if self._index == 1:
                if self._file is None:
                    self._file = open(self._path, "rb")  # noqa: SIM115 - closed at its end
                data = self._file.read(want)
                if not data:
                    self._file.close()
                    self._index += 1
                out += data
                continue
            part = self._parts[self._index]
            taken = part if want < 0 else part[:want]
            self._parts[self._index] = part[len(taken):]
            if not self._parts[self._index]:
                self._index += 1
            out += taken
        return bytes(out)


class BatchAPI:
    """The Batch API calls, through `client`'s transport."""

    def __init__(self, client: GrokClient) -> None:
        self.client = client

    def upload(self, path: Path, purpose: str = "batch") -> str:
        """Upload a JSONL file; xAI's file id."""
        size = os.path.getsize(path)
        if size > MAX_UPLOAD_BYTES:
            raise BatchTooLargeError(
                f"the batch input is {size / 2**20:,.1f} MiB, over the "
                f"{MAX_UPLOAD_BYTES / 2**20:,.0f} MiB a file may hold; nothing was uploaded",
                hint="Send fewer or smaller items (images are scaled by --max-image-side).")

        def body():
            multipart = MultipartFile(Path(path), {"purpose": purpose})
            return multipart, multipart.content_type

        http = self.client.send("POST", "/files", upload=body, timeout=600)
        data = self.client.read_json(http, "the uploaded file")
        if not isinstance(data, Mapping) or not data.get("id"):
            raise APIStatusError("xAI accepted the upload but sent no file id",
                                 status=http.status_code)
        return str(data["id"])

    def create(self, name: str, file_id: str) -> BatchStatus:
        return self._post("/batches", {"name": name, "input_file_id": file_id})

    def status(self, batch_id: str) -> BatchStatus:
        return BatchStatus.from_json(self._json(self.client.get_json(f"/batches/{batch_id}")))

    def cancel(self, batch_id: str) -> BatchStatus:
        return self._post(f"/batches/{batch_id}:cancel", {})

    def results(self, batch_id: str, *, token: str | None = None,
                page_size: int = RESULTS_PAGE) -> Iterator[tuple[list[dict], str | None]]:
        """Pages of results from `token` on: (results, the token that fetched this page)."""
        while True:
            query = f"?limit={page_size}" + (f"&pagination_token={token}" if token else "")
            data = self._json(self.client.get_json(f"/batches/{batch_id}/results{query}"))
            yield list(data.get("results") or []), token
            token = data.get("pagination_token")
            if not token:
                return

    def _post(self, path: str, body: Mapping) -> BatchStatus:
        http = self.client.send("POST", path, body)
        return BatchStatus.from_json(self._json(self.client.read_json(http, f"the answer to {path}")))

    @staticmethod
    def _json(data: object) -> Mapping:
        if not isinstance(data, Mapping):
            raise APIStatusError("xAI's answer about the batch is not a JSON object")
        return data
