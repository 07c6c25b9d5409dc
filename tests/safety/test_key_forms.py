"""The key in any form: never sent to the model, masked wherever it shows, and terminals inert.

Security review, second round: a key in a variable reached the model (`What is {k}?`), and
base64, hex, zero-width-interleaved and 7-character-piece forms of it passed redaction from
server errors, request ids and answers into outputs, the ledger and history. Every test here goes
through the real magic, client and HTTP to the stand-in, except the fuzzers, which call
`redact` directly on generated text.
"""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import subprocess
import sys
import time
import unicodedata

import pytest

from grok_magic.errors import KeyInRequestError
from grok_magic.safety import redaction
from grok_magic.safety.plain_text import inert_text
from grok_magic.safety.redaction import key_spans, redact, register_secret
from tests.support.magic_helpers import magic_shell, run
from tests.support.xai_standin import FAKE_KEY, Fault, Reply

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
INVISIBLES = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\U000e0041"]


def forms_of(key: str) -> dict[str, str]:
    """Every encoded form the review found passing, for `key`."""
    raw = key.encode()
    return {
        "base64": base64.b64encode(raw).decode(),
        "base64 url-safe": base64.urlsafe_b64encode(raw).decode(),
        "base64 of Bearer": base64.b64encode(b"Bearer " + raw).decode(),
        "base64 inside JSON": base64.b64encode(json.dumps({"auth": key}).encode()).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "zero-width between letters": "\u200b".join(key),
        "7-character pieces": " ".join(key[i:i + 7] for i in range(0, len(key), 7)),
        "6-character pieces": "\n".join(key[i:i + 6] for i in range(0, len(key), 6)),
    }


def leaked(text: str, key: str = FAKE_KEY) -> list[str]:
    """What of `key` is still readable in `text`: 8 characters in a row of the key (any case, even
    with invisible characters between), or 16 of one of its encoded forms."""
    visible = redaction.INVISIBLE.sub("", text).lower()
    lowered = key.lower()
    found = [lowered[i:i + 8] for i in range(len(lowered) - 7) if lowered[i:i + 8] in visible]
    raw = key.encode()
    for form in [raw.hex(), *redaction.base64_forms(raw), *redaction.base64_forms(raw)]:
        for variant in (form, form.replace("+", "-").replace("/", "_")):
            found += [variant[i:i + 16] for i in range(len(variant) - 15)
                      if variant[i:i + 16].lower() in visible]
    return found


@pytest.fixture
def ip(xai_env):
    return magic_shell(max_retries=0)


# -- 1. the key is never sent ----------------------------------------------------------------
@pytest.mark.parametrize("holder", ["plain", "dict", "base64", "hex", "zero-width"])
def test_a_variable_holding_the_key_is_refused_and_nothing_is_sent(ip, xai_env, holder):
    value = {"plain": FAKE_KEY, "dict": {"api": {"key": FAKE_KEY}},
             "base64": base64.b64encode(FAKE_KEY.encode()).decode(),
             "hex": FAKE_KEY.encode().hex(), "zero-width": "\u2060".join(FAKE_KEY)}[holder]
    ip.user_ns["k"] = value
    out = run(ip, "%%grok\nWhat is {k}?")
    assert isinstance(out.error, KeyInRequestError), out.everything()
    assert xai_env.requests == []
    text = out.everything()
    assert "{k} holds your API key" in text and "nothing was sent" in text
    assert "Traceback" not in text and leaked(text) == []


def test_the_dry_run_shows_the_body_and_says_it_would_be_refused(ip, xai_env):
    ip.user_ns["k"] = FAKE_KEY
    out = run(ip, "%%grok --dry-run -o body\nWhat is {k}?")
    assert out.error is None and xai_env.requests == []
    text = out.everything()
    assert "would be refused, not sent" in text and "{k} holds your API key" in text
    assert "What is ***?" in text  # the body as built, the key masked in the display
    assert leaked(text) == [] and leaked(repr(ip.user_ns["body"])) == []
    # the send of that very cell is refused
    assert isinstance(run(ip, "%%grok\nWhat is {k}?").error, KeyInRequestError)


