"""The `--each` / batch results table shows model text as text (grok_magic.runs.frame).

Answers come from the stand-in through the real `%%grok --each` magic (and a Batch API job), and
the table is displayed the way the user displays it (`labels`, `_grok_each`, `labels.head()`,
`labels[["answer"]]`): what IPython sends to the front end is then checked by
`tests/inert/check.mjs` (jsdom + the real MathJax 3 set up as JupyterLab 4.6 sets it up), which
shares nothing with grok_magic. pandas' own scaffolding (its `<style scoped>` block and the
`text-align` of its header row, the same in every table) is what every table has and so is
allowed; anything else is a finding.

Each of the two defences is checked on its own too (only the spans, only the `mathjax_ignore`
wrapper), and the checker is shown to see the attack on a plain DataFrame (its positive control).
"""

from __future__ import annotations

import copy
import pickle
import re
import subprocess
import sys
import time

import pandas as pd
import pytest

from grok_magic.runs.batch_job import BatchJob, PollSchedule
from grok_magic.runs.frame import WRAPPER_CLASSES, ResultFrame, ResultSeries, inert_html
from tests.support.inert_check import node_check
from tests.support.inert_corpus import TABLE_PAYLOADS as PAYLOADS
from tests.support.magic_helpers import close_ledger, magic_shell, run, visible_text, wait_until
from tests.support.standin_batches import batch_state
from tests.support.xai_standin import Reply

OSC52 = "\x1b]52;c;ZXZpbA==\x07"
FAST = PollSchedule(first=0.02, factor=1.0, floor=0.02, cap=0.02)
# Every option a DataFrame's display reads (and that a "fix" might have set globally).
OPTIONS = ["display.html.use_mathjax", "display.notebook_repr_html", "display.max_colwidth",
           "display.large_repr", "display.html.table_schema", "display.html.border",
           "display.max_rows", "display.max_columns", "display.show_dimensions",
           "styler.render.repr", "styler.format.escape"]


@pytest.fixture
def ip(xai_env, tmp_path, monkeypatch):
    monkeypatch.setenv("GROK_LEDGER", str(tmp_path / "ledger.sqlite"))
    shell_ = magic_shell(batch_schedule=FAST)
    yield shell_
    close_ledger(shell_)


def options() -> dict:
    return {name: pd.get_option(name) for name in OPTIONS}


def bundle(ip, obj) -> dict:
    """What the kernel sends for `obj` as a cell's last line (ipykernel's display hook calls
    the display formatter exactly so)."""
    data, _ = ip.display_formatter.format(obj)
    return data


def pandas_cell_texts(markup: str) -> list[str]:
    """The text of every <td> of a table, as a browser shows it."""
    return [visible_text(td) for td in re.findall(r"<td>.*?</td>", markup, re.S)]


def baseline_findings() -> set[tuple[str, str]]:
    """check.mjs's findings on pandas' scaffolding (a harmless table): allowed."""
    report = node_check([{"id": "b", "html": ResultFrame({"answer": ["plain"]})._repr_html_()}])
    return {(f["rule"], f["detail"]) for f in report["findings"]}


def check(cases: dict[str, str], allowed_rules: tuple[str, ...] = ()) -> dict:
    """check.mjs on {id: html}; returns the report with pandas' scaffolding findings dropped."""
    scaffolding = baseline_findings()
    report = node_check([{"id": k, "html": v, "facts": True} for k, v in cases.items()])
    report["findings"] = [f for f in report["findings"]
                          if (f["rule"], f["detail"]) not in scaffolding
                          and f["rule"] not in allowed_rules]
    return report


def assert_inert_report(report: dict, expected_texts: dict[str, list[str]]) -> None:
    assert report["findings"] == [], report["findings"][:8]
    assert report["mathItems"] == 0 and report["typesetErrors"] == []
    for case_id, facts in report["facts"].items():
        assert facts["links"] == [] and facts["images"] == [] and facts["math"] == 0, case_id
        for text in expected_texts[case_id]:
            assert text in facts["text"], (case_id, text)


