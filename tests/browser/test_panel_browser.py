"""ChatPanel in a real JupyterLab: typing, streaming Markdown, images, Stop, errors, no XSS.

Answers reach the page as our sanitised `text/html` (never `text/markdown`), which JupyterLab
renders in a `.jp-RenderedHTML` element holding the renderer's `.grok-md` wrapper."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from tests.support.standin_imagine import imagine_state
from tests.support.xai_standin import Fault, Reply

from .conftest import open_notebook, run_all, screenshot, write_notebook, xss_fired

pytestmark = pytest.mark.browser

MAGIC_CELLS = ["%load_ext grok_magic", "%grok chat"]
PYTHON_CELLS = ["from grok_magic import ChatPanel\npanel = ChatPanel()\npanel"]
SLOW_TEXT = "**Partial** " + " ".join(f"word{i}" for i in range(600))
XSS = (
    'Careful: <img src=x onerror="window.__grok_xss=1"> <script>window.__grok_xss=2</script> '
    "**safe bold** ![tracker](https://attacker.example/pixel.png) "
    "[click me](javascript:window.__grok_xss=3) <svg onload=\"window.__grok_xss=4\"></svg>"
)
# Where an answer's rendered Markdown is: our HTML in JupyterLab's HTML renderer.
RENDERED = ".jp-RenderedHTML .grok-md"


def png(color=(220, 40, 40), size=(64, 48)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def open_panel(page, lab, name: str, cells: list[str]):
    write_notebook(lab.root, name, cells)
    open_notebook(page, lab, name)
    run_all(page)
    panel = page.locator(".grok-panel")
    expect(panel).to_be_visible()
    return panel


def type_question(panel, text: str) -> None:
    box = panel.locator(".grok-input textarea")
    box.click()
    box.fill(text)


def test_chat_streams_markdown_shows_usage_and_images(jupyterlab, page, xai_server):
    panel = open_panel(page, jupyterlab, "chat.ipynb", MAGIC_CELLS)
    expect(panel.locator(".grok-model select")).to_have_value("grok-4.3")  # the default model

    # Shift+Enter is a new line (and does not run the notebook cell); Enter sends.
    box = panel.locator(".grok-input textarea")
    box.click()
    box.press_sequentially("First line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("First line\nsecond line")
    assert xai_server.answer_requests == []
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
    expect(prompts.last).to_have_text("[2]:")  # Shift+Enter did not run the notebook cell
    box.press("Enter")

    answer = panel.locator(".grok-transcript .grok-answer").first
    expect(answer.locator(f"{RENDERED} strong").first).to_have_text("Stand-in answer")
    expect(answer.locator(".jp-RenderedMarkdown")).to_have_count(0)  # never text/markdown
    expect(answer).to_contain_text('"First line second line"')
    expect(panel.locator(".grok-user-text").first).to_have_text("First line\nsecond line")
    expect(box).to_have_value("")
    usage = answer.locator(".grok-usage-item[data-key='total']")
    expect(usage).to_contain_text(re.compile(r"total \d[\d,]*"))
    total = int(re.sub(r"\D", "", usage.inner_text()))
    body = xai_server.answer_requests[-1].as_chat
    assert body["messages"][-1]["content"] == "First line\nsecond line"
    expect(panel.locator(".grok-totals")).to_contain_text(f"1 answer · {total:,} tokens")
    expect(panel.locator("button.grok-send")).to_be_enabled()

    # Copy: the answer's Markdown appears ready to select.
    answer.locator("button.grok-copy").click()
    expect(answer.locator(".grok-copy-text textarea")).to_have_value(
        re.compile(r"^\*\*Stand-in answer\*\* to:"))

    # An image: chosen in the file dialog, shown as a removable thumbnail, then sent. The
    # FileUpload's <input type=file> is never attached to the DOM, so answer its file chooser.
    with page.expect_file_chooser() as chooser:
        panel.locator("button.grok-upload").click()
    chooser.value.set_files(
        [{"name": "red.png", "mimeType": "image/png", "buffer": png()},
         {"name": "blue.png", "mimeType": "image/png", "buffer": png((30, 30, 220))}])
    thumbs = panel.locator(".grok-attachments .grok-thumb")
    expect(thumbs).to_have_count(2)
    expect(thumbs.first.locator("img")).to_be_visible()
    thumbs.nth(1).locator("button.grok-thumb-remove").click()
    expect(thumbs).to_have_count(1)
    screenshot(page, "attached")
    type_question(panel, "What colour is this?")
    panel.locator("button.grok-send").click()
    second = panel.locator(".grok-transcript .grok-answer").nth(1)
    expect(second).to_contain_text("I received 1 image(s).")
    expect(panel.locator(".grok-transcript .grok-user").nth(1).locator("img.grok-user-image")).to_be_visible()
    expect(thumbs).to_have_count(0)
    expect(panel.locator(".grok-totals")).to_contain_text("2 answers")
    # The transcript overflows its box and stays scrolled to the newest answer.
    scroller = panel.locator(".grok-transcript")
    assert scroller.evaluate("e => e.scrollHeight > e.clientHeight + 50")
    assert scroller.evaluate("""e => {
        const usage = [...e.querySelectorAll('.jupyter-widgets.grok-usage')].pop();
        return usage.getBoundingClientRect().bottom <= e.getBoundingClientRect().bottom + 1;
    }""")
    content = xai_server.answer_requests[-1].as_chat["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url"]
    screenshot(page, "two-answers")


def test_stop_mid_stream_and_errors_inline(jupyterlab, page, xai_server):
    panel = open_panel(page, jupyterlab, "stop.ipynb", PYTHON_CELLS)
    xai_server.enqueue(Reply(content=SLOW_TEXT, delay=0.05))
    type_question(panel, "Tell me a long story")
    panel.locator("button.grok-send").click()
    answer = panel.locator(".grok-transcript .grok-answer").first
    expect(answer.locator(f"{RENDERED} strong").first).to_have_text("Partial")
    expect(answer).to_contain_text("word5")
    expect(panel.locator("button.grok-send")).to_be_disabled()
    panel.locator("button.grok-stop").click()
    expect(answer.locator(".grok-stopped")).to_contain_text("Stopped")
    expect(answer).not_to_contain_text("word599")
    expect(panel.locator("button.grok-send")).to_be_enabled()
    expect(panel.locator("button.grok-stop")).to_be_disabled()
    expect(answer.locator(".jupyter-widgets.grok-usage")).to_be_visible()
    screenshot(page, "stopped")

    xai_server.enqueue(Fault.credits(429))
    type_question(panel, "keep this question")
    panel.locator("button.grok-send").click()
    error = panel.locator(".grok-error")
    expect(error).to_contain_text("Out of credits (HTTP 429)")
    expect(error.locator("p")).to_have_count(1)
    expect(panel.locator(".grok-input textarea")).to_have_value("keep this question")
    expect(panel.locator(".grok-transcript .grok-user")).to_have_count(1)
    screenshot(page, "error")


def test_model_html_does_not_run(jupyterlab, page, xai_server):
    panel = open_panel(page, jupyterlab, "xss.ipynb", PYTHON_CELLS)
    xai_server.enqueue(Reply(content=XSS))
    type_question(panel, "Say something nasty")
    panel.locator("button.grok-send").click()
    answer = panel.locator(".grok-transcript .grok-answer").first
    expect(answer.locator(f"{RENDERED} strong")).to_have_text("safe bold")
    expect(answer.locator(".jupyter-widgets.grok-usage")).to_be_visible()
    page.wait_for_timeout(500)  # give any payload time to fire
    assert not xss_fired(page)
    assert answer.locator("img").count() == 0  # neither the payload nor the invented image
    assert answer.locator("script, svg, iframe, [onerror], [onload]").count() == 0
    expect(answer.locator("a[href^='https://attacker.example']")).to_have_text("tracker")
    hrefs = answer.locator("a").evaluate_all("links => links.map(a => a.protocol)")
    assert hrefs and set(hrefs) <= {"http:", "https:", "mailto:"}, hrefs
    # The payloads show as the text they are; the unsafe link is just its words.
    expect(answer.locator(RENDERED)).to_contain_text("<script>window.__grok_xss=2</script>")
    expect(answer.locator(RENDERED)).to_contain_text("[click me](javascript:")
    screenshot(page, "xss")


def test_enter_while_streaming_waits_and_the_controls_read_right(jupyterlab, page, xai_server):
    """Rough edges, by typing and clicking: Enter while an answer streams queues the message (and
    says so) instead of dropping it; the upload button reads "Add image" with no "(0)"; a
    thumbnail's remove is a small button, not a full-width bar; the system prompt keeps its label
    once filled."""
    panel = open_panel(page, jupyterlab, "chat_queue.ipynb", MAGIC_CELLS)
    upload = panel.locator("button.grok-upload")
    label = upload.evaluate("b => getComputedStyle(b, '::after').content")
    assert label == '"Add image"', label
    assert upload.evaluate("b => parseFloat(getComputedStyle(b).fontSize)") == 0  # "(0)" hidden

    system = panel.locator(".grok-system")
    system.locator("textarea").fill("Answer in French.")
    expect(system.locator("label")).to_have_text("System prompt")
    expect(system.locator("label")).to_be_visible()

    xai_server.enqueue(Reply(content=SLOW_TEXT, delay=0.01), Reply(content="**Second** answer"))
    box = panel.locator(".grok-input textarea")
    box.click()
    box.press_sequentially("First question")
    box.press("Enter")
    expect(panel.locator("button.grok-stop")).to_be_enabled()  # streaming
    box.press_sequentially("Second question")
    box.press("Enter")
    note = panel.locator(".grok-queued")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Waiting: “Second question” is sent when this answer ends")
    expect(box).to_have_value("")
    second = panel.locator(".grok-transcript .grok-answer").nth(1)
    expect(second.locator(f"{RENDERED} strong")).to_have_text("Second", timeout=60_000)
    expect(note).to_be_hidden()
    asked = [r.as_chat["messages"][-1]["content"] for r in xai_server.answer_requests]
    assert asked[-2:] == ["First question", "Second question"]

    with page.expect_file_chooser() as chooser:
        upload.click()
    chooser.value.set_files([{"name": "red.png", "mimeType": "image/png", "buffer": png()}])
    thumb = panel.locator(".grok-attachments .grok-thumb")
    expect(thumb).to_have_count(1)
    remove = thumb.locator("button.grok-thumb-remove").bounding_box()
    image = thumb.locator("img").bounding_box()
    assert remove["width"] <= 40 and remove["width"] < image["width"], (remove, image)
    screenshot(page, "queued-and-controls")


def test_imagine_toggle_shows_the_image_in_the_transcript(jupyterlab, page, xai_server):
    """Imagine on, a prompt sent: the image shows (decoded by the browser from the bytes the
    kernel sent), with its revised prompt, cost, Copy image and Save; the page loads nothing
    from anywhere but JupyterLab (never xAI's file address)."""
    from urllib.parse import urlsplit

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    panel = open_panel(page, jupyterlab, "imagine_panel.ipynb", MAGIC_CELLS)
    toggle = panel.locator("button.grok-imagine")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text("Imagine")
    toggle.click()
    expect(toggle).to_have_class(re.compile(r"\bmod-active\b"))
    box = panel.locator(".grok-input textarea")
    expect(box).to_have_attribute("placeholder", re.compile(r"^Describe the image"))
    type_question(panel, "A lighthouse at dawn")
    panel.locator("button.grok-send").click()

    entry = panel.locator(".grok-transcript .grok-imagined")
    image = entry.locator(".grok-imagined-image img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 1024
    assert image.evaluate("img => img.src.slice(0, 23)") == "data:image/jpeg;base64,"
    expect(entry.locator(".grok-revised")).to_have_text(
        "A lighthouse at dawn — rendered as a detailed illustration")
    expect(entry.locator(".grok-usage")).to_contain_text("$0.0200 (exact, from xAI)")
    expect(box).to_have_value("")
    assert xai_server.answer_requests == []  # no chat turn
    [post] = [r for r in xai_server.requests if r.path.startswith("/v1/images/")]
    assert post.json["prompt"] == "A lighthouse at dawn"

    entry.locator("button.grok-copy-image").click()
    expect(entry.locator(".grok-copy-hint")).to_contain_text("Shift+right-click the image")
    entry.locator("button.grok-save-image").click()
    expect(entry.locator(".grok-saved")).to_contain_text("Saved as ")
    [saved] = jupyterlab.root.glob("grok-image-*.jpg")  # beside the notebook
    assert saved.read_bytes() == imagine_state(xai_server).generated[-1].data
    screenshot(page, "imagine")

    lab = urlsplit(jupyterlab.base_url).netloc
    foreign = [u for u in requests
               if urlsplit(u).netloc != lab and not u.startswith(("data:", "blob:"))]
    assert foreign == [], foreign


def test_send_clicked_while_the_kernel_is_busy_sends_what_was_typed_last(jupyterlab, page,
                                                                        xai_server):
    """The kernel is busy (a widget callback sleeps) while the user types a system prompt and a
    question, leaves the box, types again and clicks Send. ipywidgets holds a model's second
    state update back until the kernel acknowledges the first, but a button click is sent at
    once — so a click could reach the kernel before the text typed last. The input sends its
    text with the click's ordering, the system prompt syncs when left, and what is sent is
    what is on screen."""
    busy_cell = ("import time, ipywidgets as widgets\n"
                 "busy = widgets.Button(description='Busy')\n"
                 "busy.add_class('grok-test-busy')\n"
                 "busy.on_click(lambda _b: time.sleep(4))\n"
                 "busy")
    panel = open_panel(page, jupyterlab, "chat_busy.ipynb", [*MAGIC_CELLS, busy_cell])
    xai_server.enqueue(Reply(content="**Answered**"))
    box = panel.locator(".grok-input textarea")
    page.locator("button.grok-test-busy").click()  # the kernel sleeps for 4 s
    panel.locator(".grok-system textarea").press_sequentially("Answer in French.")
    box.click()
    box.press_sequentially("An old draft")
    panel.locator(".grok-model select").focus()  # leave the box: its text is synced
    box.click()
    box.press("Control+a")
    box.press_sequentially("What is on screen")
    panel.locator("button.grok-send").click()  # leaves the box again, then clicks
    answer = panel.locator(".grok-transcript .grok-answer").first
    expect(answer.locator(f"{RENDERED} strong")).to_have_text("Answered", timeout=60_000)
    asked = [r.as_chat["messages"][-1]["content"] for r in xai_server.answer_requests]
    assert asked == ["What is on screen"]
    [request] = xai_server.answer_requests
    assert request.as_chat["messages"][0] == {"role": "system", "content": "Answer in French."}
    expect(panel.locator(".grok-transcript")).to_contain_text("What is on screen")
    expect(panel.locator(".grok-transcript")).not_to_contain_text("An old draft")
