"""The one safe renderer: untrusted Markdown (model or server text) to sanitised HTML, and block splits.

Render, don't guess: the text is parsed by a real CommonMark parser (markdown-it-py, raw HTML off,
GFM tables and strikethrough), the tokens are checked (links keep only http/https/mailto targets,
images load only from URLs the user sent, math is typeset only when every TeX command in it is on
an allowlist), and the HTML the parser produces is sanitised again by nh3 with a strict
allowlist. The result is inert in JupyterLab, where trusted `text/html` is inserted as is and
then typeset by MathJax: everything sits in a `mathjax_ignore` block, and only the vetted math
spans carry `mathjax_process`.
"""

from __future__ import annotations

import functools
import html
import re
import time
from collections.abc import Collection
from typing import NamedTuple

from grok_magic.safety.plain_text import inert_text
from grok_magic.safety.redaction import redact

SAFE_SCHEMES = ("http", "https", "mailto")
WRAPPER_CLASSES = "grok-md mathjax_ignore"
MATH_CLASSES = "grok-math mathjax_process"
MAX_LANGUAGE = 32
FORMAT_CHARS = 250_000  # characters of one render formatted as Markdown; the rest is plain text
MAX_NESTING = 20  # markdown-it's bound on nested blocks (lists, quotes): deeper ones are dropped
# Pygments lexes at 3-10 µs a character on ordinary code, and many of its lexers are quadratic on
# some inputs: code is coloured only in blocks up to HIGHLIGHT_MAX_CHARS, up to
# HIGHLIGHT_CHARS_PER_RENDER per render, and only while the lexer keeps within its time allowance.
HIGHLIGHT_MAX_CHARS = 20_000
HIGHLIGHT_CHARS_PER_RENDER = 40_000
HIGHLIGHT_SECONDS = 0.2
HIGHLIGHT_SECONDS_PER_CHAR = 40e-6
LANGUAGE = re.compile(rf"^[A-Za-z0-9_+#.\-]{{1,{MAX_LANGUAGE}}}$")
SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
CONTROL_AND_SPACE = re.compile(
    r"[\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]"
)
TEX_COMMAND = re.compile(r"\\([A-Za-z]+|.)", re.S)
TEX_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{([^{}]*)\}")
TEX_COLOUR = re.compile(r"\\(?:color|textcolor)(?![A-Za-z])\s*(\{([^{}]*)\})?")
COLOUR_NAME = re.compile(r"^(?:[A-Za-z]{1,20}|#[0-9A-Fa-f]{3,8})$")
WORD_JOINER = "\u2060"
SCHEME_TAIL = re.compile(r"(?:^|[^a-z0-9.+-])([a-z][a-z0-9.+-]*)$", re.I)  # markdown-it's
SCHEME_CHAR = re.compile(r"[a-z0-9.+-]", re.I)
SCHEME_LOOKBACK = 32  # longer than any scheme linkify knows (http, https, ftp, mailto)
URL_WINDOW = 4096
URL_WINDOW_MARGIN = 64
# TeX commands that link, style, name or load something, or define new commands (prose only).
TEX_ACTIVE = re.compile(
    r"\\(?=(?:href|url|style|class|cssId|html|unicode|require|data|bbox|mmlToken|toggle|mathtip"
    r"|texttip|tooltip|action|def|newcommand|renewcommand|newenvironment|let|begin|input|include"
    r"|raise|lower|rule|mathchoice|char|mbox|text)(?![a-z]))"
)
# TeX that typesets and does nothing else. Not here on purpose: \href \url \style \class \cssId
# \html… \unicode \require \data… \bbox \mmlToken \toggle \mathtip \texttip (links, CSS, ids,
# loading extensions, arbitrary characters) and the definition commands (\def, \newcommand, \let).
TEX_ALLOWED = frozenset("""
alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa varkappa lambda mu nu
xi omicron pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta
Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega digamma aleph beth gimel hbar hslash ell wp Re Im
partial nabla infty emptyset varnothing forall exists nexists neg lnot top bot angle triangle
frac dfrac tfrac cfrac binom dbinom tbinom sqrt root over choose atop
sum prod coprod int iint iiint oint bigcup bigcap bigsqcup bigvee bigwedge bigoplus bigotimes
bigodot biguplus lim liminf limsup sup inf max min arg det dim exp gcd hom ker lg ln log Pr deg
sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh coth mod bmod pmod pod
left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr
langle rangle lceil rceil lfloor rfloor lvert rvert lVert rVert vert Vert backslash
cdot cdots ldots dots dotsc dotsb dotsm vdots ddots times div pm mp ast star circ bullet oplus
ominus otimes oslash odot cap cup sqcap sqcup vee wedge setminus wr amalg uplus dagger ddagger
leq le geq ge neq ne lt gt equiv approx cong sim simeq propto ll gg prec succ preceq succeq subset
supset subseteq supseteq subsetneq supsetneq in notin ni owns mid nmid parallel perp models vdash
dashv asymp doteq leqslant geqslant lesssim gtrsim ngtr nless nleq ngeq approxeq therefore because
to gets rightarrow leftarrow leftrightarrow Rightarrow Leftarrow Leftrightarrow longrightarrow
longleftarrow longleftrightarrow Longrightarrow Longleftarrow Longleftrightarrow mapsto
longmapsto implies iff uparrow downarrow updownarrow Uparrow Downarrow Updownarrow nearrow searrow
swarrow nwarrow hookrightarrow hookleftarrow rightharpoonup rightleftharpoons xrightarrow
xleftarrow
hat widehat tilde widetilde bar overline underline vec dot ddot dddot acute grave breve check
mathring overbrace underbrace overrightarrow overleftarrow overset underset stackrel
mathrm mathbf mathit mathsf mathtt mathcal mathbb mathfrak mathscr mathnormal boldsymbol bm
text textrm textbf textit textsf texttt textnormal mbox operatorname displaystyle textstyle
scriptstyle scriptscriptstyle rm bf it sf tt cal
color textcolor
quad qquad enspace thinspace negthinspace space phantom hphantom vphantom smash
limits nolimits substack cr hline hdashline cline
begin end tag notag nonumber
prime degree checkmark square blacksquare Box Diamond clubsuit diamondsuit heartsuit spadesuit
flat natural sharp surd imath jmath
not cancel bcancel xcancel boxed
""".split())
TEX_SYMBOLS = frozenset(",;:!> {}|\\%#&_^'")  # \, \; \! \{ \} \| \\ and friends
TEX_ENVIRONMENTS = frozenset("""
matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix cases dcases rcases aligned alignedat
gathered split array subarray align align* gather gather* equation equation* multline multline*
""".split())

