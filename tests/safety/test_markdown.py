"""The one safe renderer: Markdown features still render; unsafe parts are neutralised; block splits
come from the parser's own tokens. (Inertness against independent renderers: test_markdown_inert.)"""

from __future__ import annotations

import re

import pytest

from grok_magic.safety.markdown import (
    escape_markdown,
    fence_for,
    render_html,
    safe_link,
    split_point,
    tex_is_safe,
)
from tests.support.magic_helpers import visible_text


def test_markdown_features_still_render():
    html = render_html(
        "# Title\n\nSome **bold**, *it*, ~~gone~~ and `code`.\n\n- a\n- b\n\n1. one\n\n"
        "> quoted\n\n| x | y |\n|---|--:|\n| 1 | 2 |\n\n```python\nprint('hi')\n```\n\n"
        "[docs](https://docs.x.ai) and https://x.ai and $a^2 < b$\n"
    )
    for piece in ("<h1>Title</h1>", "<strong>bold</strong>", "<em>it</em>", "<s>gone</s>",
                  "<code>code</code>", "<li>a</li>", "<ol>", "<blockquote>", "<table>",
                  'style="text-align:right"', 'class="language-python"', "<span style=\"color:",
                  '<a href="https://docs.x.ai" rel="noopener noreferrer nofollow">docs</a>',
                  '<a href="https://x.ai"',
                  "<span class=\"grok-math mathjax_process\">\\(a^2 &lt; b\\)</span>"):
        assert piece in html, piece
    assert html.startswith("<div class='grok-md mathjax_ignore'>")


def test_images_show_only_when_the_user_sent_them():
    html = render_html("![a](https://e.com/a.png) ![b](https://e.com/b.png)",
                       allowed_images={"https://e.com/a.png"})
    assert '<img src="https://e.com/a.png" alt="a">' in html
    assert '<a href="https://e.com/b.png" rel="noopener noreferrer nofollow">b</a>' in html
    assert html.count("<img") == 1


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:x",
                                 "data:text/html,hi", "vbscript:x", "file:///etc/passwd",
                                 "notes.ipynb", "/etc/passwd", "#top", "&#106;avascript:x"])
def test_only_http_https_mailto_links_keep_a_target(url):
    assert not safe_link(url)
    html = render_html(f"[x]({url}) <{url}>")
    assert "<a " not in html and "x" in visible_text(html)


def test_math_with_commands_off_the_allowlist_is_shown_as_code():
    assert tex_is_safe(r"\frac{a}{b} + \sqrt{x_i} \le \sum_k \alpha_k \color{red}{y}")
    for tex in (r"\href{https://e.com}{x}", r"\style{color:red}{x}", r"\class{a}{x}",
                r"\cssId{a}{x}", r"\unicode{x41}", r"\require{html}", r"\bbox[red]{x}",
                r"\color{red;background:url(x)}{y}", r"\begin{foo}x\end{foo}"):
        assert not tex_is_safe(tex), tex
        html = render_html(f"${tex}$")
        assert "mathjax_process" not in html and "<code>" in html
    assert not tex_is_safe("a $ b")  # a dollar inside could end the math early


def test_prose_tex_commands_are_broken_with_a_word_joiner():
    html = render_html(r"\\(\href{javascript:alert(1)}{x}\\)")
    assert "\\\u2060href" in html and "\\href" not in html


def test_escape_markdown_makes_untrusted_text_literal():
    hostile = "**b** <img src=x onerror=1> [l](javascript:x) $x$ | a\nb `c`"
    html = render_html(f"| h |\n|---|\n| {escape_markdown(hostile)} |")
    assert visible_text(html).strip().endswith(hostile.replace("\n", " "))
    assert "<strong>" not in html and "<img" not in html and "<a " not in html
    assert "mathjax_process" not in html


