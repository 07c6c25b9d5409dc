"""VideoJob: a Grok Imagine video being made at xAI — submitted (after the budget check, and
recorded at once so it outlives the kernel), polled on a background thread, its video fetched by
the kernel (no key, capped, checked as an MP4), kept by hash and recorded once.

>>> started = start_video(recorder, client, Imagine("a paper boat", video=True, seconds=5),
...                       Downloader(), folder)                          # doctest: +SKIP
>>> started.wait().clip.path                                              # doctest: +SKIP

`start_video` gives a finished `VideoResponse` straight away when replay answers it from the
ledger; `VideoJob.attach(id, …)` takes up a job after a restart.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from grok_magic.errors import AuthenticationError, GrokError, InputError, NotFoundError
from grok_magic.ledger.canonical import Canonical
from grok_magic.ledger.imagery import (
    MediaMissingError,
    media_store,
    open_generation,
    send_held,
)
from grok_magic.ledger.media import MediaStore
from grok_magic.ledger.videos import (
    Clip,
    JobInfo,
    VideoFailed,
    VideoResponse,
    ended_entry,
    pending_job,
    record_end,
    record_submitted,
    replayed_video,
    submitted_job,
)
from grok_magic.runs.batch_job import PollSchedule
from grok_magic.xai.imagine import VideoState, submit_video, video_seconds, video_state

if TYPE_CHECKING:
    from grok_magic.imagine import Imagine
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.xai.client import GrokClient
    from grok_magic.xai.downloads import Downloader

VIDEO_SCHEDULE = PollSchedule(first=2.0, factor=1.5, floor=5.0, cap=15.0, quick_for=60.0)
NEVER_STARTED = "no job was started"
_LIVE: dict[str, VideoJob] = {}  # jobs being watched in this kernel, by id: attached once
_LIVE_LOCK = threading.Lock()


class VideoPendingError(InputError):
    """The video is not ready yet."""


def start_video(recorder: Recorder, client: GrokClient, request: Imagine, downloader: Downloader,
                folder: Path | None, *, out_name: str | None = None,
                schedule: PollSchedule | None = None) -> VideoJob | VideoResponse:
    """The video `request` asks for: replayed from the ledger when replay allows (a finished
    VideoResponse, its clip copied into `folder`), else checked against the budgets at its
    price (seconds × price per second), submitted and recorded: the VideoJob to watch."""
    body, canonical, store, replayed = open_generation(recorder, request, replayed_video,
                                                       "this video, but its file is")
    if replayed is not None:
        shown_from(folder, replayed.clip, store)
        return replayed
    running = running_job(recorder, canonical)
    if running is not None:  # the same cell run again while its video is being made
        found = VideoJob.attach(running.request_id, recorder, client, downloader, folder,
                                schedule=schedule)
        if isinstance(found, VideoJob):
            found.followed_again = True
        return found
    request_id, hold = send_held(recorder, client, body, request,
                                 lambda: submit_video(client, body, timeout=request.timeout))
    info = record_submitted(recorder, canonical, request, request_id, video_seconds(body),
                            out_name)
    return VideoJob(info, recorder, client, downloader, folder, hold=hold, schedule=schedule)


def running_job(recorder: Recorder, canonical: Canonical) -> JobInfo | None:
    """A job for this very request that has not ended: one this kernel watches, else one the
    ledger has as submitted (by any kernel, within a day) with no end recorded."""
    with _LIVE_LOCK:
        live = next((job.info for job in _LIVE.values()
                     if job.info.canonical.hash == canonical.hash), None)
    return live or pending_job(recorder.ledger, canonical)


def shown_from(folder: Path | None, clip: Clip | None, store: MediaStore | None) -> None:
    """Keep `clip` in the ledger's media `store` and a copy in `folder` (where the notebook
    shows it from; the same file when they are one folder); `clip.path` is that copy."""
    if clip is None:
        return
    target = MediaStore(folder) if folder is not None else store
    if store is not None:
        store.put(clip.data, clip.media_type)
    if target is not None:
        target.put(clip.data, clip.media_type)
        clip.path = target.path(clip.sha256, clip.media_type)


class VideoJob:
    """A video job at xAI: `.look()` (one status request), `.wait(timeout)` (the finished
    VideoResponse, or raises its failure), `.watch(on_update, on_done)` on a background thread.
    `state` is xAI's last word; once ended, `result` (the video) or `error` (why not)."""

    def __init__(self, info: JobInfo, recorder: Recorder, client: GrokClient,
                 downloader: Downloader, folder: Path | None, *, hold=None,
                 schedule: PollSchedule | None = None) -> None:
        self.info, self.recorder, self.client = info, recorder, client
        self.downloader, self.folder, self.hold = downloader, folder, hold
        self.id = info.request_id
        self.schedule = schedule or VIDEO_SCHEDULE
        self.state: VideoState | None = None
        self.result: VideoResponse | None = None
        self.error: GrokError | None = None  # why it ended without a video (or watching stopped)
        self.check_error: GrokError | None = None  # the last look failed (retried)
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self.followed_again = False  # handed to a re-run of its cell (until it shows)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listeners: list[tuple] = []  # (context, on_update, on_done) of each watcher
        self._listen_lock = threading.Lock()

    @classmethod
    def attach(cls, request_id: str, recorder: Recorder, client: GrokClient,
               downloader: Downloader, folder: Path | None,
               schedule: PollSchedule | None = None) -> VideoJob | VideoResponse:
        """A job from the ledger (after a restart): the one this kernel already watches, the
        finished video when its end is recorded (no request), else a job to watch."""
        with _LIVE_LOCK:
            live = _LIVE.get(request_id)
        if live is not None:
            return live
        ledger = recorder.ledger
        ended = ended_entry(ledger, request_id)
        if ended is not None:
            if ended.status != "ok":
                raise VideoFailed(f"video job {request_id} ended without a video: "
                                  f"{ended.error or ended.status}. It cost $0",
                                  hint="Run the cell again to ask for a new one.")
            store = media_store(recorder)
            replayed = replayed_video(ended, store)
            if replayed is None:
                raise MediaMissingError(
                    f"video job {request_id} finished, but its file is not in "
                    f"{store.folder if store else 'a media folder'}",
                    hint="Copy the ledger's .media folder back beside it.")
            shown_from(folder, replayed.clip, store)
            return replayed
        info = submitted_job(ledger, request_id)
        if info is None:
            where = f"the ledger {ledger.path}" if ledger is not None else "the ledger (it is off)"
            raise InputError(f"there is no video job {request_id!r} in {where}",
                             hint="Use the id the video cell showed (%grok log lists the jobs "
                                  "as \"submitted\" rows).")
        return cls(info, recorder, client, downloader, folder, schedule=schedule)

    # -- where it is -----------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        """Seconds since xAI took the job (in this kernel or an earlier one)."""
        started = datetime.fromisoformat(self.info.created.replace("Z", "+00:00")).timestamp()
        return max(time.time() - started, 0.0)

    @property
    def done(self) -> bool:
        return self.ended.is_set()

    def look(self) -> VideoState:
        """Ask xAI once where the job stands; when it has ended, fetch and record its video
        (or its failure)."""
        state = video_state(self.client, self.id)
        with self._lock:
            self.state = state
        if state.ended:
            self._end(state)
        return state

    def _end(self, state: VideoState) -> None:
        with self._lock:
            if self.ended.is_set():
                return
            try:
                self._finish(state)
            finally:
                self.ended.set()
                with _LIVE_LOCK:
                    _LIVE.pop(self.id, None)

    def _finish(self, state: VideoState) -> None:
        settles = self.hold.settles if self.hold is not None else ()
        if self.hold is not None:
            self.recorder.purse.release(self.hold)
        took = self.elapsed
        if state.status != "done":
            why = ("xAI let the job expire before it was done" if state.status == "expired"
                   else f"xAI could not make it: {state.error or 'the job failed'}")
            self.error = VideoFailed(f"video job {self.id}: {why}. It cost $0",
                                     hint="Run the cell again to ask for a new one.")
            record_end(self.recorder, self.info, None, self.error, took, settles)
            return
        from grok_magic.xai.downloads import DownloadError, fetch_video

        seconds = state.seconds or float(self.info.seconds)
        response = VideoResponse(model=state.model or self.info.model,
                                 requested_model=self.info.model, usage=state.usage,
                                 request_id=self.id, seconds=seconds, job=self.id)
        response.started = time.monotonic() - took
        url, state.url = state.url, None  # used once, never kept
        try:
            fetched = fetch_video(self.downloader, url)
        except DownloadError as err:
            self.error = err
            response.add_text(f"[video] {seconds:g} s, not fetched")
            response.finish(partial=True)
            response.error = err.paragraph()
        else:
            response.clip = Clip(fetched.data, seconds, fetched.media_type)
            shown_from(self.folder, response.clip, media_store(self.recorder))
            response.add_text(f"[video] {seconds:g} s")
            response.finish()
        record_end(self.recorder, self.info, response, None, took, settles)
        self.result = response

    # -- waiting ---------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> VideoResponse:
        """Block until the job has ended (and, when watched, its watcher has shown it); the
        finished video, or raises why there is none."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(timeout)
        delay = None
        while not self.ended.is_set() and (self._thread is None or not self._thread.is_alive()):
            if self.error is not None and self._thread is not None:
                break  # the watch stopped for good (a key that stopped working)
            self.look()
            if self.ended.is_set():
                break
            delay = self.schedule.next(self.elapsed, delay)
            if deadline is not None and time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
        if not self.ended.is_set() or (self._thread is not None and self._thread.is_alive()):
            if self.error is not None:
                raise self.error
            progress = self.state.progress if self.state is not None else None
            raise VideoPendingError(
                f"video job {self.id} is still being made"
                f"{f' ({progress} %)' if progress is not None else ''}",
                hint="Wait longer, or look later: %grok video ID re-attaches it after a restart.")
        if self.error is not None:
            raise self.error
        return self.result

    def watch(self, on_update: Callable[[VideoJob], None],
              on_done: Callable[[VideoJob], None]) -> threading.Thread | None:
        """Poll on a background thread (never blocking the kernel): `on_update(job)` after each
        look, `on_done(job)` once it has ended. 429s, 5xx and a lost network are retried with
        backoff; a key that stopped working, or a job xAI does not know, ends the watch.
        Watching a job already watched adds a listener to the same thread (one poll for both),
        and a job whose watch has ended tells `on_done` at once."""
        # Each listener keeps its caller's context: what it displays belongs to its own cell.
        listener = (contextvars.copy_context(), on_update, on_done)
        with self._listen_lock:
            finished = self.ended.is_set() and not self._listeners
            thread = self._thread
            if not finished:
                self._listeners.append(listener)
                if thread is None or not thread.is_alive():
                    self._stop.clear()
                    thread = self._thread = threading.Thread(
                        target=self._poll, name=f"grok-video-{self.id}", daemon=True)
                    with _LIVE_LOCK:
                        _LIVE[self.id] = self
                    thread.start()
        if finished:
            on_done(self)
        return thread

    def _poll(self) -> None:
        delay: float | None = None
        while not self._stop.is_set():
            try:
                self.look()
                self.check_error = None
            except (AuthenticationError, NotFoundError) as err:
                self.error = err
                with _LIVE_LOCK:
                    _LIVE.pop(self.id, None)
                self._tell(done=True)
                return
            except GrokError as err:  # rate limited, server trouble, network: try again
                self.check_error = err
            if self.ended.is_set():
                self._tell(done=True)
                return
            self._tell(done=False)
            delay = self.schedule.next(self.elapsed, delay)
            if self._stop.wait(delay):
                return

    def _tell(self, *, done: bool) -> None:
        """Every listener, each in its own context; after the end, none is kept."""
        with self._listen_lock:
            listeners = list(self._listeners)
            if done:
                self._listeners.clear()
        for context, on_update, on_done in listeners:
            context.run(on_done if done else on_update, self)

    def stop_watching(self) -> None:
        self._stop.set()

    def __repr__(self) -> str:
        if self.ended.is_set():
            state = "done" if self.result is not None and self.error is None else "failed"
        else:
            state = self.state.status if self.state is not None else "submitted"
        return f"<VideoJob {self.id}: {state}, {self.elapsed:.0f} s>"