_parser = None


def _md():
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt

        from grok_magic.safety.markdown_math import math_plugin

        md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False,
                                       "maxNesting": MAX_NESTING})
        md.enable(["table", "strikethrough", "linkify"])
        math_plugin(md)  # $…$, $$…$$, \(…\) and \[…\], found in linear time
        md.inline.ruler.at("linkify", _linkify)
        for name in ("math_inline", "math_inline_double", "math_block", "math_block_eqno",
                     "math_block_label"):
            md.add_render_rule(name, _render_math)
        md.add_render_rule("fence", _render_code)
        md.add_render_rule("code_block", _render_code)
        md.add_render_rule("text", _render_text)
        _parser = md
    return _parser


# -- a linear linkify rule --------------------------------------------------------------------
def _linkify(state, silent: bool) -> bool:
    """markdown-it's inline rule for links such as https://x.org, in time linear in the text: it
    searched all the text not yet flushed for the scheme, and copied the rest of the paragraph,
    at every `://` (32 KB of `a://` took 20 s). The scheme is looked for in the last characters
    only (a longer run of scheme characters is no scheme linkify knows), and the link in a
    window of the text (the whole rest only when the link reaches the window's end). When
    skipping a link label (`silent`), the scheme is read from the text itself: the unflushed
    text is stale then, and markdown-it's rule moved backwards and raised on
    `example.org[ftp://x*ftp://`."""
    src, pos = state.src, state.pos
    if state.linkLevel > 0 or pos + 3 > state.posMax or not src.startswith("://", pos):
        return False
    # The text before `://`, and the character before that (a scheme character: too long a run)
    written = src[max(0, pos - SCHEME_LOOKBACK - 1) : pos] if silent else state.pending
    before = written[-SCHEME_LOOKBACK:]
    match = SCHEME_TAIL.search(before)
    if not match or (match.start(1) == 0 and len(written) > len(before)
                     and SCHEME_CHAR.match(written[-len(before) - 1])):
        return False
    proto = match.group(1)
    start = pos - len(proto)
    window = src[start : start + URL_WINDOW]
    link = state.md.linkify.match_at_start(window)
    if link and link.last_index > len(window) - URL_WINDOW_MARGIN and start + len(window) < len(src):
        link = state.md.linkify.match_at_start(src[start:])
    if not link:
        return False
    url = link.url.rstrip("*")  # a '*' at the end is emphasis
    full_url = state.md.normalizeLink(url)
    if not state.md.validateLink(full_url):
        return False
    if not silent:
        state.pending = state.pending[: -len(proto)]
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": full_url}
        token.markup, token.info = "linkify", "auto"
        token = state.push("text", "", 0)
        token.content = state.md.normalizeLinkText(url)
        token = state.push("link_close", "a", -1)
        token.markup, token.info = "linkify", "auto"
    state.pos += len(url) - len(proto)
    return True


