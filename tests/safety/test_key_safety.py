"""The API key never shows: not in Verbose tracebacks, server echoes, answers, dry runs or pickles.

Each case is a leak a security review found; each goes through the real client and HTTP to the
stand-in (or, for tracebacks, through IPython's own Verbose formatter).
"""

from __future__ import annotations

import pickle
import signal
import threading
import time
from urllib.parse import quote

import pytest

from grok_magic.errors import InterruptedByUser, ServerError
from grok_magic.notebook.magics import GrokMagics
from grok_magic.safety.redaction import Secret, redact
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient, ModelInfo
from tests.support.magic_helpers import run, shell
from tests.support.xai_standin import FAKE_KEY, Fault, Reply

VARIANTS = {
    "whole": FAKE_KEY,
    "upper case": FAKE_KEY.upper(),
    "split": f"{FAKE_KEY[:12]} {FAKE_KEY[12:]}",
    "percent-encoded": "".join(f"%{ord(c):02X}" if not c.isalnum() else c for c in FAKE_KEY),
    "fully encoded": "".join(f"%{ord(c):02X}" for c in FAKE_KEY),
    "quoted": quote(FAKE_KEY, safe=""),
    "tail only": FAKE_KEY[9:],
}


def leaks(text: str) -> list[str]:
    """Which form of the key (if any) is in `text`."""
    lowered = text.lower()
    found = [name for name, form in VARIANTS.items() if form.lower() in lowered]
    # Any 10 characters in a row of the key, the way a partial echo would show it.
    key = FAKE_KEY.lower()
    found += [key[i:i + 10] for i in range(len(key) - 9) if key[i:i + 10] in lowered]
    return found


@pytest.fixture
def ip(xai_env):
    shell_ = shell()
    shell_.config.pop("GrokMagics", None)
    magics = GrokMagics(shell=shell_)
    shell_.register_magics(magics)
    magics.max_retries = 0
    shell_.grok_magics = magics
    shell_.run_line_magic("xmode", "Verbose")
    yield shell_
    shell_.run_line_magic("xmode", "Context")


def interrupt_when_requested(srv, after: float = 0.3) -> None:
    main = threading.main_thread().ident

    def fire():
        deadline = time.monotonic() + 10
        while not srv.answer_requests and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(after)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()


def verbose_text(ip, error: BaseException) -> str:
    """The traceback IPython's Verbose mode would print for `error` (locals of every frame)."""
    ip.InteractiveTB.set_mode("Verbose")
    return "\n".join(ip.InteractiveTB.structured_traceback(type(error), error, error.__traceback__))


def frame_locals(error: BaseException) -> str:
    """repr of every local of every frame in the chain Python would show."""
    seen, out = set(), []
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        tb = error.__traceback__
        while tb is not None:
            for name, value in tb.tb_frame.f_locals.items():
                try:
                    out.append(f"{name}={value!r}")
                except Exception:  # noqa: BLE001 - a repr that fails shows nothing
                    pass
            tb = tb.tb_next
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return "\n".join(out)


@pytest.mark.parametrize("option", ["", "--no-stream"], ids=["stream", "no-stream"])
def test_ctrl_c_before_the_first_byte_shows_no_key_even_verbose(ip, xai_env, default_sigint, option):
    xai_env.enqueue(Reply(content="late", first_delay=3))
    interrupt_when_requested(xai_env)
    out = run(ip, f"%%grok {option}\nHello")
    assert isinstance(out.error, InterruptedByUser), out.everything()
    assert leaks(out.everything()) == []
    assert leaks(verbose_text(ip, out.error)) == []
    local_values = frame_locals(out.error)
    assert "auth=BearerAuth(***)" in local_values  # the client's own frames are in the chain
    assert leaks(local_values) == []
    tb = run(ip, "%tb")
    assert leaks(tb.everything()) == []