def test_a_key_typed_into_the_cell_or_system_prompt_is_refused_on_both_apis(ip, xai_env):
    ip.run_line_magic("config", 'GrokMagics.api = "chat"')
    out = run(ip, f"%%grok\nMy key is {base64.b64encode(FAKE_KEY.encode()).decode()}")
    assert isinstance(out.error, KeyInRequestError)
    assert "messages[0].content" in out.everything() and "in base64" in out.everything()
    ip.run_line_magic("config", 'GrokMagics.api = "responses"')
    ip.user_ns["sys"] = f"Use key {FAKE_KEY}"
    out = run(ip, f'%%grok -s "Key: {FAKE_KEY.encode().hex()}"\nHello')
    assert isinstance(out.error, KeyInRequestError) and "in hex" in out.everything()
    dry = run(ip, f'%%grok --dry-run -s "Key: {FAKE_KEY.encode().hex()}"\nHello')
    assert "would be refused" in dry.everything() and leaked(dry.everything()) == []
    assert xai_env.requests == []


def test_each_and_batch_runs_holding_the_key_send_nothing(ip, xai_env):
    ip.user_ns["items"] = ["a", "b"]
    ip.user_ns["k"] = FAKE_KEY
    out = run(ip, "%%grok --each items\nLabel {item} with {k}")
    assert isinstance(out.error, KeyInRequestError), out.everything()
    out = run(ip, f"%%grok --each items --batch-api -s {FAKE_KEY}\nLabel {{item}}")
    assert isinstance(out.error, KeyInRequestError), out.everything()
    assert xai_env.requests == []  # no request, no upload
    assert leaked(out.everything()) == []


def test_an_each_dry_run_shows_the_first_body_and_says_it_would_be_refused(ip, xai_env):
    ip.user_ns["items"] = ["a", "b"]
    ip.user_ns["k"] = FAKE_KEY
    out = run(ip, "%%grok --each items --dry-run -o plan\nLabel {item} with {k}")
    assert out.error is None, out.everything()
    text = out.everything()
    assert "would be refused, not sent" in text and "{k} holds your API key" in text
    assert "Label a with ***" in text and leaked(text) == []
    assert isinstance(ip.user_ns["plan"].refused, KeyInRequestError)
    assert [r.method for r in xai_env.requests] in ([], ["GET"])  # at most the price list


def test_the_panel_refuses_a_typed_key_and_keeps_what_was_typed(xai_env):
    from grok_magic.notebook.panel import ChatPanel

    panel = ChatPanel(model="grok-4.3", models=["grok-4.3"])
    typed = f"is {base64.b64encode(FAKE_KEY.encode()).decode()} my key?"
    panel.input.value = typed
    panel.send_button.click()
    panel.wait(10)
    assert xai_env.requests == []
    assert panel.input.value == typed  # nothing the user typed is lost
    assert isinstance(panel.error, KeyInRequestError)
    assert leaked(panel.error_box.value if hasattr(panel.error_box, "value") else "") == []


def test_the_transport_is_the_last_check_for_scripts(xai_env):
    from grok_magic.xai.client import GrokClient

    client = GrokClient.from_env()
    body = {"model": "grok-4.3", "messages": [{"role": "user", "content": "k=" + "\u200d".join(
        FAKE_KEY)}]}
    with pytest.raises(KeyInRequestError, match="invisible characters"):
        client.complete(body)
    assert xai_env.requests == []
    # image data is the user's own pixels and is not searched (this PNG holds the key as text)
    import io

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("note", FAKE_KEY)
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG", pnginfo=info)
    data = base64.b64encode(png.getvalue()).decode()
    assert key_spans(data)  # redaction would find it there
    picture = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + data}}
    client.complete({"model": "grok-4.3", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "hi"}, picture]}]})
    assert len(xai_env.requests) == 1


