"""`%%grok --imagine` as a notebook user meets it: a real shell, the real client and downloader,
HTTP to the stand-in's Grok Imagine routes and its image files. What is checked is what the
user sees (image bytes in the outputs, the revised prompts, the usage line), what reached the
stand-in, and what the ledger and its media folder keep."""

from __future__ import annotations

import base64
import io
import json
import os
import stat

import nbformat
import pytest

from grok_magic.errors import InputError
from grok_magic.ledger.budget import BudgetExceeded
from grok_magic.ledger.store import Ledger
from tests.support.magic_helpers import run
from tests.support.standin_imagine import MODERATED, imagine_state
from tests.support.xai_standin import FAKE_KEY


@pytest.fixture
def ip(ledger_shell):
    return ledger_shell


def image_outputs(out) -> list[tuple[str, bytes]]:
    """(media type, bytes) of every image the cell shows."""
    found = []
    for bundle in out.outputs:
        for media_type in ("image/png", "image/jpeg"):
            if media_type in bundle:
                found.append((media_type, base64.b64decode(bundle[media_type])))
    return found


def imagine_posts(srv) -> list:
    return [r for r in srv.requests if r.path.startswith("/v1/images/")]


def file_gets(srv) -> list:
    return [r for r in srv.requests if r.path.startswith("/files/")]


def no_remote_address(text: str, srv) -> None:
    """No address of the stand-in (API or files) in `text`: nothing for a page to load."""
    host = srv.base_url.split("//", 1)[1].split("/", 1)[0]
    assert host not in text and "/files/imagine" not in text


def test_one_image_is_shown_as_the_bytes_the_kernel_fetched(ip, xai_env):
    out = run(ip, "%%grok --imagine -o fox\nA red fox in fresh snow, watercolour")
    assert out.error is None, out.everything()
    [post] = imagine_posts(xai_env)
    assert post.path == "/v1/images/generations"
    assert post.json == {"model": "grok-imagine-image", "prompt":
                         "A red fox in fresh snow, watercolour", "n": 1, "response_format": "url"}
    made = imagine_state(xai_env).generated
    assert image_outputs(out) == [("image/jpeg", made[0].data)]  # the file itself, whole
    [get] = file_gets(xai_env)
    assert "Authorization" not in get.headers and FAKE_KEY not in json.dumps(get.headers)
    assert "A red fox in fresh snow, watercolour — rendered as a detailed illustration" \
        in out.shown()
    usage = out.outputs[-1]["text/plain"]
    assert usage.startswith("1 image · ") and "$0.0200 (exact, from xAI)" in usage
    result = ip.user_ns["_grok"]
    assert [im.size for im in result.images] == [(1024, 1024)]
    assert result.revised_prompts == [made[0].prompt + " — rendered as a detailed illustration"]
    assert ip.user_ns["fox"].size == (1024, 1024)
    no_remote_address(out.everything(), xai_env)
    assert FAKE_KEY not in out.everything()


def test_four_variations_show_side_by_side_and_o_keeps_the_list(ip, xai_env):
    out = run(ip, "%%grok --imagine --count 4 --aspect 16:9 -o pics\nA lighthouse at dawn")
    assert out.error is None, out.everything()
    [post] = imagine_posts(xai_env)
    assert post.json["n"] == 4 and post.json["aspect_ratio"] == "16:9"
    assert len(file_gets(xai_env)) == 4
    assert all("Authorization" not in g.headers for g in file_gets(xai_env))
    [(media_type, sheet)] = image_outputs(out)  # one contact sheet, not four stacked outputs
    from PIL import Image

    drawn = Image.open(io.BytesIO(sheet))
    assert media_type == "image/jpeg" and drawn.width > 3 * drawn.height  # four in a row
    pics = ip.user_ns["pics"]
    made = imagine_state(xai_env).generated
    assert len(pics) == 4 and all(p.size == (1024, 576) for p in pics)
    assert [p.tobytes() for p in pics] == \
        [Image.open(io.BytesIO(g.data)).tobytes() for g in made]
    shown = out.shown()
    for i in range(1, 5):
        assert f"{i}. A lighthouse at dawn" in shown
    assert out.outputs[-1]["text/plain"].startswith("4 images · ")
    assert "$0.0800 (exact, from xAI)" in out.outputs[-1]["text/plain"]


