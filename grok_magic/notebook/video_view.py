"""Front: `%%grok --video` — the job submitted (or the video replayed from the ledger), a job
display that the job's background watcher updates (xAI's progress, the time elapsed) and that
ends as the video with its cost line; `%grok video ID` re-attaches a job after a restart.

The video is shown as `<video controls src="grok-media/….mp4">`: our own HTML (no model text
in it), the file the kernel downloaded, named relative to the notebook's folder so Jupyter
serves it. Not xAI's URL (temporary, and it would be saved in the notebook), and not the bytes
inlined (`IPython.display.Video(embed=True)` would put megabytes of base64 in the notebook).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from IPython.display import display

from grok_magic.notebook.display import failure_bundle, plain_twin, wrap
from grok_magic.notebook.options import RESULT_NAME
from grok_magic.xai.pricing import format_cost

if TYPE_CHECKING:
    from grok_magic.ledger.videos import Clip, VideoResponse
    from grok_magic.notebook.options import GrokOptions
    from grok_magic.runs.video_job import VideoJob

JOB_NAME = "_grok_video"  # the user-namespace name of the last video job
SHOWN_WIDTH = 640  # px


def run_video(magics: GrokOptions, args, text: str):
    """`%%grok --video`: submit the job and follow it (the cell returns at once), or show the
    video replayed from the ledger; `--dry-run` shows the body and the planned cost."""
    from grok_magic.ledger.videos import VideoResponse
    from grok_magic.notebook.imagine_view import imagine_request
    from grok_magic.notebook.reports import DryRun
    from grok_magic.runs.video_job import start_video

    client = magics.client(args.timeout)  # settings loaded once: the key is registered now
    keys_found: list | None = [] if args.dry_run else None
    request = imagine_request(magics, args, text, keys_found=keys_found)
    body = request.body()
    if args.dry_run:
        from grok_magic.xai.imagine import video_seconds

        start = " from the cell's image" if request.references else ""
        note = (f"It would make a {video_seconds(body)} s video{start}, "
                f"{format_cost(request.estimate(body), estimate=True)} by the built-in prices "
                "(a job: the cell returns at once and shows the video when xAI has made it).")
        dry = DryRun(f"{client.settings.base_url}{request.endpoint}", body, note=note,
                     refused=keys_found[0] if keys_found else None)
        if args.out:
            magics.user_ns[args.out] = dry.body
        return display(dry)
    started = start_video(magics.recorder, client, request, magics.downloader,
                          video_folder(magics), out_name=args.out,
                          schedule=magics.video_schedule)
    usage = magics.show_usage and not args.quiet
    if isinstance(started, VideoResponse):  # replayed from the ledger: shown at once
        return show_finished(magics, started, args.out, usage)
    follow(magics, started, args.out, usage)
    return None


def video(magics: GrokOptions, rest: str):
    """`%grok video ID`: re-attach a video job (after a restart too) — followed while xAI is
    making it, shown from the ledger once it is done."""
    from IPython.core.error import UsageError

    from grok_magic.ledger.videos import VideoResponse
    from grok_magic.runs.video_job import VideoJob

    words = rest.split()
    if len(words) != 1:
        raise UsageError("%grok video takes one video job id (the id the --video cell showed).")
    found = VideoJob.attach(words[0], magics.recorder, magics.client(), magics.downloader,
                            video_folder(magics), schedule=magics.video_schedule)
    if isinstance(found, VideoResponse):
        return show_finished(magics, found, None, magics.show_usage)
    follow(magics, found, found.info.out_name, magics.show_usage)
    return None


def video_folder(magics: GrokOptions) -> Path:
    """Where this notebook's videos are kept to be shown (GrokMagics.media_dir, else
    grok-media beside the notebook, else the ledger's media folder)."""
    from grok_magic.ledger.videos import media_folder_for

    recorder = magics.recorder
    ledger = recorder.ledger
    return media_folder_for(magics.media_dir, recorder.notebook,
                            ledger.path if ledger is not None else None)