# -- 2. redaction knows the encodings --------------------------------------------------------
@pytest.mark.parametrize("form", list(forms_of(FAKE_KEY)))
def test_an_encoded_key_in_a_server_error_and_request_id_is_masked(xai_env, form):
    from grok_magic.xai.client import GrokClient

    echo = forms_of(FAKE_KEY)[form]
    xai_env.enqueue(Fault(400, {"code": "bad", "error": f"you sent [{echo}] which is odd"},
                          headers={"x-request-id": f"req-{FAKE_KEY.encode().hex()}"}))
    client = GrokClient.from_env(max_retries=0)
    with pytest.raises(Exception) as info:  # noqa: B017 - the class depends on the words
        client.complete({"model": "grok-4.3", "messages": [{"role": "user", "content": "hi"}]})
    text = f"{info.value} {info.value!r} {vars(info.value)}"
    assert "which is odd" in text and leaked(text) == [], text


def test_encoded_keys_in_answers_are_masked_in_every_place_they_go(ip, xai_env, tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    ip.run_line_magic("config", f'GrokMagics.ledger = "{ledger}"')
    forms = forms_of(FAKE_KEY)
    answer = "Here: " + " | ".join(f"{name}: {form}" for name, form in forms.items())
    xai_env.enqueue(Reply(content=answer, reasoning=forms["hex"]))
    first = run(ip, "%%grok\nTell me the key")
    assert first.error is None, first.everything()
    history = run(ip, "%grok history")
    log = run(ip, "%grok log")
    xai_env.enqueue(Reply(content="again"))
    dry = run(ip, "%%grok --dry-run\nAnd now?")  # the dry run includes the history
    response = ip.user_ns["_grok"]
    blob = "\n".join([first.everything(), history.everything(), log.everything(),
                      dry.everything(), repr(response), response.text, response.reasoning])
    assert "Here: base64: ***" in blob
    assert leaked(blob) == [], leaked(blob)
    ip.grok_magics.recorder.close() if hasattr(ip.grok_magics.recorder, "close") else None
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.sqlite*"))
    assert leaked(stored.decode("utf-8", "replace")) == []
    rows = sqlite3.connect(ledger).execute("select * from exchanges").fetchall()
    assert rows and leaked(repr(rows)) == []


def test_the_unicode_format_characters_are_all_invisible_to_matching():
    """INVISIBLE lists the Cf characters by hand (building the class from unicodedata at import
    would cost the load time): it must hold every one this Python knows."""
    missing = [f"U+{c:04X}" for c in range(sys.maxunicode + 1)
               if unicodedata.category(chr(c)) == "Cf" and not redaction.INVISIBLE.fullmatch(chr(c))]
    assert missing == []


def test_fuzz_generated_keys_in_generated_encodings_are_masked(monkeypatch):
    """Random keys, each form at random places of random text with random neighbours (so every
    base64 alignment and every separator occurs): nothing readable of the key is left. Each key
    is the only one registered while its case runs (registered keys are global to the process,
    and 300 of them would slow every later test)."""
    rng = random.Random(20)
    filler = ["the", "answer", "is", "—", "λ", "\n", "`", "**", "0x", "=", "ok.", "data"]
    for case in range(300):
        key = "xai-" + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(20, 84)))
        monkeypatch.setattr(redaction, "_secrets", [])
        monkeypatch.setattr(redaction, "_search", None)
        register_secret(key)
        forms = forms_of(key)
        forms["zero-width mixed"] = "".join(c + rng.choice(INVISIBLES) for c in key)
        forms["base64 shifted"] = base64.b64encode(
            bytes(rng.randrange(256) for _ in range(rng.randint(0, 5))) + key.encode()
            + bytes(rng.randrange(256) for _ in range(rng.randint(0, 5)))).decode()
        for name, form in forms.items():
            words = [rng.choice(filler) for _ in range(rng.randint(0, 8))]
            words.insert(rng.randint(0, len(words)), form)
            text = rng.choice(["", " ", "(", "'"]).join(words)
            out = redact(text)
            assert leaked(out, key) == [], (case, name, text, out)


def test_ordinary_text_is_left_alone():
    register_secret(FAKE_KEY)
    rng = random.Random(3)
    text = " ".join("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 9)))
                    for _ in range(20_000))
    text += " Paris, 0123 and abcdef are fine; so is base64 aGVsbG8gd29ybGQ= and hex 68656c6c6f."
    assert redact(text) == text


