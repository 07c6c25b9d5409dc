"""Is grok_magic.safety.markdown's HTML inert where it is shown? Checked without its own rules,
by the two checkers of tests/support/inert_check.py (html.parser rules, and jsdom + the real
MathJax with JupyterLab's configuration).

Inputs: the fixed hostile corpus (tests/support/inert_corpus.py), every prefix of it
(streaming), and a seeded fuzzer (GROK_INERT_CASES documents, default 20000; GROK_INERT_SEED,
default 9), each rendered whole, cut at a random offset, and that prefix split at `split_point`
into two pieces that must each be safe on their own.
"""

from __future__ import annotations

import random
import time

from grok_magic.safety.markdown import render_html, split_point
from tests.support.inert_check import (
    FUZZ_CASES,
    FUZZ_SEED,
    SHOW,
    NodeBatch,
    explain_node,
    html_findings,
    node_check,
    )
from tests.support.inert_corpus import CANARY, Case, cases, generate


# -- rendering the inputs ------------------------------------------------------------------------
def pieces(text: str, rng: random.Random | None = None) -> list[tuple[str, str]]:
    """(label, piece) to render: the whole text, and (with `rng`) a random streaming prefix and
    that prefix split at split_point, as the streaming view renders it."""
    out = [("whole", text)]
    if rng is not None and len(text) > 1:
        cut = rng.randint(1, len(text) - 1)
        prefix = text[:cut]
        out.append((f"prefix[:{cut}]", prefix))
        plain = prefix.replace("\r\n", "\n").replace("\r", "\n")
        p = split_point(plain)
        assert 0 <= p <= len(plain), (plain, p)
        if p:
            out += [(f"prefix[:{cut}][:{p}]", plain[:p]), (f"prefix[:{cut}][{p}:]", plain[p:])]
    return out


def _render_and_check(case: Case, label: str, piece: str, failures: list[str]) -> str:
    markup = render_html(piece, case.allowed)
    found = html_findings(markup, case.allowed)
    if found:
        failures.append(f"--- {case.id} {label}\ninput:   {piece!r}\nallowed: {case.allowed}\n"
                        f"html:    {markup!r}\n" + "\n".join(f"  - {f}" for f in found[:8]))
    return markup


# -- tests: the checkers themselves --------------------------------------------------------------
W = "<div class='grok-md mathjax_ignore'>{}</div>"
M = "<span class='grok-math mathjax_process'>{}</span>"
# Each of these is live (or loads something) in JupyterLab; both checkers must say so.
KNOWN_BAD = [
    W.format("<img src=x onerror=alert(1)>"),
    W.format("<script>window.__pwned=1</script>"),
    W.format('<a href="jav&#x09;ascript:alert(1)">x</a>'),
    W.format('<a href="&#106;avascript:alert(1)">x</a>'),
    W.format('<a href="data:text/html,x">x</a>'),
    W.format('<a href="vbscript:x">x</a>'),
    W.format("<iframe src=https://evil.example></iframe>"),
    W.format("<svg><a href=x>y</a></svg>"),
    W.format("<img src=https://evil.example/x.png>"),
    W.format("<span style='background:url(https://evil.example/x.png)'>x</span>"),
    W.format("<p style='color:red'>x</p>"),
    W.format("<details open ontoggle=alert(1)>x</details>"),
    W.format("<div class=mathjax_process>$\\href{https://evil.example}{x}$</div>"),
    W.format("<link rel=stylesheet href=https://evil.example/s.css>"),
    W.format("<form action=https://evil.example><button>x</button></form>"),
    "<p>$\\href{https://evil.example}{x}$</p>",
    W.format("x") + "<p>\\(\\href{https://evil.example}{x}\\)</p>",
    W.format(M.format("\\(\\href{https://evil.example}{x}\\)")),
    W.format(M.format("\\(\\style{color:red}{x}\\)")),
    W.format(M.format("\\(\\bbox[border:1px solid red]{x}\\)")),
    W.format(M.format("\\(\\class{mjx-x}{x}\\)")),
    W.format(M.format("\\(\\cssId{mjx-x}{x}\\)")),
    W.format(M.format("\\(x\\) \\(\\href{https://evil.example}{y}\\)")),
]
# Each of these is inert and useful; neither checker may complain.
KNOWN_GOOD = [
    W.format("<h1>T</h1><p><strong>b</strong> <a href='https://ok.example' rel='noopener'>x</a></p>"),
    W.format("<pre><code class='language-python'><span style='color:#008000; font-weight:bold'>print"
             "</span>(1)</code></pre>"),
    W.format("<table><thead><tr><th style='text-align:right'>a</th></tr></thead>"
             "<tbody><tr><td style='text-align:right'>1</td></tr></tbody></table>"),
    W.format("<p>" + M.format("\\(x^2 + \\frac{1}{2}\\)") + "</p>"
             "<div class='grok-math mathjax_process'>\\[\\sum_k k\\]</div>"),
    W.format("<p><img src='https://ok.example/x.png' alt='x'> <a href='mailto:a@ok.example'>m</a></p>"),
    W.format("<p>$\\href{https://evil.example}{x}$ stays text</p>"),
]