# -- token checks --------------------------------------------------------------------------------
def safe_link(url: str) -> bool:
    """Whether a link target may stay a link: absolute http, https or mailto, nothing else.

    >>> safe_link("https://x.org"), safe_link("JaVa\\tScript:alert(1)"), safe_link("notes.ipynb")
    (True, False, False)
    """
    plain = CONTROL_AND_SPACE.sub("", html.unescape(url)).lower()
    match = SCHEME.match(plain)
    return bool(match) and match.group(1) in SAFE_SCHEMES


def tex_is_safe(tex: str) -> bool:
    """Whether MathJax may typeset `tex`: every command and environment is on the allowlist, and
    nothing in it could end the math early."""
    if "$" in tex.replace("\\$", ""):
        return False
    for match in TEX_COMMAND.finditer(tex):
        name = match.group(1)
        if name not in TEX_ALLOWED and not (len(name) == 1 and name in TEX_SYMBOLS):
            if not (len(name) == 1 and not name.isalpha() and name not in "()[]"):
                return False
    for colour in TEX_COLOUR.finditer(tex):  # a colour is a name or #hex, never free CSS
        if colour.group(1) is None or not COLOUR_NAME.match(colour.group(2).strip()):
            return False
    return all(env.strip() in TEX_ENVIRONMENTS for env in TEX_ENVIRONMENT.findall(tex))


def _neutralise_tex(text: str) -> str:
    # Prose is never typeset (the wrapper is mathjax_ignore); should a renderer typeset it anyway,
    # a word joiner after the backslash keeps a TeX command such as \href from being one.
    if "\\" not in text:
        return text
    return TEX_ACTIVE.sub("\\\\" + WORD_JOINER, text)


def _rewrite_inline(tokens, allowed_images: Collection[str]) -> list:
    """Links with unsafe targets become their text; images not sent by the user become links."""
    from markdown_it.token import Token

    out: list = []
    open_links: list[bool] = []  # per link_open: whether it was kept
    for token in tokens:
        if token.type == "link_open":
            keep = safe_link(str(token.attrGet("href") or ""))
            open_links.append(keep)
            if keep:
                out.append(token)
        elif token.type == "link_close":
            if open_links.pop() if open_links else False:
                out.append(token)
        elif token.type == "image":
            src = str(token.attrGet("src") or "")
            alt = "".join(child.content for child in token.children or ()) or "image"
            if src in allowed_images and safe_link(src) and not src.lower().startswith("mailto:"):
                out.append(token)
            elif safe_link(src) and not open_links:
                link = Token("link_open", "a", 1, attrs={"href": src})
                out += [link, Token("text", "", 0, content=alt), Token("link_close", "a", -1)]
            else:
                out.append(Token("text", "", 0, content=alt))
        else:
            if token.children:
                token.children = _rewrite_inline(token.children, allowed_images)
            out.append(token)
    return out


