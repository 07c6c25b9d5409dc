"""The ledger's side of Grok Imagine video jobs, which outlive the kernel that started them.

A job is recorded the moment xAI takes it: a row of status "submitted" under the key
`video-job:<id>` (its canonical request, prompt, length asked for and OUT name), so a restarted
kernel finds it (`%grok video ID`). Its end is recorded once, under `video:<id>`, however often
the job is re-attached: the video by content hash (the bytes in the media folder beside the
ledger, see ledger.media) and its cost; a job xAI failed or let expire is an error row at $0.
A finished video replays like any answer (same request, offline, $0).

The kernel keeps a copy of each video where the notebook can show it: `grok-media/` beside the
notebook (`media_folder_for`), never xAI's temporary URL.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from grok_magic.errors import GrokError
from grok_magic.ledger.canonical import Canonical
from grok_magic.xai.imagine import ImageResponse

if TYPE_CHECKING:
    from grok_magic.imagine import Imagine
    from grok_magic.ledger.media import MediaStore
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.ledger.store import Entry, Ledger

SUBMITTED = "submitted"  # the status of a job's first row: xAI took it, no video yet
NOTEBOOK_MEDIA = "grok-media"  # the folder beside the notebook that its videos are shown from
VIDEO_TYPE = "video/mp4"
REATTACH_WITHIN = 24 * 3600.0  # seconds: a job submitted longer ago is not followed by a re-run


def job_key(request_id: str) -> str:
    return f"video-job:{request_id}"


def end_key(request_id: str) -> str:
    return f"video:{request_id}"


class VideoFailed(GrokError):
    """Grok Imagine could not make the video."""


@dataclass
class Clip:
    """A video the kernel fetched: its bytes, length, and the copy the notebook shows (`path`)."""

    data: bytes = field(repr=False)
    seconds: float
    media_type: str = VIDEO_TYPE
    path: Path | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def record(self) -> dict:
        """What the ledger keeps of it (the bytes go to the media folder, by hash)."""
        return {"kind": "video", "sha256": self.sha256, "media_type": self.media_type,
                "bytes": len(self.data), "seconds": self.seconds}


@dataclass
class VideoResponse(ImageResponse):
    """A finished video job as a Response (counted, priced and recorded like an answer): its
    `clip`, and xAI's job id."""

    kind: str = "video"
    clip: Clip | None = None
    job: str | None = None


@dataclass(frozen=True)
class JobInfo:
    """What the ledger keeps of a submitted job, to finish it in any kernel."""

    request_id: str
    canonical: Canonical
    seconds: int
    model: str | None
    created: str  # UTC, ISO 8601
    source: str = "cell"
    cell: int | None = None
    out_name: str | None = None

    @classmethod
    def of(cls, entry: Entry) -> JobInfo:
        """From the job's "submitted" row."""
        item = next((i for i in entry.media_items if i.get("kind") == "video_job"), {})
        canonical = Canonical(json.loads(entry.request), entry.request, entry.request_hash)
        seconds = item.get("seconds")
        return cls(str(entry.request_id), canonical,
                   seconds if isinstance(seconds, int) else 0, entry.model_asked, entry.time,
                   entry.source, entry.cell, item.get("out_name") or None)


def record_submitted(recorder: Recorder, canonical: Canonical, request: Imagine,
                     request_id: str, seconds: int, out_name: str | None) -> JobInfo:
    """Record that xAI took the job `request_id` (nothing billed yet); what was kept."""
    from grok_magic.ledger.rows import entry_for

    entry = entry_for(canonical, session=recorder.session, notebook=recorder.notebook,
                      source=request.source, cell=request.cell, response=None, error=None,
                      seconds=None, api="videos")
    entry.status, entry.error, entry.cost = SUBMITTED, None, 0.0
    entry.request_id = request_id
    entry.media = json.dumps([{"kind": "video_job", "request_id": request_id,
                               "seconds": seconds, "out_name": out_name}])
    recorder.keep(entry, job_key(request_id))
    return JobInfo(request_id, canonical, seconds, request.model_name, entry.time,
                   request.source, request.cell, out_name)


def submitted_job(ledger: Ledger | None, request_id: str) -> JobInfo | None:
    entry = ledger.keyed(job_key(request_id)) if ledger is not None else None
    return JobInfo.of(entry) if entry is not None else None