@pytest.mark.parametrize("shape", ["prose", "key pieces", "base64 run", "invisibles"])
def test_redaction_time_per_kb_stays_flat(shape):
    """Linear in the text for any shape: time per KB at 1 MB within 4× of that at 32 KB."""
    register_secret(FAKE_KEY)
    unit = {"prose": "lorem ipsum dolor sit amet, xai and api. ",
            "key pieces": FAKE_KEY[:7] + " " + FAKE_KEY[9:16] + " ",
            "base64 run": base64.b64encode(bytes(range(256))).decode(),
            "invisibles": "a\u200bb\u2060"}[shape]

    def per_kb(size: int) -> float:
        text = (unit * (size // len(unit) + 1))[:size]
        best = min(_timed(redact, text) for _ in range(3))
        return best / (size / 1024)

    small, large = per_kb(32 * 1024), per_kb(1024 * 1024)
    assert large <= 4 * small + 2e-6, (shape, small, large)


def _timed(fn, arg) -> float:
    started = time.perf_counter()
    fn(arg)
    return time.perf_counter() - started


def test_key_spans_say_which_form_was_found():
    register_secret(FAKE_KEY)
    forms = forms_of(FAKE_KEY)
    assert [h for *_, h in key_spans(forms["hex"])] == ["in hex"]
    assert [h for *_, h in key_spans(forms["base64 of Bearer"])] == ["in base64"]
    assert {h for *_, h in key_spans(forms["7-character pieces"])} == {"in pieces"}
    assert [h for *_, h in key_spans(forms["zero-width between letters"])] == [
        "with invisible characters between its letters"]


# -- 4. terminals are inert ------------------------------------------------------------------
HOSTILE = ("clip\x1b]52;c;ZWNobyBwd25lZA==\x07 cls\x1b[2J\x1b[H conceal\x1b[8m hidden\x1b[0m "
           "link\x1b]8;;https://evil.example/\x1b\\safe.example\x1b]8;;\x1b\\ c1\x9b31m\x9d0;t\x9c "
           "bell\x07 nul\x00 end\tTab\nline two")


def test_inert_text_drops_escapes_and_keeps_newlines_and_tabs():
    out = inert_text(HOSTILE)
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f for c in out)
    assert "end\tTab\nline two" in out and "safe.example" in out and "evil.example" not in out


def test_terminal_ipython_prints_answers_and_errors_inert(xai_env, tmp_path):
    xai_env.enqueue(Reply(content=HOSTILE),
                    Fault(400, {"code": "bad", "error": f"no\x1b]52;c;cHduZWQ=\x07 {HOSTILE}"}))
    script = tmp_path / "ask.ipy"
    script.write_text("%load_ext grok_magic\n%config GrokMagics.max_retries = 0\n"
                      "%grok Say something\n%grok And again\n_grok\n")
    env = {"XAI_BASE_URL": xai_env.base_url, "XAI_API_KEY": FAKE_KEY, "HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": "", "GROK_LEDGER": "off"}
    result = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor",
                             str(script)], capture_output=True, text=True, env=env, timeout=60)
    printed = result.stdout + result.stderr
    assert "safe.example" in printed and "line two" in printed, printed
    assert "Bad request" in printed or "HTTP 400" in printed, printed
    assert "\x1b" not in printed and "\x9b" not in printed and "\x9d" not in printed
    assert "\x07" not in printed and "\x00" not in printed
    assert FAKE_KEY not in printed


def test_the_terminal_sink_writes_every_terminal_case_inert():
    import io

    from grok_magic.notebook.display import TerminalSink
    from tests.support.inert_corpus import TERMINAL

    for text in TERMINAL:
        out = io.StringIO()
        sink = TerminalSink(out)
        for cut in range(0, len(text), 3):  # streamed in pieces: a sequence may be split
            sink.tail("", text[: cut + 3])
        sink.end("", text, "stopped \x1b[2J", "stopped")
        printed = out.getvalue()
        assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f
                       for c in printed), (text, printed)
