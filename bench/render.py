"""Render time per KB by answer shape and size: `render_html` against plain markdown-it.

Run `python -m bench.render [--sizes 1,10,100,1000] [--shapes a,b]`. For each shape (from
tests/render_shapes.py: paragraphs, one paragraph, one code block, unclosed `\\(`, unclosed
`$$`, nested lists and quotes, long table) and each size in KB it times, in the same run,
`render_html` (the safe renderer: math rules, token checks, highlighting, nh3, with an API key
registered so redaction searches for it), the baseline — markdown-it's CommonMark `render`
with GFM tables and strikethrough of the same text (no math, links found in text, checks or
sanitising) — and, at the sizes where it
finishes in reasonable time, the old renderer (mdit-py-plugins' dollarmath + texmath brackets
in place of grok_magic.safety.markdown_math; its quadratic rules are why this exists). It prints ms
per KB, the ratio to the baseline, the 1 MB/100 KB per-KB ratio (linear: ~1) and the time for
1 MB. Targets: 1 MB of any shape in <= 2 s; per-KB flat (ratio < 3). Exit code 1 if missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGET_SECONDS_PER_MB = 2.0
FLAT = 3.0
OLD_LIMIT_SECONDS = 5.0  # the old renderer is not run on a size once a smaller one took this


def best(fn, text: str, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - start)
    return min(times)


def old_renderer():
    """The renderer as it was: the same checks with mdit-py-plugins' math rules."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.texmath import texmath_plugin

    import grok_magic.safety.markdown as markdown

    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
    md.enable(["table", "strikethrough", "linkify"])
    dollarmath_plugin(md, allow_space=True, allow_digits=True, double_inline=True)
    texmath_plugin(md, delimiters="brackets")
    new = markdown._md()
    for name, rule in new.renderer.rules.items():
        md.add_render_rule(name, rule)

    def render(text: str) -> str:
        env = {"highlight": True, "highlight_left": markdown.HIGHLIGHT_CHARS_PER_RENDER}
        tokens = md.parse(markdown.redact(text), env)
        for token in tokens:
            if token.type == "inline" and token.children:
                token.children = markdown._rewrite_inline(token.children, set())
        return markdown.sanitise(md.renderer.render(tokens, md.options, env))
    return render


def main() -> int:
    from markdown_it import MarkdownIt

    from grok_magic.safety.markdown import render_html
    from grok_magic.safety.redaction import register_secret
    from tests.support.render_shapes import SHAPES

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,100,1000", help="sizes in KB")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    register_secret("xai-" + "Bench0Key1" * 8)
    plain = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render
    old = old_renderer()
    render_html("warm up: `x` $y$ \\(z\\)\n\n```python\nx = 1\n```\n\n| a |\n|---|\n| 1 |\n")
    failed = False
    print(f"{'shape':24s} {'KB':>5s} {'ms/KB':>8s} {'plain':>7s} {'ratio':>6s} {'old':>8s}")
    for name in args.shapes.split(","):
        per_kb: dict[int, float] = {}
        old_slow = False
        for kb in sizes:
            text = SHAPES[name](kb * 1000)
            reps = 5 if kb <= 10 else 2 if kb <= 100 else 1
            ours, base = best(render_html, text, reps), best(plain, text, reps)
            per_kb[kb] = ours * 1000 / kb
            old_text = "-"
            if not old_slow:
                took = best(old, text, 1)
                old_slow = took > OLD_LIMIT_SECONDS / 10
                old_text = f"{took * 1000 / kb:8.2f}"
            print(f"{name:24s} {kb:5d} {per_kb[kb]:8.2f} {base * 1000 / kb:7.2f} "
                  f"{ours / base:6.1f} {old_text:>8s}", flush=True)
        if 1000 in per_kb and 100 in per_kb:
            flat = per_kb[1000] / per_kb[100]
            seconds = per_kb[1000]
            ok = flat < FLAT and seconds <= TARGET_SECONDS_PER_MB
            failed |= not ok
            print(f"{name:24s} 1 MB in {seconds:.2f} s (target <= {TARGET_SECONDS_PER_MB:.0f} s); "
                  f"per KB 1 MB/100 KB {flat:.2f} (target < {FLAT:.0f}) {'ok' if ok else 'MISSED'}")
    print("ms/KB: render_html; plain: markdown-it CommonMark + tables render; ratio: ours/plain; "
          "old: the renderer with mdit-py-plugins' math rules ('-': not run, too slow)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