# -- through the magic ---------------------------------------------------------------------------
def test_each_results_display_as_text_however_the_user_shows_them(ip, xai_env, node_ok):  # noqa: F811
    before = options()
    xai_env.enqueue(*[Reply(content=a) for a in PAYLOADS])
    ip.user_ns["reviews"] = pd.DataFrame({"text": [f"review {i}" for i in range(len(PAYLOADS))]})
    out = run(ip, "%%grok --each reviews -o labels --concurrency 1\nSentiment of {text}")
    assert out.error is None, out.error
    labels = ip.user_ns["labels"]
    assert labels is ip.user_ns["_grok_each"]
    assert list(labels["answer"]) == PAYLOADS  # the data itself is untouched

    views = {"labels": labels, "head": labels.head(len(PAYLOADS)),
             "answer_only": labels[["answer"]], "sliced": labels.iloc[:, :2]}
    shown = {}
    for name, view in views.items():
        assert isinstance(view, ResultFrame), name
        data = bundle(ip, view)
        assert "text/latex" not in data and "text/markdown" not in data, name
        shown[name] = data["text/html"]
        assert shown[name].startswith(f'<div class="{WRAPPER_CLASSES}">')
    assert type(labels["answer"]) is ResultSeries  # a column: text/plain only, inert
    assert "text/html" not in bundle(ip, labels["answer"])
    # displayed with display() too (the display publisher, not the display hook)
    displayed = run(ip, "display(labels.head(len(labels)))")
    assert displayed.outputs[0]["text/html"] == shown["labels"]
    assert options() == before  # displaying changed no pandas option

    # the reader sees exactly the text pandas would show (cut at display.max_colwidth as usual)
    plain = pd.DataFrame(labels)._repr_html_()
    expected = [t for t in pandas_cell_texts(plain) if t in PAYLOADS or t.endswith("...")]
    assert len(expected) == len(PAYLOADS)
    assert [t for t in pandas_cell_texts(shown["labels"]) if t in expected] == expected
    assert r"\href{https://evil.example/}{LOGIN}" in visible_text(shown["labels"])

    report = check(shown)
    assert_inert_report(report, {name: expected for name in shown})


def test_the_checker_sees_the_attack_on_a_plain_dataframe(node_ok):  # noqa: F811
    """Positive control: pandas' own HTML of the same answers is typeset, links and all."""
    report = check({"plain": pd.DataFrame({"answer": PAYLOADS})._repr_html_()})
    rules = {f["rule"] for f in report["findings"]}
    assert report["mathItems"] >= 3
    assert {"mathjax-link", "mathjax-attribute", "math-outside-vetted"} <= rules, rules


def test_each_defence_is_enough_on_its_own(node_ok):  # noqa: F811
    markup = ResultFrame({"answer": PAYLOADS})._repr_html_()
    spans_only = markup.replace(f'<div class="{WRAPPER_CLASSES}">', "<div>", 1)
    wrapper_only = re.sub(r"<span>([$\\])</span>", r"\1", markup)
    assert "mathjax_ignore" not in spans_only and "<span>" not in wrapper_only
    for name, variant in (("spans only", spans_only), ("wrapper only", wrapper_only)):
        # (the contract rule "one mathjax_ignore wrapper" fails by design without the wrapper)
        report = check({name: variant}, allowed_rules=("outside-wrapper",))
        assert report["findings"] == [] and report["mathItems"] == 0, (name, report)
        assert r"$\href{https://evil.example/}{LOGIN}$" in report["facts"][name]["text"]


