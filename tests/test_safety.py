"""safe_markdown: model text can never carry live HTML or load an image the user did not send.

The rule checked everywhere: a raw `<` may survive only inside a code span or a fenced block that
every CommonMark/GFM renderer treats as code. Each case below is a way a naive sanitiser that
skips "code" gets it wrong.
"""

from __future__ import annotations

import re

import pytest

from grok_magic.render import split_point
from grok_magic.safety import safe_markdown

PAYLOAD = '<img src=x onerror="window.__grok_xss=1">'


def raw_tags_outside_code(markdown: str) -> list[str]:
    """Tags a renderer could execute: `<` + letter/`/`/`!` outside top-level fences and one-line
    code spans (the only places safe_markdown leaves them)."""
    found, fence = [], None
    for line in markdown.splitlines():
        if fence:
            if re.match(rf"^ {{0,3}}{re.escape(fence)}+\s*$", line):
                fence = None
            continue
        opener = re.match(r"^(`{3,}(?=[^`]*$)|~{3,})", line)
        if opener:
            fence = opener.group(1)
            continue
        prose = re.sub(r"(?<![\\`])(`+)([^`\n|](?:[^\n|]*?[^`\n|])?)\1(?!`)", "", line)
        found += re.findall(r"<[A-Za-z/!?]", prose)
    return found


BYPASSES = {
    "plain": f"Hello {PAYLOAD}",
    "script": "<script>window.__grok_xss=2</script>",
    "escaped backtick": f"\\`{PAYLOAD}`",
    "span across list items": f"- `a\n- {PAYLOAD}`",
    "span across paragraphs": f"`a\n\n{PAYLOAD}\n\nb`",
    "table cell split": f"| a | b |\n|---|---|\n| `x | {PAYLOAD} | y` |",
    "fence ended by its list item": f"1. item\n   ```\n   code\n{PAYLOAD}\n",
    "fence info with backtick": f"``` a`b\n{PAYLOAD}\n",
    "indented fence": f"   ```\n{PAYLOAD}\n   ```",
    "quoted fence": f"> ```\n> {PAYLOAD}\n> ```",
    "html block": f"<div>\n```\n{PAYLOAD}\n```\n</div>",
    "math": f"$x{PAYLOAD}$ and $$ {PAYLOAD} $$",
    "iframe": '<iframe src="javascript:parent.__grok_xss=3"></iframe>',
    "comment trick": f"<!-- -->{PAYLOAD}<!-- -->",
    "entity obfuscated link": "[x](jav&#x61;script:alert(1))",
    "svg": "<svg onload=alert(1)><circle/></svg>",
}


@pytest.mark.parametrize("name", BYPASSES)
def test_no_live_html_survives(name):
    out = safe_markdown(BYPASSES[name])
    assert raw_tags_outside_code(out) == [], out
    assert "javascript:" not in out.lower() and "jav&#x61;script" not in out


@pytest.mark.parametrize("name", BYPASSES)
def test_every_streaming_split_is_safe_too(name):
    text = BYPASSES[name] + "\n\nmore text\n"
    point = split_point(text)
    for piece in (text[:point], text[point:]):
        assert raw_tags_outside_code(safe_markdown(piece)) == []


def test_code_keeps_html_as_text():
    text = "Use `<b>` for bold:\n\n```html\n<b>bold</b>\n```\n"
    assert safe_markdown(text) == text


def test_prose_keeps_markdown_features():
    text = "> a quote\n\n**bold** and x -> y, a < b && c\n\n- item\n\n1. one\n\n<https://x.org>"
    out = safe_markdown(text)
    assert out.startswith("> a quote\n\n**bold** and x -> y")
    assert "a &lt; b &amp;&amp; c" in out  # renders as "a < b && c"
    assert "- item" in out and "1. one" in out and "https://x.org" in out


def test_math_renders_comparisons_without_raw_angle_brackets():
    out = safe_markdown("If $a<b$ then $$\\frac{1}{a} > \\frac{1}{b}$$ and \\(x<0\\)")
    assert "$a\\lt b$" in out and "\\(x\\lt 0\\)" in out and "<" not in out


def test_images_become_links_unless_the_user_sent_them():
    text = "![a](https://e.com/a.png) ![b](https://e.com/b.png) ![r][1]\n\n[1]: https://e.com/r.png"
    out = safe_markdown(text, allowed_images={"https://e.com/a.png"})
    assert "![a](https://e.com/a.png)" in out
    assert "[b](https://e.com/b.png)" in out and "![b]" not in out
    assert "![r]" not in out and "[r][1]" in out


def test_dangerous_link_schemes_lose_their_target():
    out = safe_markdown("[x](javascript:alert(1)) [y](data:text/html,hi) [z](https://ok.org)")
    assert "javascript" not in out and "data:" not in out and "[z](https://ok.org)" in out