def test_split_point_follows_the_parsers_blocks():
    assert split_point("one paragraph still growing") == 0
    text = "# T\n\npara one\n\n```\ncode\n\nstill code\n"
    assert text[split_point(text):] == "```\ncode\n\nstill code\n"  # never inside the fence
    listing = "- a\n\n- b\n\n  more b\n"
    assert split_point(listing) == 0  # one loose list is one block
    assert split_point("a\r\n\r\nb") == 0  # only LF text is split (views normalise first)


def test_fence_for_outlasts_any_backtick_run():
    assert fence_for("x ````` y") == "``````" and fence_for("plain") == "```"


def math_spans(html: str) -> list[str]:
    return re.findall(r'<(?:span|div) class="grok-math mathjax_process">(.*?)</(?:span|div)>', html, re.S)


def test_math_delimiters_open_and_close_as_before():
    html = render_html("Inline $a+b$, \\(c\\) and $$d$$ in a line.\n\n$$\ne = f\n$$\n\n"
                       "\\[\ng\n\\]\n\n\\[ h \\] (1)\n\n$$ i $$ (eq)\n")
    assert math_spans(html) == ["\\(a+b\\)", "\\(c\\)", "\\[d\\]", "\\[\ne = f\n\\]",
                                "\\[\ng\n\\]", "\\[ h \\]", "\\[ i \\]"]
    # unclosed, escaped or empty: text, never math
    for text in ("\\(a " * 50, "$$a\n\n" * 50, "\\[a\n\n" * 50, "cost \\$5 and \\$6", "a $$",
                 "> \\[a\n\nb \\]"):
        html = render_html(text)
        assert "mathjax_process" not in html, text
    assert visible_text(render_html("\\(a \\(b")).strip() == "(a (b"


def test_links_next_to_a_link_label_do_not_crash_the_parser():
    # markdown-it's linkify rule read a stale scheme inside link labels and moved backwards
    html = render_html("example.org[ftp://x*ftp://")
    assert visible_text(html).strip() == "example.org[ftp://x*ftp://"
    assert '<a href="https://x.ai/a"' in render_html("a://b https://x.ai/a*")


def test_code_is_coloured_only_when_short_and_quickly_lexed():
    coloured = render_html("```python\nx = 'a'\n```")
    assert "<span style=" in coloured
    long_block = render_html("```python\n" + "x = 'a'\n" * 3_000 + "```")  # > 20,000 characters
    assert "<span style=" not in long_block and long_block.count("x = 'a'") == 3_000
    slow = render_html("```c\n" + "\n" * 8_000 + "x\n```")  # Pygments' C lexer: quadratic here
    assert "<span style=" not in slow and 'class="language-c"' in slow


def test_nesting_stops_at_the_limit():
    assert render_html("> " * 5_000 + "deep").count("<blockquote>") == 20
    assert render_html("- " * 5_000 + "deep").count("<ul>") <= 20
    assert visible_text(render_html("*" * 5_000 + "deep" + "*" * 5_000)).strip() == "deep"


def test_a_huge_answer_is_formatted_up_to_a_size_and_the_rest_shown_as_plain_text():
    from grok_magic.safety.markdown import FORMAT_CHARS

    block = "| a | b |\n|---|---|\n" + "| **x** | <img src=x onerror=alert(1)> $y$ |\n" * 3000
    text = "\n\n".join([block] * (FORMAT_CHARS // len(block) + 3))
    out = render_html(text)
    formatted, _, rest = out.partition("<pre class='grok-plain'>")
    assert rest, "the part past FORMAT_CHARS is plain text"
    assert "<table>" in formatted and "<strong>x</strong>" in formatted
    assert "<table>" not in rest and "<strong>" not in rest and "<img" not in rest
    assert "| **x** | &lt;img src=x onerror=alert(1)&gt; $y$ |" in rest  # escaped, kept whole
    shown = formatted.count("<strong>x</strong>") + rest.count("| **x** |")
    assert shown == text.count("| **x** |")  # nothing lost at the cut
    assert "too long to format quickly" in formatted