def test_an_image_in_the_cell_makes_it_an_edit(ip, xai_env):
    from PIL import Image

    ip.user_ns["chart"] = Image.new("RGB", (64, 48), (10, 120, 200))
    out = run(ip, "%%grok --imagine --count 2\nRedraw {chart} as a retro travel poster")
    assert out.error is None, out.everything()
    [post] = imagine_posts(xai_env)
    assert post.path == "/v1/images/edits" and post.json["n"] == 2
    assert post.json["prompt"] == "Redraw as a retro travel poster"  # the image cut out
    sent = post.json.get("image") or post.json["images"][0]
    url = sent["url"] if isinstance(sent, dict) else sent
    assert url.startswith("data:image/")
    assert len(ip.user_ns["_grok"].images) == 2
    assert "$0.0420 (exact, from xAI)" in out.outputs[-1]["text/plain"]  # 2 × 0.02 + 0.002


def test_dry_run_shows_the_body_and_estimate_and_sends_nothing(ip, xai_env):
    out = run(ip, "%%grok --imagine --count 3 --dry-run\nThree cats")
    assert out.error is None
    assert imagine_posts(xai_env) == []
    told = out.told()
    assert "/v1/images/generations" in told and '"n": 3' in told
    assert "$0.0600" in told and FAKE_KEY not in out.everything()


@pytest.mark.parametrize("line, words", [
    ("--count 11", "--count"),
    ("--aspect 5:4", "aspect"),
    ("--resolution 4k", "resolution"),
])
def test_bad_options_are_one_paragraph_and_nothing_is_sent(ip, xai_env, line, words):
    out = run(ip, f"%%grok --imagine {line}\nA red fox")
    assert isinstance(out.error, InputError)
    assert imagine_posts(xai_env) == []
    assert words in out.told() and "Traceback" not in out.stdout + out.stderr


def test_chat_only_options_are_refused(ip, xai_env):
    out = run(ip, "%%grok --imagine --json\nA red fox")
    assert out.error is not None and "--json" in out.told()
    assert imagine_posts(xai_env) == []


def test_the_ledger_keeps_the_generation_and_replay_shows_the_same_bytes_offline(
        ip, xai_env, ledger_path, monkeypatch):
    first = run(ip, "%%grok --imagine --count 2\nA paper boat on a pond")
    assert first.error is None, first.everything()
    made = [g.data for g in imagine_state(xai_env).generated]
    [row] = Ledger(ledger_path).entries()
    assert row.api == "images" and row.question == "A paper boat on a pond"
    assert row.cost == pytest.approx(0.04) and row.cost_exact == 1
    media = row.media_items
    assert [m["revised_prompt"] for m in media] == ip.user_ns["_grok"].revised_prompts
    folder = ledger_path.with_name(ledger_path.stem + ".media")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for item, data in zip(media, made, strict=True):
        files = [p for p in folder.iterdir() if p.name.startswith(item["sha256"])]
        assert [p.read_bytes() for p in files] == [data]
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    monkeypatch.delenv("XAI_API_KEY")
    monkeypatch.setenv("XAI_BASE_URL", "http://127.0.0.1:9/v1")  # no network either
    run(ip, "%grok reset")
    run(ip, '%config GrokMagics.replay = "only"')
    sent = len(xai_env.requests)
    again = run(ip, "%%grok --imagine --count 2\nA paper boat on a pond")
    assert again.error is None, again.everything()
    assert len(xai_env.requests) == sent
    assert image_outputs(again) == image_outputs(first)  # the same contact sheet
    replayed = ip.user_ns["_grok"]
    assert replayed.replayed and replayed.cost == 0
    assert "$0 (replayed from the ledger" in again.outputs[-1]["text/plain"]
    assert len(Ledger(ledger_path).entries()) == 1  # a replay is not a second generation


def test_replay_only_with_the_media_folder_gone_is_one_paragraph(ip, xai_env, ledger_path):
    run(ip, "%%grok --imagine\nA kite over a beach")
    folder = ledger_path.with_name(ledger_path.stem + ".media")
    for path in folder.iterdir():
        path.unlink()
    run(ip, '%config GrokMagics.replay = "only"')
    sent = len(xai_env.requests)
    out = run(ip, "%%grok --imagine\nA kite over a beach")
    assert isinstance(out.error, InputError) and len(xai_env.requests) == sent
    assert ".media" in out.told() and "Traceback" not in out.stdout + out.stderr


def test_the_budget_refuses_before_anything_is_sent(ip, xai_env):
    run(ip, "%config GrokMagics.budget = 0.05")
    out = run(ip, "%%grok --imagine --count 3\nThree pears")  # 3 × $0.02 > $0.05
    assert isinstance(out.error, BudgetExceeded)
    assert imagine_posts(xai_env) == []
    assert "%config GrokMagics.budget" in out.told()
    ok = run(ip, "%%grok --imagine --count 2\nTwo pears")
    assert ok.error is None, ok.everything()
    assert "budget: $0.0400 of $0.0500" in ok.outputs[-1]["text/plain"]