def test_a_users_own_dataframe_is_untouched(ip, xai_env):
    user = pd.DataFrame({"m": ["$x^2$"]})
    html_before, before = user._repr_html_(), options()
    xai_env.enqueue(Reply(content="$y^2$"))
    ip.user_ns["reviews"] = ["one"]
    assert run(ip, "%%grok --each reviews -o labels\nSay {item}").error is None
    bundle(ip, ip.user_ns["labels"])
    bundle(ip, ip.user_ns["labels"].head())
    assert options() == before
    assert bundle(ip, user)["text/html"] == html_before == pd.DataFrame(user)._repr_html_()
    assert "<td>$x^2$</td>" in html_before and "mathjax_ignore" not in html_before
    assert type(user.head()) is pd.DataFrame


def test_batch_api_results_are_result_frames(ip, xai_env, node_ok):  # noqa: F811
    batch_state(xai_env).latency = 0.01
    ip.user_ns["reviews"] = PAYLOADS[:3]
    out = run(ip, "%%grok --each reviews --batch-api -o labels\n{item}")
    assert out.error is None, out.error
    job = ip.user_ns["_grok_batch"]
    wait_until(lambda: not isinstance(ip.user_ns["labels"], BatchJob))
    labels = ip.user_ns["labels"]
    assert isinstance(labels, ResultFrame) and isinstance(job.wait(10), ResultFrame)
    assert all(p in a for p, a in zip(PAYLOADS[:3], labels["answer"], strict=True))
    with pd.option_context("display.max_colwidth", None):  # the answers quote the prompts
        report = check({"batch": bundle(ip, labels)["text/html"],
                        "batch-head": bundle(ip, labels.head())["text/html"]})
    assert report["findings"] == [] and report["mathItems"] == 0
    assert r"\href{https://evil.example/}{LOGIN}" in report["facts"]["batch"]["text"]


def test_labels_style_escapes_html_and_is_inert(ip, xai_env, node_ok):  # noqa: F811
    """`labels.style` (pandas' Styler) escapes nothing by default: the <img onerror> would be
    live HTML. The result table's Styler escapes it and is inert for MathJax too."""
    pytest.importorskip("jinja2")
    from pandas.io.formats.style import Styler

    xai_env.enqueue(*[Reply(content=a) for a in PAYLOADS])
    ip.user_ns["reviews"] = [f"r{i}" for i in range(len(PAYLOADS))]
    assert run(ip, "%%grok --each reviews -o labels --concurrency 1\nSay {item}").error is None
    labels = ip.user_ns["labels"]
    styled = labels.style.highlight_max(subset=["cost"])
    assert isinstance(styled, Styler) and "text/latex" not in bundle(ip, styled)
    markup = bundle(ip, styled)["text/html"]
    assert "<img" not in markup and "&lt;img src=x onerror=alert(1)&gt;" in markup
    assert "<img src=x" in Styler(pd.DataFrame(labels))._repr_html_()  # pandas' own: live
    report = node_check([{"id": "style", "html": markup, "facts": True}])
    findings = [f for f in report["findings"] if not (
        f["rule"] == "forbidden-element" and f["detail"].startswith('<style> <style type="text/css">'))]
    assert findings == [] and report["mathItems"] == 0
    facts = report["facts"]["style"]
    assert facts["links"] == [] and facts["images"] == []
    assert all(p in facts["text"] for p in PAYLOADS if len(p) <= 50)


# -- text/plain ----------------------------------------------------------------------------------
def test_text_plain_drops_escape_sequences(ip, xai_env):
    xai_env.enqueue(Reply(content=f"ok{OSC52}done\x1b[2J"), Reply(content="fine"))
    ip.user_ns["reviews"] = ["a", "b"]
    assert run(ip, "%%grok --each reviews -o labels --concurrency 1\nSay {item}").error is None
    labels = ip.user_ns["labels"]
    assert labels.loc[0, "answer"] == f"ok{OSC52}done\x1b[2J"  # the data is kept as it came
    for text in (bundle(ip, labels)["text/plain"], bundle(ip, labels.head())["text/plain"],
                 repr(labels), str(labels), bundle(ip, labels)["text/html"],
                 repr(labels["answer"]), bundle(ip, labels["answer"])["text/plain"]):
        assert "\x1b" not in text and "\x07" not in text
        assert "okdone" in text


