"""Is grok_magic.safety.markdown's HTML inert where it is shown? Checked without its own rules.

Two checkers that share nothing with the renderer or nh3:

- `html_findings`: the standard library's `html.parser`, with plain rules (no script-like
  elements, no `on*` attributes, no javascript:/vbscript:/data: URLs, images only from the
  user's URLs, inline styles only on code spans, MathJax switched on only in vetted math).
- `tests/inert/check.mjs` (the ground truth): the HTML set as innerHTML in jsdom, then typeset by
  the real MathJax 3 with JupyterLab 4.6's own configuration, and the resulting DOM checked
  (plus: no links, styles, classes or ids MathJax made from \\href, \\style, \\bbox, \\class,
  \\cssId; no resource the document tried to fetch; no script that ran). One node process checks
  a whole batch. It needs `npm ci --prefix tests/inert`; without node or tests/inert/node_modules
  those tests are skipped, or fail when GROK_BROWSER_REQUIRED=1 (CI).

Inputs: the fixed hostile corpus (tests/inert_corpus.py), every prefix of it (streaming), and a
seeded fuzzer (GROK_INERT_CASES documents, default 20000; GROK_INERT_SEED, default 9), each
rendered whole, cut at a random offset, and that prefix split at `split_point` into two pieces
that must each be safe on their own.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from inert_corpus import CANARY, Case, cases, generate

from grok_magic.safety.markdown import render_html, split_point

INERT = Path(__file__).resolve().parent / "inert"
CHECKER = INERT / "check.mjs"
FUZZ_CASES = int(os.environ.get("GROK_INERT_CASES", "20000"))
FUZZ_SEED = int(os.environ.get("GROK_INERT_SEED", "9"))
SHOW = 5  # failing inputs printed in full

# -- the Python checker --------------------------------------------------------------------------
FORBIDDEN = frozenset(
    "script iframe svg math object embed form style meta link base frame frameset input button "
    "textarea select video audio source track applet noscript template portal picture image dialog "
    "details marquee slot canvas map area param noembed noframes xmp plaintext isindex keygen".split()
)
URL_ATTRIBUTES = frozenset(
    "href src action formaction xlink:href poster data background cite ping codebase longdesc lowsrc "
    "dynsrc manifest icon profile usemap".split()
)
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
LINK_SCHEMES = ("http", "https", "mailto")
VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
# What a URL parser ignores or strips: C0 controls, space, and (trimmed or not) other spaces.
IGNORED = re.compile(r"[\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u3000\ufeff]")
SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
CODE_STYLE = frozenset({"color", "background-color", "font-weight", "font-style", "text-decoration",
                        "border", "border-color", "border-style", "border-width"})
ALIGN = re.compile(r"^text-align\s*:\s*(left|right|center)$", re.I)



def math_body_ok(text: str) -> bool:
    """Whether a vetted math element's text is at most one TeX expression, read as MathJax's
    FindTeX reads it: it opens with \\( or \\[, a backslash pairs with the next character, and
    the matching close may only come at the very end (an expression that never closes is left
    as text by MathJax, which is harmless)."""
    if text[:2] not in ("\\(", "\\["):
        return False
    close = ")" if text[1] == "(" else "]"
    i = 2
    while i < len(text):
        if text[i] == "\\":
            if text[i + 1:i + 2] == close:
                return i + 2 == len(text)
            i += 2
        else:
            i += 1
    return True


def plain_url(value: str) -> str:
    """The URL as a browser's parser sees its scheme: entities decoded, ignorable chars gone."""
    return IGNORED.sub("", html.unescape(value)).lower()


class _Checker(HTMLParser):
    def __init__(self, allowed: Iterable[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed = set(allowed)
        # the same URLs percent-encoded, as a browser would fetch them
        self.allowed_encoded = {quote(a, safe="%/:=&?~#+!$,;'@()*[]") for a in self.allowed}
        self.findings: list[str] = []
        self.stack: list[tuple[str, set[str]]] = []  # (tag, classes)
        self.top_level = 0
        self.math_open: int | None = None  # depth of an open vetted math element
        self.math_text = ""

    def _add(self, what: str) -> None:
        self.findings.append(what)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)
        if tag not in VOID:
            classes = set((dict(attrs).get("class") or "").split())
            self.stack.append((tag, classes))
            if self.math_open is None and "grok-math" in classes:
                self.math_open, self.math_text = len(self.stack), ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                if self.math_open is not None and i < self.math_open:
                    if not math_body_ok(self.math_text):
                        self._add(f"vetted math holds {self.math_text!r}, not one \\(...\\) or \\[...\\]")
                    self.math_open = None
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not self.stack and data.strip():
            self._add(f"text outside the wrapper: {data[:60]!r}")
        if self.math_open is not None:
            self.math_text += data

    def handle_comment(self, data: str) -> None:
        self._add(f"comment <!--{data[:60]}-->")

    def handle_decl(self, decl: str) -> None:
        self._add(f"declaration <!{decl[:60]}>")

    def handle_pi(self, data: str) -> None:
        self._add(f"processing instruction <?{data[:60]}>")

    def unknown_decl(self, data: str) -> None:
        self._add(f"unknown declaration {data[:60]!r}")

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tags = [t for t, _ in self.stack]
        if not self.stack:
            self.top_level += 1
            classes = (dict(attrs).get("class") or "").split()
            if "mathjax_ignore" not in classes:
                self._add(f"top-level <{tag}> is not a mathjax_ignore wrapper")
            if self.top_level > 1:
                self._add("more than one top-level element")
        if self.math_open is not None:
            self._add(f"<{tag}> inside vetted math")
        if tag in FORBIDDEN:
            self._add(f"forbidden element <{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self._add(f"event handler {name}={value!r} on <{tag}>")
            if name in ("srcset", "imagesrcset"):
                self._add(f"{name} on <{tag}>")
            if name in URL_ATTRIBUTES or name.endswith(":href"):
                url = plain_url(value)
                if url.startswith(BAD_SCHEMES):
                    self._add(f"{name}={value!r} on <{tag}>: {url.split(':')[0]}: URL")
                scheme = SCHEME.match(url)
                if tag == "a" and name == "href":
                    if scheme and scheme.group(1) not in LINK_SCHEMES:
                        self._add(f"link to {scheme.group(1)}: {value!r}")
                elif not (tag == "img" and name == "src"):
                    self._add(f"URL attribute {name}={value!r} on <{tag}>")
            if name == "style":
                decls = [d.strip() for d in value.split(";") if d.strip()]
                low = plain_url(value)
                if re.search(r"url\(|image\(|image-set\(|expression\(|@import|behavior|binding|\\", low):
                    self._add(f"style loads or escapes something: {value!r} on <{tag}>")
                in_code = tag == "span" and any(t in ("pre", "code") for t in tags)
                align = tag in ("th", "td") and all(ALIGN.match(d) for d in decls)
                if not (in_code or align):
                    self._add(f"style={value!r} on <{tag}>" + (" outside pre/code" if tag == "span" else ""))
                for decl in decls:
                    prop = decl.split(":")[0].strip().lower()
                    if prop not in CODE_STYLE and not (align and prop == "text-align"):
                        self._add(f"style property {prop!r} on <{tag}>")
            if name == "class":
                classes = value.split()
                if "mathjax_process" in classes and "grok-math" not in classes:
                    self._add(f"mathjax_process on <{tag}> that is not vetted math")
                if "grok-math" in classes and tag not in ("span", "div"):
                    self._add(f"grok-math on <{tag}>")
            if name in ("data-mjx", "id", "name", "form", "formaction", "http-equiv", "is", "srcdoc"):
                self._add(f"attribute {name} on <{tag}>")
        if tag == "img":
            src = dict(attrs).get("src")
            if src is not None and src not in self.allowed and src not in self.allowed_encoded:
                self._add(f"img src={src!r} is not an image the user sent ({sorted(self.allowed)})")


def html_findings(markup: str, allowed: Iterable[str] = ()) -> list[str]:
    checker = _Checker(allowed)
    checker.feed(markup)
    checker.close()
    if checker.stack:
        checker._add(f"unclosed elements {[t for t, _ in checker.stack]}")
    return checker.findings


# -- the node checker ----------------------------------------------------------------------------
def _node_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    for package in ("jsdom", "mathjax-full", "marked", "marked-gfm-heading-id", "marked-mangle"):
        if not (INERT / "node_modules" / package).is_dir():
            return f"tests/inert/node_modules/{package} is missing (run: npm ci --prefix tests/inert)"
    return None


@pytest.fixture(scope="module")
def node_ok() -> None:
    reason = _node_missing()
    if reason:
        if os.environ.get("GROK_BROWSER_REQUIRED") == "1":
            pytest.fail(f"GROK_BROWSER_REQUIRED=1 but {reason}")
        pytest.skip(reason)


class NodeBatch:
    """One node process for a batch of cases, fed as NDJSON while the caller is still rendering."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            ["node", str(CHECKER)], cwd=INERT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.sent: dict[str, dict] = {}
        self._seen: dict[tuple[str, tuple[str, ...]], str] = {}

    def send(self, case_id: str, *, html_text: str | None = None, markdown: str | None = None,
             allowed: Iterable[str] = (), facts: bool = False, source: str = "") -> None:
        allowed = tuple(allowed)
        item: dict = {"id": case_id, "allowed": list(allowed), "facts": facts}
        if markdown is not None:
            item["markdown"] = markdown
        else:
            key = (html_text or "", allowed)
            if key in self._seen and not facts:
                return  # the same HTML was already checked
            self._seen[key] = case_id
            item["html"] = html_text
        self.sent[case_id] = {**item, "source": source}
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(item).encode() + b"\n")

    def finish(self, timeout: float = 600) -> dict:
        out, _ = self._proc.communicate(timeout=timeout)
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace")
        self._stderr.close()
        assert self._proc.returncode == 0, f"check.mjs failed ({self._proc.returncode}):\n{err[-4000:]}"
        report = json.loads(out)
        assert report["cases"] == len(self.sent), (report["cases"], len(self.sent))
        if report["notes"]:
            notes = "; ".join(f"{n['id']}: {n['rule']}: {n['detail']}" for n in report["notes"][:SHOW])
            warnings.warn(f"check.mjs: {len(report['notes'])} notes (not live): {notes}", stacklevel=2)
        return report


def node_check(items: list[dict]) -> dict:
    """Check a list of {id, html|markdown, allowed, facts} in one node run."""
    batch = NodeBatch()
    for item in items:
        batch.send(item["id"], html_text=item.get("html"), markdown=item.get("markdown"),
                   allowed=item.get("allowed", ()), facts=item.get("facts", False))
    return batch.finish()


def _explain_node(report: dict, sent: dict[str, dict]) -> str:
    by_id: dict[str, list[str]] = {}
    for f in report["findings"]:
        by_id.setdefault(f["id"], []).append(f"{f['rule']}: {f['detail']}")
    lines = [f"{len(report['findings'])} findings in {len(by_id)} of {report['cases']} cases"]
    for case_id, found in list(by_id.items())[:SHOW]:
        item = sent.get(case_id, {})
        lines += [f"--- {case_id}", f"input:   {item.get('source', '')!r}",
                  f"allowed: {item.get('allowed')}", f"html:    {item.get('html', item.get('markdown'))!r}"]
        lines += [f"  - {x}" for x in found[:8]]
    return "\n".join(lines)


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
    assert not report["findings"], _explain_node(report, batch.sent)


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
    assert not report["findings"], _explain_node(report, batch.sent)
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
    assert not report["findings"], _explain_node(report, {"useful": {"html": markup}})
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
