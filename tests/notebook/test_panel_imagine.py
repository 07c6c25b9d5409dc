"""The chat panel's Imagine toggle, driven by value changes and .click() as a user would, through
`%grok chat`, the real client and downloader, HTTP to the stand-in's Grok Imagine routes. What is
checked is what the panel shows (the image bytes, the revised prompt, the cost, the error line),
what reached the stand-in, and what the ledger and the saved file hold."""

from __future__ import annotations

import base64
import io
import json

import ipywidgets as widgets
import pytest

from grok_magic.ledger.store import Ledger
from grok_magic.notebook.panel import ChatPanel
from tests.support.magic_helpers import run
from tests.support.panel_views import all_widgets, by_class
from tests.support.standin_imagine import imagine_state
from tests.support.xai_standin import FAKE_KEY, Reply


def png_bytes(size=(40, 30), color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def panel(ledger_shell) -> ChatPanel:
    """The panel `%grok chat` shows, on a shell recording in the test's ledger."""
    ledger_shell.run_line_magic("grok", "chat")
    p = ledger_shell.user_ns["_grok_panel"]
    p._models_thread.join(10)
    yield p
    p.wait(10)


def imagine_posts(srv) -> list:
    return [r for r in srv.requests if r.path.startswith("/v1/images/")]


def imagined(panel: ChatPanel) -> list[widgets.Widget]:
    """The transcript's image entries."""
    return by_class(panel, "grok-imagined")


def shown_image(entry: widgets.Widget) -> tuple[str, bytes]:
    """(media type, bytes) of the image an entry shows."""
    (output,) = [w for w in all_widgets(entry) if "grok-imagined-image" in w._dom_classes]
    (shown,) = output.outputs
    [(media_type, data)] = [(k, v) for k, v in shown["data"].items() if k.startswith("image/")]
    return media_type, base64.b64decode(data)


def inside(entry: widgets.Widget, css_class: str) -> widgets.Widget:
    (found,) = [w for w in all_widgets(entry) if css_class in getattr(w, "_dom_classes", ())]
    return found


def make_image(panel: ChatPanel, text: str) -> None:
    panel.imagine_toggle.value = True
    panel.input.value = text
    panel.send_button.click()
    panel.wait(30)


def every_state(panel: ChatPanel) -> str:
    """Every widget's synced state in the panel, as the front end (and a saved notebook) gets it."""
    return json.dumps([w.get_state() for w in all_widgets(panel.widget)], default=repr)


def test_the_toggle_makes_send_an_image_shown_with_its_revised_prompt_and_cost(
        panel, xai_env, ledger_path):
    assert by_class(panel, "grok-imagine") == [panel.imagine_toggle]
    assert panel.imagine_toggle.description == "Imagine" and not panel.imagine_toggle.value
    panel.imagine_toggle.value = True
    assert panel.input.placeholder.startswith("Describe the image")
    panel.input.value = "A red fox in fresh snow, watercolour"
    panel.send_button.click()
    assert panel.busy and panel.send_button.disabled and panel.stop_button.disabled
    response = panel.wait(30)
    assert panel.error is None, panel.error_box.value
    [post] = imagine_posts(xai_env)
    assert post.path == "/v1/images/generations"
    assert post.json == {"model": "grok-imagine-image", "prompt":
                         "A red fox in fresh snow, watercolour", "n": 1, "response_format": "url"}
    assert xai_env.answer_requests == []  # no chat turn
    [made] = imagine_state(xai_env).generated
    user, entry = panel.transcript.children
    assert "A red fox in fresh snow, watercolour" in inside(user, "grok-user-text").value
    assert shown_image(entry) == ("image/jpeg", made.data)  # the bytes the kernel fetched
    note = inside(entry, "grok-imagine-note").value
    assert "A red fox in fresh snow, watercolour — rendered as a detailed illustration" in note
    usage = inside(entry, "grok-usage").value
    assert "1 image" in usage and "$0.0200 (exact, from xAI)" in usage
    assert "Panel total: 1 answer" in panel.totals_view.value
    assert panel.input.value == "" and not panel.send_button.disabled
    assert panel.conversation.messages == []  # never part of the chat's history
    assert response.revised_prompts == [made.prompt + " — rendered as a detailed illustration"]
    [row] = Ledger(ledger_path).entries()
    assert row.api == "images" and row.source == "panel"
    assert row.question == "A red fox in fresh snow, watercolour"
    assert row.cost == pytest.approx(0.02)
    state = every_state(panel)
    host = xai_env.base_url.split("//", 1)[1].split("/", 1)[0]
    assert host not in state and "/files/imagine" not in state and FAKE_KEY not in state


def test_the_revised_prompt_is_text_never_markup(panel, xai_env):
    make_image(panel, "A sign that reads <img src=x onerror=alert(1)> <b>hi</b>")
    note = inside(imagined(panel)[0], "grok-imagine-note").value
    assert "<img" not in note and "<b>" not in note
    assert "&lt;img src=x onerror=alert(1)&gt; &lt;b&gt;hi&lt;/b&gt;" in note


def test_an_attached_image_makes_it_an_edit(panel, xai_env):
    panel.attach(png_bytes(), name="red.png")
    make_image(panel, "Redraw this as a retro travel poster")
    [post] = imagine_posts(xai_env)
    assert post.path == "/v1/images/edits"
    assert post.json["prompt"] == "Redraw this as a retro travel poster" and post.json["n"] == 1
    assert post.json["image"]["url"].startswith("data:image/png;base64,")
    assert panel.pending_images == []
    user, entry = panel.transcript.children
    assert len([w for w in all_widgets(user) if "grok-user-image" in w._dom_classes]) == 1
    assert "$0.0220 (exact, from xAI)" in inside(entry, "grok-usage").value  # 0.02 + 0.002


def test_toggle_off_chats_again_without_the_image_in_the_history(panel, xai_env):
    make_image(panel, "A lighthouse at dawn")
    panel.imagine_toggle.value = False
    assert panel.input.placeholder.startswith("Ask Grok")
    xai_env.enqueue(Reply(content="A chat answer"))
    panel.input.value = "And now a question"
    panel.send_button.click()
    assert panel.wait(10).text == "A chat answer"
    [chat] = xai_env.answer_requests
    messages = chat.as_chat["messages"]
    assert [m["role"] for m in messages] == ["user"]  # the image turn was never history
    assert messages[0]["content"] == "And now a question"
    assert len(imagine_posts(xai_env)) == 1
    assert "Panel total: 2 answers" in panel.totals_view.value


def test_save_writes_the_image_beside_the_notebook_and_never_overwrites(panel, xai_env, tmp_path):
    make_image(panel, "A paper boat on a pond")
    [made] = imagine_state(xai_env).generated
    entry = imagined(panel)[0]
    save, saved = inside(entry, "grok-save-image"), inside(entry, "grok-saved")
    assert not save.disabled and saved.value == ""
    save.click()
    [path] = tmp_path.glob("grok-image-*.jpg")  # the kernel's folder: the notebook's
    assert path.read_bytes() == made.data
    import hashlib

    assert path.name == f"grok-image-{hashlib.sha256(made.data).hexdigest()[:8]}.jpg"
    assert f"Saved as {path}" in saved.value
    save.click()  # the same bytes: that file, nothing written
    assert f"Already saved as {path}" in saved.value and len(list(tmp_path.glob("grok-*"))) == 1
    path.write_bytes(b"someone else's file")
    save.click()
    second = path.with_name(path.stem + "-2.jpg")
    assert path.read_bytes() == b"someone else's file" and second.read_bytes() == made.data
    assert f"Saved as {second}" in saved.value


def test_copy_image_says_how_the_browser_copies_it_without_a_script(panel, xai_env):
    make_image(panel, "A tiny robot watering a plant")
    entry = imagined(panel)[0]
    copy, hint = inside(entry, "grok-copy-image"), inside(entry, "grok-copy-hint")
    assert hint.layout.display == "none"
    copy.click()
    assert hint.layout.display is None and "Shift+right-click the image" in hint.value
    assert hint.layout is not panel.shared.layout  # hiding it hides nothing else
    copy.click()
    assert hint.layout.display == "none" and panel.shared.layout.display is None
    # nothing of ours with a front-end script in the entry: only ipywidgets' own widgets
    assert {type(w).__module__.split(".")[0] for w in all_widgets(entry)} == {"ipywidgets"}


def test_moderation_is_the_usual_error_line_and_the_prompt_stays(panel, xai_env):
    panel.attach(png_bytes(), name="red.png")
    make_image(panel, "Something forbidden")
    assert "moderation" in panel.error_box.value.lower()
    assert panel.error_box.value.count("<p") == 1 and "Traceback" not in panel.error_box.value
    assert panel.error_box.layout.display != "none"
    assert panel.input.value == "Something forbidden" and len(panel.pending_images) == 1
    assert panel.transcript.children == () and imagined(panel) == []
    assert not panel.send_button.disabled


def test_the_budget_refuses_before_anything_is_sent(panel, ledger_shell, xai_env):
    run(ledger_shell, "%config GrokMagics.budget = 0.01")  # one image costs $0.02
    make_image(panel, "Three pears")
    assert "budget" in panel.error_box.value and "%config GrokMagics.budget" in panel.error_box.value
    assert imagine_posts(xai_env) == []
    assert panel.input.value == "Three pears" and panel.transcript.children == ()


def test_a_message_without_words_is_refused_and_its_image_stays(panel, xai_env):
    panel.attach(png_bytes(), name="red.png")
    make_image(panel, "   ")
    assert "nothing to make an image of" in panel.error_box.value
    assert imagine_posts(xai_env) == [] and len(panel.pending_images) == 1
    assert panel.transcript.children == ()


def test_replay_answers_from_the_ledger_and_its_media_folder(panel, ledger_shell, xai_env):
    run(ledger_shell, '%config GrokMagics.replay = "auto"')
    make_image(panel, "A kite over a beach")
    first = shown_image(imagined(panel)[0])
    make_image(panel, "A kite over a beach")
    assert len(imagine_posts(xai_env)) == 1  # the second one was not sent
    second = imagined(panel)[1]
    assert shown_image(second) == first
    assert "$0 (replayed from the ledger" in inside(second, "grok-usage").value


def test_a_script_makes_an_image_as_the_toggle_does(panel, xai_env):
    response = panel.imagine("A teapot", images=[png_bytes()])
    [post] = imagine_posts(xai_env)
    assert post.path == "/v1/images/edits" and post.json["prompt"] == "A teapot"
    assert len(response.images) == 1 and len(imagined(panel)) == 1
    assert not panel.imagine_toggle.value  # the toggle is the user's, untouched


def test_a_message_typed_while_the_image_is_made_waits(panel, xai_env):
    imagine_state(xai_env).latency = 1.0
    panel.imagine_toggle.value = True
    panel.input.value = "A first picture"
    panel.send_button.click()
    assert panel.busy
    panel.input.value = "A second picture"
    panel.send_button.click()
    assert "Waiting: “A second picture”" in panel.queue_note.value
    panel.wait(30)
    from tests.support.magic_helpers import wait_until

    wait_until(lambda: len(imagined(panel)) == 2 and not panel.busy, 30)
    assert [p.json["prompt"] for p in imagine_posts(xai_env)] == ["A first picture",
                                                                  "A second picture"]


def test_the_panel_uses_the_magics_image_settings(ledger_shell, xai_env):
    run(ledger_shell, '%config GrokMagics.image_model = "grok-imagine-image-2.0"')
    run(ledger_shell, '%config GrokMagics.image_format = "b64_json"')
    panel = ledger_shell.run_line_magic("grok", "chat")
    make_image(panel, "A teapot")
    [post] = imagine_posts(xai_env)
    assert post.json["model"] == "grok-imagine-image-2.0"
    assert post.json["response_format"] == "b64_json"
    [made] = imagine_state(xai_env).generated
    assert shown_image(imagined(panel)[0])[1] == made.data