# -- render rules --------------------------------------------------------------------------------
def _render_text(self, tokens, idx, options, env) -> str:
    return _neutralise_tex(html.escape(tokens[idx].content, quote=False))


def _render_math(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    tex = token.content
    block = token.type.startswith("math_block") or token.type == "math_inline_double"
    if not tex_is_safe(tex):
        shown = html.escape(f"$$ {tex} $$" if block else f"${tex}$")
        return f"<pre><code>{shown}</code></pre>\n" if token.block else f"<code>{shown}</code>"
    body = html.escape(tex)
    if token.block or block:
        tag = "div" if token.block else "span"
        return f"<{tag} class='{MATH_CLASSES}'>\\[{body}\\]</{tag}>" + ("\n" if token.block else "")
    return f"<span class='{MATH_CLASSES}'>\\({body}\\)</span>"


def _render_code(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    info = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    language = info if LANGUAGE.match(info) else ""
    code = token.content
    body = None
    left = env.get("highlight_left", 0)  # characters this render may still colour
    if language and env.get("highlight") and len(code) <= min(left, HIGHLIGHT_MAX_CHARS):
        body = _highlight(code, language)
        if body is not None:
            env["highlight_left"] = left - len(code)
    if body is None:
        body = html.escape(code, quote=False)
    css = f" class='language-{language}'" if language else ""
    return f"<pre><code{css}>{body}</code></pre>\n"


def _highlight(code: str, language: str) -> str | None:
    """Code coloured from Pygments' tokens: a few short inline colours (mid tones that read on
    light and dark themes), unstyled tokens left bare and equal neighbours merged, so highlighted
    code stays small. None when Pygments does not know the language, or when its lexer is slow
    on this code: many lexers take quadratic time on some inputs (8,000 newlines in a C block
    took 6 s), so lexing stops past a time allowance linear in the code's length."""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language.lower(), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None
    deadline = time.perf_counter() + HIGHLIGHT_SECONDS + HIGHLIGHT_SECONDS_PER_CHAR * len(code)
    out: list[str] = []
    style, run = None, []
    for count, (token_type, value) in enumerate(lexer.get_tokens(code)):
        if count % 16 == 0 and time.perf_counter() > deadline:
            return None
        token_style = _token_style(token_type) if value.strip() else style
        if token_style != style:
            out.append(_span(style, "".join(run)))
            style, run = token_style, []
        run.append(value)
    out.append(_span(style, "".join(run)))
    return "".join(out)


@functools.cache
def _token_style(token_type) -> str | None:
    from pygments import token as t

    for kind, css in ((t.Comment, "color:#888;font-style:italic"), (t.Keyword, "color:#a2a"),
                      (t.Operator.Word, "color:#a2a"), (t.String, "color:#4a4"),
                      (t.Number, "color:#b70"), (t.Name.Builtin, "color:#08b"),
                      (t.Name.Function, "color:#46e"), (t.Name.Class, "color:#46e"),
                      (t.Name.Decorator, "color:#b70")):
        if token_type in kind:
            return css
    return None


def _span(style: str | None, text: str) -> str:
    body = html.escape(text, quote=False)
    return f'<span style="{style}">{body}</span>' if style and text else body


# -- sanitising ----------------------------------------------------------------------------------
TAGS = frozenset({
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre",
    "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "img",
    "span", "div",
})
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "code": {"class"},
    "span": {"class", "style"},
    "div": {"class"},
    "th": {"style"},
    "td": {"style"},
}
STYLE_PROPERTIES = frozenset({"color", "background-color", "font-weight", "font-style", "text-align"})
SAFE_CLASSES = frozenset({*WRAPPER_CLASSES.split(), *MATH_CLASSES.split()})


def _attribute_filter(allowed_images: Collection[str]):
    def check(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "class":
            kept = [c for c in value.split() if c in SAFE_CLASSES or (
                tag == "code" and c.startswith("language-") and LANGUAGE.match(c[9:]))]
            return " ".join(kept) or None
        if tag == "img" and attribute == "src":
            return value if value in allowed_images else None
        if attribute == "href":
            return value if safe_link(value) else None
        return value

    return check


def sanitise(fragment: str, allowed_images: Collection[str] = ()) -> str:
    """HTML through nh3 with the strict allowlist above (the second line of defence)."""
    import nh3

    return nh3.clean(
        fragment, tags=set(TAGS), attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        attribute_filter=_attribute_filter(allowed_images), url_schemes=set(SAFE_SCHEMES),
        link_rel="noopener noreferrer nofollow", filter_style_properties=set(STYLE_PROPERTIES),
        url_relative="deny", strip_comments=True,
    )


# -- the public functions ------------------------------------------------------------------------
def normalize_newlines(text: str) -> str:
    """Line breaks as the Markdown parser counts them (CR LF and CR become LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _allowed(allowed_images: Collection[str]) -> set[str]:
    md = _md()
    allowed = set()
    for url in allowed_images:
        if safe_link(url):
            allowed.add(url)
            allowed.add(md.normalizeLink(url))
    return allowed


def render_html(text: str, allowed_images: Collection[str] = (), *, highlight: bool = True) -> str:
    """Untrusted Markdown as sanitised HTML (key redacted), ready for a `text/html` output.

    >>> render_html('Hi <img src=x onerror=alert(1)> **you**')[36:]
    '<p>Hi &lt;img src=x onerror=alert(1)&gt; <strong>you</strong></p>\\n</div>'

    """
    md = _md()
    allowed = _allowed(allowed_images)
    env = {"highlight": highlight, "highlight_left": HIGHLIGHT_CHARS_PER_RENDER}
    text, rest = _formatted_part(redact(text))
    tokens = md.parse(text, env)
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = _rewrite_inline(token.children, allowed)
    fragment = sanitise(md.renderer.render(tokens, md.options, env), allowed)
    if rest:  # our own note, and the rest escaped: inert, and fast at any size
        fragment += (f"<p><em>The rest of this answer ({len(rest):,} characters) is shown as "
                     f"plain text: it is too long to format quickly.</em></p>"
                     f"<pre class='grok-plain'>{html.escape(rest, quote=False)}</pre>")
    return wrap(fragment)


def _formatted_part(text: str) -> tuple[str, str]:
    """`text` split into what is formatted as Markdown (at most FORMAT_CHARS characters, ending
    at a blank line when there is one in its second half) and the rest, shown as plain text.
    Markdown is parsed at a few milliseconds per KB in the worst shapes (tables, math, nesting),
    so one render stays within about a second whatever arrives."""
    if len(text) <= FORMAT_CHARS:
        return text, ""
    cut = text.rfind("\n\n", FORMAT_CHARS // 2, FORMAT_CHARS)
    cut = FORMAT_CHARS if cut < 0 else cut
    return text[:cut], text[cut:]


def wrap(fragment: str) -> str:
    """HTML of ours in the block every output uses: MathJax typesets nothing in it but the
    vetted math spans (`fragment` must already be safe)."""
    return f"<div class='{WRAPPER_CLASSES}'>{fragment}</div>"


def escape_markdown(text: str) -> str:
    """Text that Markdown shows as it is: every ASCII punctuation mark backslash-escaped, and line
    breaks as spaces (for untrusted values inside our own Markdown, e.g. a table cell)."""
    text = re.sub(r"[\r\n\u2028\u2029\x0b\x0c\x1c-\x1e\x85]+", " ", text)
    text = re.sub(r"([!-'*-/:-@\[-`{-~])", r"\\\1", text)
    # Parentheses as entities: an escaped `\(` would open TeX math (the brackets math rule).
    return text.replace("(", "&#40;").replace(")", "&#41;")


PYTHON_FENCES = frozenset({"python", "py", "python3", "ipython", "ipython3"})


def python_code_blocks(text: str) -> list[str]:
    """The Python code blocks of an answer, as the parser sees them (fences tagged python/py,
    or untagged fences when none is tagged).

    >>> python_code_blocks("Try:\\n\\n```python\\nx = 1\\n```\\n\\n```\\ny = 2\\n```")
    ['x = 1\\n']
    """
    fences = [t for t in _md().parse(normalize_newlines(text)) if t.type == "fence"]
    tagged = [t.content for t in fences if t.info.strip().split(" ")[0].lower() in PYTHON_FENCES]
    return tagged or [t.content for t in fences if not t.info.strip()]


class CodeBlock(NamedTuple):
    """A top-level code block of some Markdown: where it is (`start`, `end`: character offsets
    of its lines), the language its fence names ("" when none, or not a plain name) and its code."""

    start: int
    end: int
    language: str
    code: str


def code_blocks(text: str) -> list[CodeBlock]:
    """The top-level code blocks of `text` (fenced or indented), as the parser sees them, in
    order; linear in `text`, which must use LF line breaks.

    >>> [(b.language, b.code) for b in code_blocks("Try:\\n\\n```python\\nx = 1\\n```\\n")]
    [('python', 'x = 1\\n')]
    """
    if "\r" in text:
        return []
    tokens: list = []
    _md().block.parse(text.replace("\0", "\ufffd"), _md(), {}, tokens)
    found = [t for t in tokens if t.level == 0 and t.map and t.type in ("fence", "code_block")]
    if not found:
        return []
    line_starts = [0]
    line_starts += [m.end() for m in re.finditer("\n", text)]

    def offset(line: int) -> int:
        return line_starts[line] if line < len(line_starts) else len(text)

    blocks = []
    for token in found:
        info = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
        blocks.append(CodeBlock(offset(token.map[0]), offset(token.map[1]),
                                info if LANGUAGE.match(info) else "", token.content))
    return blocks


def fence_for(text: str, char: str = "`") -> str:
    """A code fence longer than any run of `char` inside `text`.

    >>> fence_for("a ```` b")
    '`````'
    """
    longest = max((len(run) for run in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(3, longest + 1)


def split_point(text: str) -> int:
    """Where the finished Markdown blocks of `text` end: the start of its last top-level block
    (0 when there is only one). Found from the parser's own block tokens, so a split never falls
    inside a code block, list, quote or table. `text` must use LF line breaks.

    >>> split_point("# Title\\n\\nSome text\\n\\nmore")
    20
    """
    if "\r" in text:
        return 0
    tokens: list = []
    _md().block.parse(text.replace("\0", "\ufffd"), _md(), {}, tokens)
    starts = [t.map[0] for t in tokens if t.level == 0 and t.map and t.nesting >= 0]
    if len(starts) < 2:
        return 0
    line = starts[-1]
    position = 0
    for _ in range(line):
        position = text.index("\n", position) + 1
    return position



PLAIN_CHARS = 20_000  # characters of Markdown read for a plain-text preview


def plain_text(text: str) -> str:
    """The words a reader sees in untrusted Markdown rendered, as one line of plain text
    (markup and line breaks dropped, whitespace collapsed, key redacted; HTML stays the text it
    is, as `render_html` shows it): for previews.

    >>> plain_text("## Title\\n\\n**Bold** and `code` <b>x</b>, [a link](https://x.example).")
    'Title Bold and code <b>x</b>, a link.'
    """
    tokens = _md().parse(redact(text or "")[:PLAIN_CHARS], {"highlight": False})
    parts: list[str] = []
    for token in tokens:
        if token.type == "inline":
            for child in token.children or ():
                if child.type in ("softbreak", "hardbreak"):
                    parts.append(" ")
                elif child.type != "html_inline" and not child.children:
                    parts.append(child.content)
                elif child.type == "image":
                    parts.append(child.content)
        elif token.type in ("fence", "code_block", "math_block"):
            parts.append(f" {token.content} ")
        elif token.nesting == -1:  # the end of a block (paragraph, heading, item, cell): a space
            parts.append(" ")
    return " ".join(inert_text("".join(parts)).split())


def ellipsised(text: str, chars: int) -> str:
    """`text` cut to at most `chars` characters, at a word boundary when one is near, with "…"."""
    if len(text) <= chars:
        return text
    cut = text[:chars - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > chars * 0.6 else cut).rstrip(" ,;:.") + "…"