def test_an_estimate_is_marked_when_xai_sends_no_cost(ip, xai_env, ledger_path):
    imagine_state(xai_env).send_usage = False
    out = run(ip, "%%grok --imagine\nA teapot")
    assert out.error is None
    usage = out.outputs[-1]["text/plain"]
    assert "≈ $0.0200 (estimated" in usage
    [row] = Ledger(ledger_path).entries()
    assert row.cost_exact == 0 and row.cost == pytest.approx(0.02)


def test_moderation_is_one_paragraph(ip, xai_env):
    out = run(ip, "%%grok --imagine\nSomething forbidden")
    assert out.error is not None
    assert MODERATED.split(" by ")[0].lower() in out.told().lower() or \
        "moderation" in out.told().lower()
    assert "Traceback" not in out.stdout + out.stderr
    assert image_outputs(out) == []


@pytest.mark.parametrize("fault, words", [
    ("expired", "expired"),
    ("redirect", "redirect"),
    ("html", "text/html"),
    ("mismatch", "image"),
])
def test_a_file_that_cannot_be_fetched_is_one_paragraph_naming_the_host_only(
        ip, xai_env, ledger_path, fault, words):
    imagine_state(xai_env).file_fault = fault
    out = run(ip, "%%grok --imagine\nA small boat")
    assert out.error is not None
    assert words in out.told().lower()
    assert "Traceback" not in out.stdout + out.stderr
    assert "/files/imagine" not in out.everything()  # the signed address is never shown
    assert image_outputs(out) == []
    [row] = Ledger(ledger_path).entries()  # xAI made (and billed) it: recorded once
    assert row.cost == pytest.approx(0.02)


def test_one_line_form(ip, xai_env):
    out = run(ip, "%grok imagine A tiny robot watering a plant")
    assert out.error is None, out.everything()
    [post] = imagine_posts(xai_env)
    assert post.json["prompt"] == "A tiny robot watering a plant"
    assert len(image_outputs(out)) == 1


def test_a_saved_notebook_holds_no_remote_image_address(ip, xai_env, tmp_path):
    out = run(ip, "%%grok --imagine --count 2\nTwo owls")
    cell = nbformat.v4.new_code_cell("%%grok --imagine --count 2\nTwo owls")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle) for bundle in out.outputs
                    if "application/vnd.jupyter.widget-view+json" not in bundle]
    path = tmp_path / "saved.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    saved = path.read_text()
    no_remote_address(saved, xai_env)
    assert FAKE_KEY not in saved and "<img" not in saved and os.path.getsize(path) > 10_000


@pytest.mark.parametrize("line, words", [
    ("--each rows --batch-api --imagine", "Batch API takes chat and Responses lines only"),
    ("--each rows --video", "--each cannot go with --video"),
])
def test_what_is_not_offered_is_refused_before_sending(ip, xai_env, line, words):
    ip.user_ns["rows"] = ["a fox", "a hen"]
    out = run(ip, f"%%grok {line}\nA picture of {{item}}")
    assert out.error is not None and words in out.told()
    assert [r for r in xai_env.requests if r.path.startswith("/v1/")] == []


def test_an_exported_lesson_carries_its_images_and_replays_them_offline(ip, xai_env, tmp_path,
                                                                          monkeypatch):
    first = run(ip, "%%grok --imagine\nA chalk drawing of a comet")
    assert first.error is None
    lesson = tmp_path / "lesson.sqlite"
    run(ip, f"%grok export {lesson}")
    copied = list((tmp_path / "lesson.media").iterdir())
    assert [p.read_bytes() for p in copied] == [imagine_state(xai_env).generated[0].data]
    monkeypatch.delenv("XAI_API_KEY")
    monkeypatch.setenv("XAI_BASE_URL", "http://127.0.0.1:9/v1")
    run(ip, "%grok reset")
    run(ip, f'%config GrokMagics.ledger = "{lesson}"')
    run(ip, '%config GrokMagics.replay = "only"')
    again = run(ip, "%%grok --imagine\nA chalk drawing of a comet")
    assert again.error is None, again.everything()
    assert image_outputs(again) == image_outputs(first)
    ip.grok_magics.recorder.ledger.close()


def test_b64_json_is_the_other_path_and_shows_the_same_way(ip, xai_env):
    run(ip, '%config GrokMagics.image_format = "b64_json"')
    out = run(ip, "%%grok --imagine\nA blue kettle")
    assert out.error is None, out.everything()
    [post] = imagine_posts(xai_env)
    assert post.json["response_format"] == "b64_json" and file_gets(xai_env) == []
    assert image_outputs(out) == [("image/jpeg", imagine_state(xai_env).generated[0].data)]