def pending_job(ledger: Ledger | None, canonical: Canonical,
                within: float = REATTACH_WITHIN) -> JobInfo | None:
    """The newest job for this very request that xAI took in the last `within` seconds and
    whose end is not recorded yet: a cell run again while its video is being made follows
    that job instead of paying for a second one."""
    if ledger is None:
        return None
    rows = ledger.entries(request_hash=canonical.hash, status=SUBMITTED, limit=20)[::-1]
    ended = ledger.known_keys([end_key(str(r.request_id)) for r in rows]) if rows else set()
    now = datetime.now(timezone.utc)
    for row in rows:
        created = datetime.fromisoformat(row.time.replace("Z", "+00:00"))
        if end_key(str(row.request_id)) not in ended and \
                (now - created).total_seconds() <= within:
            return JobInfo.of(row)
    return None


def ended_entry(ledger: Ledger | None, request_id: str) -> Entry | None:
    """The row of the job's end (its video, or its failure), once recorded."""
    return ledger.keyed(end_key(request_id)) if ledger is not None else None


def record_end(recorder: Recorder, job: JobInfo, response: VideoResponse | None,
               error: GrokError | None, seconds: float, settles: tuple = ()) -> bool:
    """Count and record the job's end once (its video, or `error` at $0), settling what it
    held; False when it was recorded already (the job re-attached after it ended)."""
    from grok_magic.ledger.rows import entry_for

    ledger = recorder.ledger if recorder.ledger is not None and recorder.ledger.can_write() \
        else None
    key = end_key(job.request_id)
    if ledger is not None and ledger.known_keys([key]):
        if settles:
            ledger.release(settles)
        return False
    if response is not None:
        recorder.tally.add(response)
    entry = entry_for(job.canonical, session=recorder.session, notebook=recorder.notebook,
                      source=job.source, cell=job.cell, response=response, error=error,
                      seconds=seconds, api="videos")
    entry.request_id = job.request_id
    if response is None:
        entry.cost, entry.model_asked = 0.0, job.model  # a failed or expired job costs nothing
    elif response.clip is not None:
        entry.media = json.dumps([response.clip.record()])
    if not recorder.keep(entry, key, settles) and settles and recorder.ledger is not None:
        recorder.ledger.release(settles)
    return True


def replayed_video(entry: Entry, store: MediaStore | None) -> VideoResponse | None:
    """The video `entry` recorded, its bytes read back from `store`; None when missing there."""
    item = next((i for i in entry.media_items if i.get("kind") == "video"), None)
    if item is None or store is None:
        return None
    data = store.get(str(item.get("sha256")), str(item.get("media_type") or VIDEO_TYPE))
    if data is None:
        return None
    seconds = float(item.get("seconds") or 0)
    response = VideoResponse(model=entry.model_served, requested_model=entry.model_asked,
                             replay_of=entry.id, original_cost=entry.cost,
                             request_id=entry.request_id, seconds=seconds,
                             clip=Clip(data, seconds, str(item.get("media_type") or VIDEO_TYPE)),
                             job=entry.request_id)
    response.add_text(entry.answer or "")
    return response.finish()


def notebook_folder(notebook: str | None) -> Path | None:
    """The folder of the notebook this kernel runs, when known: Jupyter sets JPY_SESSION_NAME
    (the notebook's path) and starts the kernel in the notebook's folder."""
    if not notebook:
        return None
    path = Path(notebook)
    return path.parent if path.is_absolute() else Path.cwd()


def media_folder_for(setting: str, notebook: str | None, ledger_path: Path | None) -> Path | None:
    """Where a notebook's videos are kept to be shown: `setting` (GrokMagics.media_dir) when
    given, else grok-media beside the notebook, else the ledger's media folder (None: the
    ledger is off and the notebook unknown — the working directory's grok-media then)."""
    from grok_magic.ledger.media import media_folder

    if setting:
        return Path(os.path.expanduser(setting))
    folder = notebook_folder(notebook)
    if folder is not None:
        return folder / NOTEBOOK_MEDIA
    return media_folder(ledger_path) if ledger_path is not None else Path.cwd() / NOTEBOOK_MEDIA