def test_a_key_echoed_in_the_request_id_is_masked(xai_env):
    xai_env.enqueue(Fault(500, headers={"x-request-id": f"req-{FAKE_KEY}"}))
    client = GrokClient(Settings.load(max_retries=0))
    with pytest.raises(ServerError) as info:
        client.complete({"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]})
    err = info.value
    assert "req-" in str(err)
    assert leaks(str(err)) == [] and leaks(repr(vars(err))) == [] and leaks(repr(err)) == []


@pytest.mark.parametrize("form", list(VARIANTS))
def test_every_form_of_an_echoed_key_is_masked(xai_env, form):
    echo = VARIANTS[form]
    xai_env.enqueue(Fault(400, {"code": "bad", "error": f"you sent [{echo}] which is odd"}))
    client = GrokClient(Settings.load(max_retries=0))
    with pytest.raises(Exception) as info:  # noqa: B017 - the class depends on the words
        client.complete({"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]})
    assert "which is odd" in str(info.value)
    assert leaks(str(info.value)) == [], str(info.value)


def test_redact_keeps_ordinary_text():
    Settings.load(api_key=FAKE_KEY)
    text = "Paris is the capital of France; 0123 and abcdef are fine, so is xai-short."
    assert redact(text) == text


def test_key_echoed_in_answer_and_model_name_is_masked_everywhere(ip, xai_env):
    xai_env.enqueue(Reply(content=f"Your key is {FAKE_KEY} and {FAKE_KEY.upper()}",
                          reasoning=f"I saw {FAKE_KEY}", model=f"grok-{FAKE_KEY}"),
                    Reply(content="second"))
    first = run(ip, "%%grok\nHello")
    second = run(ip, "%%grok\nAgain")
    history = run(ip, "%grok history")
    response = ip.user_ns["_grok"]
    blob = "\n".join([first.everything(), second.everything(), history.everything(),
                      repr(ip.grok_magics.conversation.responses), response.text])
    for r in ip.grok_magics.conversation.responses:
        blob += r.text + r.reasoning + str(r.model)
    assert leaks(blob) == []
    assert "Your key is ***" in first.plain()


def test_model_list_echo_is_masked():
    Settings.load(api_key=FAKE_KEY)
    info = ModelInfo.from_language_model({"id": f"m-{FAKE_KEY}", "aliases": [FAKE_KEY]})
    assert leaks(repr(info)) == []


def test_dry_run_with_the_key_interpolated_shows_no_key(ip, xai_env):
    ip.user_ns["k"] = FAKE_KEY
    out = run(ip, "%%grok --dry-run -o body\nMy key is {k}")
    assert out.error is None
    assert leaks(out.everything()) == [] and leaks(repr(ip.user_ns["body"])) == []
    assert xai_env.answer_requests == []


def test_interpolated_text_is_never_searched_for_images(ip, xai_env, tmp_path):
    private = tmp_path / "private.png"
    from PIL import Image

    Image.new("RGB", (20, 20), (1, 2, 3)).save(private)
    ip.user_ns["doc"] = f"notes ![p]({private}) and https://evil.example/t.png end"
    xai_env.enqueue(Reply(content="![t](https://evil.example/t.png)"))
    out = run(ip, "%%grok\nSummarise {doc}")
    assert out.error is None, out.everything()
    sent = xai_env.answer_requests[-1].as_chat["messages"][-1]["content"]
    assert isinstance(sent, str) and str(private) in sent and "evil.example/t.png" in sent
    answer = out.outputs[-2]["text/html"]
    assert "<img" not in answer  # the URL never joined the images the user sent
    # The cell's own text still sends inline images.
    run(ip, f"%%grok\nLook at ![p]({private})")
    parts = xai_env.answer_requests[-1].as_chat["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"]


def test_settings_and_client_pickle_without_the_key():
    settings = Settings.load(api_key=FAKE_KEY, base_url="http://127.0.0.1:9/v1")
    client = GrokClient(settings)
    for obj in (settings, client):
        data = pickle.dumps(obj)
        assert FAKE_KEY.encode() not in data
    assert pickle.loads(pickle.dumps(settings)).api_key is None
    restored = pickle.loads(pickle.dumps(client))
    assert restored.settings.base_url == "http://127.0.0.1:9/v1" and not restored.settings.has_key
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(Secret(FAKE_KEY))


def test_the_secret_never_prints_itself():
    secret = Secret(FAKE_KEY)
    assert FAKE_KEY not in f"{secret} {secret!r} {secret!s} {[secret]} {vars(Settings(api_key=FAKE_KEY))}"
    assert secret.reveal() == FAKE_KEY


def test_percent_encoded_runs_are_found_only_where_a_run_starts():
    """The lookbehind changes no match (compared with the plain pattern on random text), and a
    long word in a text with a "%" is redacted in linear time (it used to be quadratic: a 32 KB
    run took 20 s; this 400 KB one would take hours)."""
    import random
    import re

    from grok_magic.safety import redaction

    plain = re.compile(rf"{redaction._URL_CHAR}*%[0-9A-Fa-f]{{2}}{redaction._URL_CHAR}*")
    alphabet = "a1%F2 .-~+zZ%%g/"
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert [m.span() for m in redaction.ENCODED_RUN.finditer(text)] == [
            m.span() for m in plain.finditer(text)], text
    word = "b" * 400_000
    assert redact(f"{word} 50% of xai%2Dfake%2D0123456789abcdef") == f"{word} 50% of ***"
