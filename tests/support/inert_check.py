"""Two checkers of rendered HTML that share nothing with grok_magic's renderer or nh3 (the
tests of safety.markdown, and every test that shows model output, use them):

- `html_findings`: the standard library's `html.parser`, with plain rules (no script-like
  elements, no `on*` attributes, no javascript:/vbscript:/data: URLs, images only from the
  user's URLs, inline styles only on code spans, MathJax switched on only in vetted math; one
  <style>, in an answer's container, only when it is grok_magic's own ANSWER_CSS exactly).
- `node_check` / `NodeBatch` (tests/inert/check.mjs, the ground truth): the HTML set as
  innerHTML in jsdom, then typeset by the real MathJax 3 with JupyterLab 4.6's own
  configuration, and the resulting DOM checked (plus: no links, styles, classes or ids MathJax
  made from \\href, \\style, \\bbox, \\class, \\cssId; no resource the document tried to fetch;
  no script that ran). One node process checks a whole batch. It needs
  `npm ci --prefix tests/inert`; without node or tests/inert/node_modules the `node_ok`
  fixture skips, or fails when GROK_BROWSER_REQUIRED=1 (CI).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

INERT = Path(__file__).resolve().parents[1] / "inert"
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
# (table cells: the renderer's alignment, and our reports' columns, see display.styled_columns)
ALIGN = re.compile(r"^(text-align\s*:\s*(left|right|center)|white-space\s*:\s*nowrap)$", re.I)



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
        self.style_text: str | None = None  # the text of our own <style>, while it is open
        self.styles = 0

    def _add(self, what: str) -> None:
        self.findings.append(what)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style" and self._our_style(attrs):
            self.style_text, self.styles = "", self.styles + 1
            return
        self._element(tag, attrs)
        if tag not in VOID:
            classes = set((dict(attrs).get("class") or "").split())
            self.stack.append((tag, classes))
            if self.math_open is None and "grok-math" in classes:
                self.math_open, self.math_text = len(self.stack), ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def _our_style(self, attrs) -> bool:
        """Our answer container's own CSS: a bare <style> first in the top-level
        `grok-answer` wrapper. Its text must be ANSWER_CSS exactly (checked at its end)."""
        return (not attrs and len(self.stack) == 1 and "grok-answer" in self.stack[0][1]
                and not self.styles)

    def handle_endtag(self, tag: str) -> None:
        if self.style_text is not None and tag == "style":
            from grok_magic.notebook.display import ANSWER_CSS

            if f"<style>{self.style_text}</style>" != ANSWER_CSS:
                self._add(f"a <style> that is not grok_magic's ANSWER_CSS: {self.style_text[:60]!r}")
            self.style_text = None
            return
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                if self.math_open is not None and i < self.math_open:
                    if not math_body_ok(self.math_text):
                        self._add(f"vetted math holds {self.math_text!r}, not one \\(...\\) or \\[...\\]")
                    self.math_open = None
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if self.style_text is not None:
            self.style_text += data
            return
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
                    if prop not in CODE_STYLE and not (align and prop in ("text-align",
                                                                          "white-space")):
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


def explain_node(report: dict, sent: dict[str, dict]) -> str:
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