# -- over datasets ---------------------------------------------------------------------------
def test_each_imagine_makes_one_image_per_row_with_its_cost(ip, xai_env, ledger_path):
    import pandas as pd
    from PIL import Image

    ip.user_ns["books"] = pd.DataFrame({"title": ["Dune", "Emma", "Ulysses"]})
    out = run(ip, "%%grok --each books --imagine --aspect 3:4 -o covers\n"
                  "A minimalist book cover for {title}")
    assert out.error is None, out.everything()
    prompts = sorted(r.json["prompt"] for r in imagine_posts(xai_env))
    assert prompts == [f"A minimalist book cover for {t}" for t in ("Dune", "Emma", "Ulysses")]
    assert all(r.json["aspect_ratio"] == "3:4" for r in imagine_posts(xai_env))
    covers = ip.user_ns["covers"]
    made = {g.prompt: g.data for g in imagine_state(xai_env).generated}
    for title, image in zip(covers.index.map(ip.user_ns["books"]["title"].get), covers["image"],
                            strict=True):
        expected = Image.open(io.BytesIO(made[f"A minimalist book cover for {title}"]))
        assert image.tobytes() == expected.tobytes()
    assert list(covers["cost"]) == pytest.approx([0.02, 0.02, 0.02])
    assert all("rendered as a detailed illustration" in a for a in covers["answer"])
    assert len(image_outputs(out)) == 1  # the pictures made, side by side
    assert out.shown().count("image 768×1024") == 3 and "PIL" not in out.shown()
    assert len(Ledger(ledger_path).entries()) == 3
    no_remote_address(out.everything(), xai_env)
    again = run(ip, "%%grok --each books --imagine --aspect 3:4 -o covers\n"
                    "A minimalist book cover for {title}")
    assert again.error is None and len(imagine_posts(xai_env)) == 3  # resumed: nothing sent
    assert [im.tobytes() for im in ip.user_ns["covers"]["image"]] == \
        [im.tobytes() for im in covers["image"]]
    assert list(ip.user_ns["covers"]["replayed"]) == [True, True, True]


def test_each_imagine_shows_thumbnails_while_it_runs_then_the_sheet(ip, xai_env):
    from PIL import Image

    ip.user_ns["rows"] = ["a fox", "a hen", "a cat", "a dog", "an owl"]
    out = run(ip, "%%grok --each rows --imagine --concurrency 1 -o pics\nA woodcut of {item}")
    assert out.error is None, out.everything()
    live = [Image.open(io.BytesIO(base64.b64decode(o.data["image/jpeg"])))
            for o in out.raw if o.update and "image/jpeg" in o.data]
    # one update per picture made (128 px thumbnails, growing), then the run's contact sheet
    assert [im.width for im in live[:-1]] == [n * 128 + (n - 1) * 8 for n in range(1, 6)]
    assert live[-1].width == 4 * 384 + 3 * 8 and live[-1].height > 384  # 4 + 1 on two rows
    assert len(image_outputs(out)) == 1  # what stays: the sheet, in the thumbnails' place
    no_remote_address(out.everything(), xai_env)


def test_each_imagine_dry_run_prices_the_whole_run(ip, xai_env):
    ip.user_ns["rows"] = ["a fox", "a hen", "a cat", "a dog"]
    out = run(ip, "%%grok --each rows --imagine --count 2 --dry-run\nA woodcut of {item}")
    assert out.error is None
    assert imagine_posts(xai_env) == []
    assert "/v1/images/generations" in out.told() and "$0.1600" in out.told()  # 4 × 2 × $0.02


def test_each_imagine_stops_at_the_budget(ip, xai_env):
    ip.user_ns["rows"] = ["a fox", "a hen", "a cat", "a dog"]
    run(ip, "%config GrokMagics.budget = 0.05")
    out = run(ip, "%%grok --each rows --imagine --concurrency 1 -o pics\nA woodcut of {item}")
    assert len(imagine_posts(xai_env)) == 2  # $0.04 spent; a third would cross $0.05
    table = ip.user_ns["pics"]
    assert sum(e is not None and str(e).startswith("not sent") for e in table["error"]) == 2
    assert "budget" in out.told()


def test_each_imagine_dry_run_sums_each_rows_price(ip, xai_env):
    """Rows with a picture are edits (the reference image billed too), rows without are
    generations: the plan adds up each row's price rather than multiplying the first row's."""
    from PIL import Image

    photo = Image.new("RGB", (64, 48), (200, 30, 30))
    ip.user_ns["rows"] = ["a fox", photo, "a cat", photo]
    out = run(ip, "%%grok --each rows --imagine --dry-run\nA woodcut of {item}")
    assert out.error is None, out.everything()
    assert imagine_posts(xai_env) == []
    # 4 images × $0.02, and two reference images × $0.002 (estimated)
    assert "$0.0840" in out.told(), out.told()