def test_load_ext_does_not_import_pandas():
    code = ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "InteractiveShell.instance().run_line_magic('load_ext', 'grok_magic')\n"
            "print('pandas' in sys.modules, 'grok_magic.runs.table' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


# -- the class itself ----------------------------------------------------------------------------
def test_pandas_operations_keep_the_class_and_nothing_else():
    frame = ResultFrame({"answer": ["$a$", "b"], "cost": [1.0, 2.0]})
    for derived in (frame.head(), frame.tail(1), frame[["answer"]], frame.iloc[:1], frame.loc[[0]],
                    frame.copy(), copy.deepcopy(frame), frame.sort_values("cost"),
                    frame.reset_index(), frame.assign(x=1), frame.query("cost > 1"),
                    frame.drop(columns="cost"), pd.concat([frame, frame]),
                    pickle.loads(pickle.dumps(frame))):
        assert type(derived) is ResultFrame
        assert "<span>$</span>a<span>$</span>" in derived._repr_html_() or "$" not in str(
            derived.values)
    assert type(frame["answer"]) is ResultSeries and type(frame.iloc[0]) is ResultSeries
    assert type(frame["answer"].to_frame()) is ResultFrame
    assert isinstance(frame["answer"], pd.Series) and frame["answer"].str.len().sum() == 4
    assert ResultFrame._metadata == [] and frame._repr_latex_() is None
    assert pd.DataFrame(frame).equals(frame)


def test_info_view_is_escaped_and_inert():
    """pandas' `info()` HTML view (display.large_repr = "info") does not escape column names."""
    frame = ResultFrame({"<img src=x onerror=alert(1)>": [r"$\href{https://e.x/}{L}$"],
                         r"$\style{color:red}{c}$": [1]})
    with pd.option_context("display.large_repr", "info", "display.max_rows", 0):
        assert "<img src=x" in pd.DataFrame(frame)._repr_html_()  # pandas' own: live HTML
        markup = frame._repr_html_()
    assert "<img" not in markup and "&lt;img src=x onerror=alert(1)&gt;" in markup
    assert "<span>$</span><span>\\</span>style{color:red}{c}<span>$</span>" in markup
    assert markup.startswith(f'<div class="{WRAPPER_CLASSES}"><pre>')


def test_notebook_repr_html_off_still_means_no_html():
    with pd.option_context("display.notebook_repr_html", False):
        assert ResultFrame({"a": [1]})._repr_html_() is None


def test_inert_html_keeps_markup_and_isolates_every_dollar_and_backslash():
    markup = ('<div><style scoped>\n .dataframe thead th {text-align: right;}\n</style>'
              '<table class="dataframe"><tr style="text-align: right;"><th>$a</th>'
              '<td>\\$x\\$ &amp; $$y$$</td></tr></table></div>')
    out = inert_html(markup)
    assert out == (
        f'<div class="{WRAPPER_CLASSES}"><div><style scoped>\n .dataframe thead th '
        '{text-align: right;}\n</style><table class="dataframe"><tr style="text-align: right;">'
        '<th><span>$</span>a</th><td><span>\\</span><span>$</span>x<span>\\</span><span>$</span>'
        ' &amp; <span>$</span><span>$</span>y<span>$</span><span>$</span></td></tr></table>'
        '</div></div>')
    assert visible_text(out) == visible_text(markup)


@pytest.mark.parametrize("shape", ["$\\", "<", "<style ", "<style>", "<!--", "x"])
def test_inert_html_is_linear(shape):
    """Flat time per KB, also for shapes pandas never writes (a `<` that never closes: a
    `<[^>]*>` rule would be quadratic there)."""
    def per_kb(size: int) -> float:
        text = "<td>" + shape * (size // len(shape))
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            inert_html(text)
            best = min(best, time.perf_counter() - started)
        return best / (size / 1024)

    small, large = per_kb(50_000), per_kb(1_000_000)
    assert large < small * 5 + 1e-5, (shape, small, large)