def test_python_checker_catches_known_bad_html() -> None:
    missed = [m for m in KNOWN_BAD if not html_findings(m, ["https://ok.example/x.png"])
              and "mathjax_process'>\\(" not in m]  # MathJax-only cases need the node check
    assert not missed, missed
    noisy = {m: html_findings(m, ["https://ok.example/x.png"]) for m in KNOWN_GOOD}
    assert not any(noisy.values()), noisy


def test_node_checker_catches_known_bad_html(node_ok) -> None:
    items = [{"id": f"bad-{i}", "html": m, "allowed": ["https://ok.example/x.png"]}
             for i, m in enumerate(KNOWN_BAD)]
    items += [{"id": f"good-{i}", "html": m, "allowed": ["https://ok.example/x.png"], "facts": True}
              for i, m in enumerate(KNOWN_GOOD)]
    report = node_check(items)
    flagged = {f["id"] for f in report["findings"]}
    missed = [m for i, m in enumerate(KNOWN_BAD) if f"bad-{i}" not in flagged]
    assert not missed, missed
    noisy = [f for f in report["findings"] if f["id"].startswith("good-")]
    assert not noisy, noisy
    assert report["facts"]["good-3"]["math"] == 2  # vetted math is typeset
    assert report["facts"]["good-3"]["mathErrors"] == 0
    rules = {f["rule"] for f in report["findings"]}
    assert {"mathjax-link", "mathjax-attribute", "mathjax-id", "math-outside-vetted", "script-ran",
            "resource-fetch", "event-handler", "bad-url-scheme", "image-not-allowed"} <= rules, rules


def test_node_checker_renders_markdown_like_jupyterlab(node_ok) -> None:
    """text/markdown through marked (gfm, heading ids, mangle) and MathJax, as JupyterLab does."""
    ours = "# Report\n\n| a | b |\n|---|--:|\n| `x` | 2 |\n\n- **one**\n- two\n\n$x^2$ [link](https://ok.example)"
    report = node_check([
        {"id": "ours", "markdown": ours, "facts": True},
        {"id": "raw-html", "markdown": "hi <img src=x onerror=alert(1)>"},
        {"id": "math-href", "markdown": "$\\href{https://evil.example}{x}$"},
    ])
    facts = report["facts"]["ours"]
    assert facts["headings"][0] == 1 and facts["tables"] == 1 and facts["items"] == 2
    assert facts["strong"] == 1 and facts["links"] == ["https://ok.example/"]
    assert facts["mathErrors"] == 0 and "x2" in facts["text"]
    flagged = {f["id"] for f in report["findings"]}
    assert flagged == {"raw-html", "math-href"}, report["findings"]


# -- tests: the renderer -------------------------------------------------------------------------
def test_corpus_python_check() -> None:
    """Every corpus input, and every prefix of it (streaming), split too: clean to html.parser."""
    failures: list[str] = []
    for case in cases():
        text = case.text
        for cut in range(1, len(text) + 1):
            prefix = text[:cut]
            _render_and_check(case, f"[:{cut}]", prefix, failures)
            plain = prefix.replace("\r\n", "\n").replace("\r", "\n")
            p = split_point(plain)
            if p:
                _render_and_check(case, f"[:{cut}][:{p}]", plain[:p], failures)
                _render_and_check(case, f"[:{cut}][{p}:]", plain[p:], failures)
    assert not failures, f"{len(failures)} failures\n" + "\n".join(failures[:SHOW])