# -- following a job -------------------------------------------------------------------------------
def follow(magics: GrokOptions, job: VideoJob, out_name: str | None, usage: bool) -> None:
    """Show the job's display and let its watcher update it, then end it as the video (or the
    failure); `_grok_video` and OUT hold the job until then."""
    namespace = magics.user_ns
    namespace[JOB_NAME] = job
    if out_name:
        namespace[out_name] = job
    terminal = magics.terminal
    handle = None
    # this cell's own display says it follows a job an earlier run started (that one's doesn't)
    again, job.followed_again = job.followed_again, False
    if terminal:
        print(job_line(job, again))
    else:
        handle = display(job_bundle(job, again), raw=True, display_id=True)

    def update(job_: VideoJob) -> None:
        if handle is not None:
            handle.update(job_bundle(job_, again), raw=True)

    def done(job_: VideoJob) -> None:
        response = job_.result
        if response is not None:
            namespace[RESULT_NAME] = response
            if out_name and namespace.get(out_name) is job_ and response.clip is not None:
                namespace[out_name] = response.clip
        bundle = video_bundle(magics, response, usage) if response is not None else None
        if job_.error is not None:  # with what xAI billed, when it made the video
            failed = failure_bundle(job_.error)
            bundle = failed if bundle is None else {
                "text/html": failed["text/html"] + bundle["text/html"],
                "text/plain": f"{failed['text/plain']}\n{bundle['text/plain']}"}
        if handle is not None:
            handle.update(bundle, raw=True)
        else:
            print(bundle["text/plain"])

    job.watch(update, done)


def job_line(job: VideoJob, again: bool = False) -> str:
    """Where a job is, in one line of our own (numbers and ids only); `again`: shown by a
    re-run of the cell that started it."""
    state = job.state
    elapsed = f"{job.elapsed:.0f} s elapsed"
    if state is None:
        line = f"Grok Imagine video {job.id}: submitted, waiting for xAI's first word · {elapsed}"
    else:
        progress = f" · {state.progress} %" if state.progress is not None else ""
        line = f"Grok Imagine video {job.id}: {state.status}{progress} · {elapsed}"
    if job.check_error is not None:
        line += f" — last check failed ({job.check_error.title}); retrying"
    if again:
        line += (" — this cell's request was already being made, so this follows that job "
                 "(nothing new sent or billed); run it again once it is done for another take")
    return line


def job_bundle(job: VideoJob, again: bool = False) -> dict:
    """The job's display while xAI makes the video: a progress bar and the line."""
    line = job_line(job, again)
    progress = job.state.progress if job.state is not None else None
    bar = (f"<progress class='grok-progress-bar' value='{int(progress)}' max='100'></progress>"
           if progress is not None else "<progress class='grok-progress-bar'></progress>")
    return {"text/html": wrap(f"<div class='grok-video-job'>{bar}<p class='grok-thinking "
                              f"grok-note'>{html.escape(line)}</p></div>"),
            "text/plain": line}


# -- the video ---------------------------------------------------------------------------------------
def show_finished(magics: GrokOptions, response: VideoResponse, out_name: str | None,
                  usage: bool) -> None:
    """A finished video (replayed, or a job re-attached after it ended), shown at once."""
    magics.user_ns[RESULT_NAME] = response
    if out_name:
        magics.user_ns[out_name] = response.clip
    bundle = video_bundle(magics, response, usage)
    if magics.terminal:
        print(bundle["text/plain"])
    else:
        display(bundle, raw=True)


def video_bundle(magics: GrokOptions, response: VideoResponse, usage: bool) -> dict:
    """The video, from the kernel's copy (a path relative to the notebook's folder), then its
    cost line ("5 s · $0.2500 (exact, from xAI) · …") unless `usage` is off."""
    clip = response.clip
    parts = []
    plain = []
    if clip is not None and clip.path is not None:
        src = source_of(clip, magics)
        parts.append(f"<video class='grok-video' controls preload='metadata' "
                     f"width='{SHOWN_WIDTH}' style='max-width: 100%' "
                     f"src='{html.escape(src, quote=True)}'></video>")
        plain.append(f"<video {src}>")
    if usage:
        line = cost_line(magics, response)
        parts.append(f"<p class='grok-note grok-video-usage'>{html.escape(line)}</p>")
        plain.append(line)
    return {"text/html": wrap("".join(parts)), "text/plain": plain_twin("\n".join(plain))}


def source_of(clip: Clip, magics: GrokOptions) -> str:
    """The address of the clip's copy for the page: relative to the notebook's folder (or to
    the working directory, where the kernel runs, when the notebook is unknown), URL-quoted."""
    from grok_magic.ledger.videos import notebook_folder

    base = notebook_folder(magics.recorder.notebook) or Path.cwd()
    return quote(Path(os.path.relpath(clip.path, base)).as_posix())


def cost_line(magics: GrokOptions, response: VideoResponse) -> str:
    """ "5 s · $0.2500 (exact, from xAI) · grok-imagine-video · session $0.2500 · took 40 s"."""
    from grok_magic.notebook.imagine_view import imagine_cost_text

    tally = magics.recorder.tally
    limits = [f"{limit.setting.replace('_', ' ')}: {limit.shown()}"
              for limit in magics.recorder.limits()]
    return " · ".join([f"{response.seconds:g} s", imagine_cost_text(response),
                       response.model or response.requested_model or "?",
                       f"session {format_cost(tally.cost, estimate=tally.approximate)}",
                       *limits, f"took {response.elapsed:.0f} s"])
