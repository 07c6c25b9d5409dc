"""`%%grok --video` as a notebook user meets it: a real shell, the real client and downloader,
HTTP to the stand-in's video routes and its files. The cell returns at once with a job display
that the job's watcher updates until it ends as the video, shown from the file the kernel
downloaded beside the notebook. What is checked is what the user sees (the job line, the
<video> element and its file, the cost line), what reached the stand-in, and what the ledger
and its media folder keep."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.utils.capture import capture_output

from grok_magic.errors import GrokError, InputError
from grok_magic.ledger.budget import BudgetExceeded
from grok_magic.ledger.store import Ledger
from grok_magic.runs.batch_job import PollSchedule
from tests.support.magic_helpers import Outcome, close_ledger, magic_shell, run
from tests.support.standin_imagine import imagine_state, make_mp4
from tests.support.xai_standin import FAKE_KEY

FAST = PollSchedule(first=0.02, factor=1.0, floor=0.02, cap=0.02)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    """The folder of the notebook the kernel runs (Jupyter sets JPY_SESSION_NAME, and starts
    the kernel there)."""
    folder = tmp_path / "course"
    folder.mkdir()
    monkeypatch.setenv("JPY_SESSION_NAME", str(folder / "week1.ipynb"))
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def ip(ledger_shell, notebook):
    ledger_shell.grok_magics.video_schedule = FAST
    ledger_shell.user_ns.pop("_grok_video", None)
    return ledger_shell


def run_to_end(ip, source: str, timeout: float = 15.0) -> Outcome:
    """Run a cell and, still capturing its outputs, wait until the video job it started (if
    any) has ended and its watcher has shown the end."""
    ip.user_ns.pop("_grok_video", None)
    with capture_output() as cap:
        result = ip.run_cell(source)
        job = ip.user_ns.get("_grok_video")
        if job is not None:
            try:
                job.wait(timeout)
            except GrokError:
                pass  # shown in the job's display
    return Outcome(result.error_in_exec or result.error_before_exec, cap.stdout, cap.stderr,
                   list(cap.outputs))


def submit_in_a_kernel_that_exits(folder: Path, prompt: str, seconds: int) -> str:
    """Run `%%grok --video` in another Python process (a kernel that then exits, its job still
    being made); the job's id. It comes back through a file, not stdout: the job's watcher thread
    prints its progress to that shell's stdout and can land between the words of a print (CI once
    read "Grok" as the id)."""
    id_file = folder.parent / "submitted-job-id"
    id_file.unlink(missing_ok=True)
    script = ("from IPython.core.interactiveshell import InteractiveShell\n"
              "ip = InteractiveShell.instance()\n"
              "ip.run_line_magic('load_ext', 'grok_magic')\n"
              f"ip.run_cell({f'%%grok --video --duration {seconds}' + chr(10) + prompt!r})\n"
              f"open({str(id_file)!r}, 'w').write(ip.user_ns['_grok_video'].id)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=90, cwd=folder)
    assert done.returncode == 0, done.stderr
    return id_file.read_text()


def video_posts(srv) -> list:
    return [r for r in srv.requests if r.path == "/v1/videos/generations"]


def polls(srv) -> list:
    return [r for r in srv.requests if r.method == "GET" and r.path.startswith("/v1/videos/")]


def file_gets(srv) -> list:
    return [r for r in srv.requests if r.path.startswith("/files/")]


def shown_video(out: Outcome, folder: Path) -> Path:
    """The file the cell's <video> element plays, resolved against the notebook's folder."""
    [src] = re.findall(r"<video [^>]*src='([^']+)'", out.html())
    assert not src.startswith(("http:", "https:", "/", "data:"))
    return folder / src


def no_remote_address(text: str, srv) -> None:
    host = srv.base_url.split("//", 1)[1].split("/", 1)[0]
    assert host not in text and "/files/imagine" not in text


def test_text_to_video_ends_showing_the_downloaded_file_and_its_cost(ip, xai_env, notebook,
                                                                     ledger_path):
    out = run_to_end(ip, "%%grok --video --duration 5 -o clip\nA paper boat drifting on a pond")
    assert out.error is None, out.everything()
    [post] = video_posts(xai_env)
    assert post.json == {"model": "grok-imagine-video", "prompt": "A paper boat drifting on a pond",
                         "duration": 5}
    [job] = imagine_state(xai_env).jobs.values()
    first = out.raw[0].data["text/plain"]  # what the cell showed when it returned
    assert f"Grok Imagine video {job.id}: submitted" in first
    lines = [o.data.get("text/plain", "") for o in out.raw]
    assert any(": pending · " in line and " % · " in line and "s elapsed" in line
               for line in lines)  # the progress line while xAI worked
    [final] = out.outputs  # the job display became the video and its cost line
    played = shown_video(out, notebook)
    assert played.parent == notebook / "grok-media"
    assert played.read_bytes() == make_mp4("A paper boat drifting on a pond", 5)
    assert "5 s · $0.2500 (exact, from xAI) · grok-imagine-video" in final["text/plain"]
    assert "5 s · $0.2500 (exact, from xAI)" in out.shown()
    [get] = file_gets(xai_env)
    assert "Authorization" not in get.headers and FAKE_KEY not in json.dumps(get.headers)
    clip = ip.user_ns["clip"]
    assert clip.path == played and clip.seconds == 5
    assert ip.user_ns["_grok"].cost == pytest.approx(0.25)
    rows = Ledger(ledger_path).entries()
    assert [(r.api, r.status, r.cost) for r in rows] == [("videos", "submitted", 0.0),
                                                          ("videos", "ok", pytest.approx(0.25))]
    [item] = rows[1].media_items
    assert item["kind"] == "video" and item["sha256"] == clip.sha256
    kept = ledger_path.with_name(ledger_path.stem + ".media") / f"{clip.sha256}.mp4"
    assert kept.read_bytes() == played.read_bytes()
    no_remote_address(out.everything(), xai_env)
    assert FAKE_KEY not in out.everything()
    cell = nbformat.v4.new_code_cell("%%grok --video --duration 5\nA paper boat")
    cell.outputs = [nbformat.v4.new_output("display_data", data=b) for b in out.outputs]
    saved = notebook / "saved.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), saved)
    no_remote_address(saved.read_text(), xai_env)
    assert FAKE_KEY not in saved.read_text() and "base64" not in saved.read_text()


def test_the_cell_returns_while_the_job_runs(ip, xai_env):
    imagine_state(xai_env).video_polls = 10_000
    out = run(ip, "%%grok --video\nA slow sunrise")
    job = ip.user_ns["_grok_video"]
    try:
        assert out.error is None and not job.done
        assert "submitted" in out.plain()
    finally:
        job.stop_watching()


def test_image_to_video_sends_the_cells_picture(ip, xai_env, notebook):
    from PIL import Image

    ip.user_ns["photo"] = Image.new("RGB", (64, 48), (20, 90, 160))
    out = run_to_end(ip, "%%grok --video --resolution 720p\n{photo}\nThe waves roll in")
    assert out.error is None, out.everything()
    [post] = video_posts(xai_env)
    assert post.json["prompt"] == "The waves roll in" and post.json["resolution"] == "720p"
    assert post.json["image"]["url"].startswith("data:image/")
    assert shown_video(out, notebook).read_bytes() == make_mp4("The waves roll in", 6)
    assert "6 s · $0.3000 (exact, from xAI)" in out.plain()  # xAI's default length


def test_dry_run_shows_the_body_and_the_planned_cost_and_sends_nothing(ip, xai_env):
    out = run(ip, "%%grok --video --duration 5 --dry-run\nA paper boat")
    assert out.error is None
    assert video_posts(xai_env) == []
    told = out.told()
    assert "/v1/videos/generations" in told and '"duration": 5' in told
    assert "a 5 s video" in told and "$0.2500" in told and FAKE_KEY not in out.everything()


def test_the_budget_refuses_before_anything_is_sent(ip, xai_env, ledger_path):
    run(ip, "%config GrokMagics.budget = 0.2")
    out = run(ip, "%%grok --video --duration 5\nA paper boat")  # 5 × $0.05 > $0.20
    assert isinstance(out.error, BudgetExceeded)
    assert video_posts(xai_env) == [] and "%config GrokMagics.budget" in out.told()
    assert "Traceback" not in out.stdout + out.stderr
    ok = run_to_end(ip, "%%grok --video --duration 3\nA paper boat")  # $0.15 fits
    assert ok.error is None and "budget: $0.1500 of $0.2000" in ok.plain()


@pytest.mark.parametrize("knob, words", [
    ("video_fail", "could not make it: Video generation failed"),
    ("video_expire", "let the job expire"),
])
def test_a_failed_job_is_one_paragraph_and_costs_nothing(ip, xai_env, ledger_path, knob, words):
    setattr(imagine_state(xai_env), knob, True)
    out = run_to_end(ip, "%%grok --video --duration 5 -o clip\nA paper boat")
    assert out.error is None  # the cell had returned; the job's display says it
    told = out.told()
    assert words in told and "It cost $0" in told and "Traceback" not in told
    assert "<video" not in out.html() and file_gets(xai_env) == []
    rows = Ledger(ledger_path).entries()
    assert [(r.status, r.cost) for r in rows] == [("submitted", 0.0), ("error", 0.0)]
    assert Ledger(ledger_path).spent() == 0
    assert type(ip.user_ns["clip"]).__name__ == "VideoJob"  # OUT never became a clip


@pytest.mark.timeout(120)
def test_a_job_reattaches_after_a_restart_and_is_kept_once(ip, xai_env, notebook, ledger_path):
    """Submitted by one kernel that then exits, finished by `%grok video ID` in another; doing
    it again shows the video from the ledger, asking xAI nothing."""
    imagine_state(xai_env).video_polls = 4
    job_id = submit_in_a_kernel_that_exits(notebook, "A lantern on a pier at night", 4)
    assert imagine_state(xai_env).jobs[job_id].seen < 5  # not finished by the first kernel
    out = run_to_end(ip, f"%grok video {job_id}")
    assert out.error is None, out.everything()
    assert shown_video(out, notebook).read_bytes() == make_mp4("A lantern on a pier at night", 4)
    assert "4 s · $0.2000 (exact, from xAI)" in out.plain()
    asked = len(xai_env.requests)
    again = run_to_end(ip, f"%grok video {job_id}")
    assert again.error is None and len(xai_env.requests) == asked  # from the ledger
    assert shown_video(again, notebook).read_bytes() == make_mp4("A lantern on a pier at night", 4)
    rows = Ledger(ledger_path).entries(status="ok")
    assert len(rows) == 1 and rows[0].cost == pytest.approx(0.2) and rows[0].request_id == job_id
    media = ledger_path.with_name(ledger_path.stem + ".media")
    assert len(list(media.iterdir())) == 1 and len(file_gets(xai_env)) == 1
    # a fresh kernel's view of it: the same row, once
    other = magic_shell(max_retries=0, video_schedule=FAST)
    try:
        third = run_to_end(other, f"%grok video {job_id}")
        assert third.error is None and len(xai_env.requests) == asked
        assert len(Ledger(ledger_path).entries(status="ok")) == 1
    finally:
        close_ledger(other)


def test_running_the_cell_again_while_its_video_is_made_follows_the_same_job(ip, xai_env,
                                                                             notebook, ledger_path):
    """A teacher presses Shift+Enter twice: the second run follows the job the first started
    (one POST, one poll thread, billed once), and both cells end as the video."""
    imagine_state(xai_env).video_polls = 10_000
    cell = "%%grok --video --duration 3\nA kite over the dunes"
    first = run(ip, cell)
    job = ip.user_ns["_grok_video"]
    assert first.error is None and "submitted" in first.plain()
    with capture_output() as cap:
        again = ip.run_cell(cell)
        assert again.error_in_exec is None
        assert ip.user_ns["_grok_video"] is job
        [stand_in_job] = imagine_state(xai_env).jobs.values()
        stand_in_job.polls = stand_in_job.seen  # xAI finishes it now
        job.wait(15)
    second = Outcome(None, cap.stdout, cap.stderr, list(cap.outputs))
    assert len(video_posts(xai_env)) == 1
    shown_first = next(o for o in second.raw if not o.update)  # the second cell's own display
    assert "already being made, so this follows that job (nothing new sent or billed)" in \
        shown_first.data["text/plain"]
    first_id = first.raw[0].transient["display_id"]
    first_lines = [o.data["text/plain"] for o in second.raw
                   if o.update and o.transient["display_id"] == first_id]
    assert first_lines and not any("already being made" in line for line in first_lines)
    # both the first cell's display and the second's became the video
    videos = [o for o in second.raw if o.update and "<video " in o.data.get("text/html", "")]
    assert len(videos) == 2
    assert shown_video(second, notebook).read_bytes() == make_mp4("A kite over the dunes", 3)
    rows = Ledger(ledger_path).entries()
    assert [(r.status, r.cost) for r in rows] == [("submitted", 0.0), ("ok", pytest.approx(0.15))]
    # once it is done, running the cell again asks for another take (replay is off)
    imagine_state(xai_env).video_polls = 0
    third = run_to_end(ip, cell)
    assert third.error is None and len(video_posts(xai_env)) == 2
    assert "following" not in third.plain() and "already being made" not in third.plain()


def test_a_cell_run_again_in_another_kernel_follows_the_pending_job(ip, xai_env, notebook,
                                                                    ledger_path):
    """The kernel that submitted the job is gone (restarted); the same cell in a new kernel
    finds the job in the ledger and follows it instead of paying for another."""
    imagine_state(xai_env).video_polls = 4
    submit_in_a_kernel_that_exits(notebook, "A lantern on a pier at night", 4)
    out = run_to_end(ip, "%%grok --video --duration 4\nA lantern on a pier at night")
    assert out.error is None, out.everything()
    assert len(video_posts(xai_env)) == 1
    assert "follows that job" in next(o for o in out.raw if not o.update).data["text/plain"]
    assert shown_video(out, notebook).read_bytes() == make_mp4("A lantern on a pier at night", 4)
    assert [r.status for r in Ledger(ledger_path).entries()] == ["submitted", "ok"]


def test_an_unknown_job_id_is_one_paragraph(ip, xai_env):
    out = run(ip, "%grok video 0b7d-not-a-job")
    assert isinstance(out.error, InputError) and "no video job '0b7d-not-a-job'" in out.told()
    assert polls(xai_env) == []


def test_replay_shows_the_same_video_offline_at_no_cost(ip, xai_env, notebook, ledger_path,
                                                        monkeypatch):
    first = run_to_end(ip, "%%grok --video --duration 2\nA kite over a beach")
    assert first.error is None, first.everything()
    made = shown_video(first, notebook).read_bytes()
    (notebook / "grok-media" / shown_video(first, notebook).name).unlink()  # copied back on replay
    monkeypatch.delenv("XAI_API_KEY")
    monkeypatch.setenv("XAI_BASE_URL", "http://127.0.0.1:9/v1")  # no network either
    run(ip, '%config GrokMagics.replay = "only"')
    sent = len(xai_env.requests)
    again = run_to_end(ip, "%%grok --video --duration 2\nA kite over a beach")
    assert again.error is None, again.everything()
    assert len(xai_env.requests) == sent
    assert shown_video(again, notebook).read_bytes() == made
    assert "$0 (replayed from the ledger; first made for $0.1000)" in again.plain()
    assert ip.user_ns["_grok"].cost == 0
    assert len(Ledger(ledger_path).entries(status="ok")) == 1


@pytest.mark.parametrize("line, words", [
    ("--duration 20", "--duration is 20"),
    ("--duration 0", "--duration is 0"),
    ("--resolution 1k", "--resolution '1k' is not one xAI takes"),
    ("--count 2", "--count cannot go with --video"),
])
def test_bad_options_are_refused_before_sending(ip, xai_env, line, words):
    out = run(ip, f"%%grok --video {line}\nA paper boat")
    assert out.error is not None and words in out.told()
    assert [r for r in xai_env.requests if r.path.startswith("/v1/")] == []
    assert "Traceback" not in out.stdout + out.stderr


def test_two_images_are_refused_for_a_video(ip, xai_env):
    from PIL import Image

    ip.user_ns["a"] = Image.new("RGB", (32, 32), (200, 0, 0))
    ip.user_ns["b"] = Image.new("RGB", (32, 32), (0, 200, 0))
    out = run(ip, "%%grok --video\n{a} {b} Morph one into the other")
    assert isinstance(out.error, InputError) and "at most one" in out.told()
    assert video_posts(xai_env) == []


@pytest.mark.timeout(180)
def test_in_a_real_kernel_the_job_display_ends_as_the_video_in_its_own_cell(xai_env, notebook,
                                                                             ledger_path):
    """The watcher's updates go to the cell that started the job, even while another cell
    runs, and the last one is the video and its cost line (what the saved notebook keeps)."""
    from tests.support.kernel_helpers import LiveKernel, drain_until_idle

    imagine_state(xai_env).video_polls = 3
    kernel = LiveKernel()  # started in the notebook's folder, with its JPY_SESSION_NAME
    try:
        kernel.run("%load_ext grok_magic\n"
                   "from grok_magic.runs.batch_job import PollSchedule\n"
                   "get_ipython().magics_manager.registry['GrokMagics'].video_schedule = "
                   "PollSchedule(first=0.1, factor=1.0, floor=0.1, cap=0.1)")
        client = kernel.client
        cell = client.execute("%%grok --video --duration 3\nA red balloon over a town")
        first = drain_until_idle(client, cell)
        later = client.execute("import time\n"
                               "while not _grok_video.done: time.sleep(0.05)\n"
                               "time.sleep(0.3)")
        rest = drain_until_idle(client, later)
    finally:
        kernel.close()
    (shown,) = [m for m in first if m["msg_type"] == "display_data"]
    assert "submitted" in shown["content"]["data"]["text/plain"]
    display_id = shown["content"]["transient"]["display_id"]
    updates = [m for m in first + rest if m["msg_type"] == "update_display_data"
               and m["content"]["transient"]["display_id"] == display_id]
    assert updates and all(m["parent_header"]["msg_id"] == cell for m in updates)
    assert any("pending" in m["content"]["data"]["text/plain"] for m in updates)
    final = updates[-1]["content"]["data"]
    assert "3 s · $0.1500 (exact, from xAI)" in final["text/plain"]
    [src] = re.findall(r"<video [^>]*src='([^']+)'", final["text/html"])
    assert src.startswith("grok-media/")
    assert (notebook / src).read_bytes() == make_mp4("A red balloon over a town", 3)
    no_remote_address(json.dumps([m["content"] for m in first + rest]), xai_env)


@pytest.mark.parametrize("fault, words", [
    ("expired", "expired"),
    ("html", "text/html"),
    ("mismatch", "video/mp4"),
    ("redirect", "redirect"),
    ("huge", "over the 1,048,576-byte limit"),
])
def test_a_video_file_that_cannot_be_fetched_is_one_paragraph_and_billed_once(
        ip, xai_env, notebook, ledger_path, fault, words, monkeypatch):
    import grok_magic.xai.downloads as downloads

    monkeypatch.setattr(downloads, "MAX_VIDEO_BYTES", 1024 * 1024)  # the stand-in's is 60 MB
    imagine_state(xai_env).file_fault = fault
    out = run_to_end(ip, "%%grok --video --duration 5\nA paper boat")
    told = out.told()
    assert words in told.lower() and "Traceback" not in told
    assert "5 s · $0.2500 (exact, from xAI)" in told  # xAI made it, and billed it
    assert "<video" not in out.html() and not (notebook / "grok-media").exists()
    assert "/files/imagine" not in out.everything()  # the signed address is never shown
    rows = Ledger(ledger_path).entries()
    assert [(r.status, r.cost) for r in rows] == [("submitted", 0.0),
                                                  ("incomplete", pytest.approx(0.25))]