def test_corpus_node_check(node_ok) -> None:
    """Every corpus input, each streaming prefix and its split pieces: inert in jsdom + MathJax."""
    batch = NodeBatch()
    for case in cases():
        text = case.text
        for cut in range(1, len(text) + 1):
            prefix = text[:cut]
            plain = prefix.replace("\r\n", "\n").replace("\r", "\n")
            p = split_point(plain)
            todo = [(f"[:{cut}]", prefix)] + ([(f"[:{cut}][:{p}]", plain[:p]), (f"[:{cut}][{p}:]", plain[p:])]
                                              if p else [])
            for label, piece in todo:
                batch.send(f"{case.id}{label}", html_text=render_html(piece, case.allowed),
                           allowed=case.allowed, source=piece)
    report = batch.finish()
    assert not report["findings"], explain_node(report, batch.sent)


def test_fuzz(node_ok) -> None:
    """GROK_INERT_CASES random hostile documents: whole, a streaming prefix, and its split."""
    started = time.monotonic()
    rng = random.Random(FUZZ_SEED)
    batch = NodeBatch()
    failures: list[str] = []
    rendered = 0
    for case in generate(FUZZ_SEED, FUZZ_CASES, CANARY):
        for label, piece in pieces(case.text, rng):
            markup = _render_and_check(case, label, piece, failures)
            batch.send(f"{case.id} {label}", html_text=markup, allowed=case.allowed, source=piece)
            rendered += 1
    rendered_at = time.monotonic() - started
    report = batch.finish()
    print(f"fuzz: {FUZZ_CASES} documents (seed {FUZZ_SEED}), {rendered} renders, "
          f"{len(batch.sent)} distinct HTML outputs checked in node ({report['typeset']} typeset by MathJax, "
          f"{report['mathItems']} expressions); rendered in {rendered_at:.1f}s, "
          f"all done in {time.monotonic() - started:.1f}s")
    assert not failures, f"{len(failures)} html.parser failures\n" + "\n".join(failures[:SHOW])
    assert not report["findings"], explain_node(report, batch.sent)
    # the fuzzer reaches MathJax (vetted math gets typeset), so the MathJax checks mean something
    assert report["mathItems"] >= FUZZ_CASES // 20, report["mathItems"]


USEFUL = """# Title

## Section

Some **bold**, *em* and ~~gone~~ text with a [link](https://ok.example/page) and `code`.

- one
- two
  1. nested

| name | value |
|:-----|------:|
| a    | 1     |

```python
def f(x):
    return x ** 2
```

Inline $e^{i\\pi} + 1 = 0$ and display:

$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$

\\(\\alpha\\) and a block:

\\[\\beta\\]

![plot](https://ok.example/plot.png)

![other](https://evil.example/other.png)
"""


def test_renderer_is_useful(node_ok) -> None:
    """What an answer needs still renders (the checks cannot pass by deleting everything)."""
    allowed = ("https://ok.example/plot.png",)
    markup = render_html(USEFUL, allowed)
    assert not html_findings(markup, allowed), html_findings(markup, allowed)
    report = node_check([{"id": "useful", "html": markup, "allowed": list(allowed), "facts": True}])
    assert not report["findings"], explain_node(report, {"useful": {"html": markup}})
    facts = report["facts"]["useful"]
    assert facts["headings"][:2] == [1, 1], facts
    assert facts["lists"] >= 2 and facts["items"] == 3, facts
    assert facts["tables"] == 1 and facts["th"] == 2 and facts["td"] == 2, facts
    assert facts["strong"] == 1 and facts["em"] == 1 and facts["del"] == 1, facts
    assert facts["pre"] == 1 and facts["highlighted"] >= 3, facts  # Pygments spans in the code block
    assert "https://ok.example/page" in facts["links"], facts
    assert facts["math"] == 4 and facts["mathErrors"] == 0, facts  # inline, display, \( \), \[ \]
    assert facts["images"] == ["https://ok.example/plot.png"], facts  # the user's image only
    assert "https://evil.example/other.png" in facts["links"], facts  # the other one is a link
