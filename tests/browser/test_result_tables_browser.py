"""The `--each` and Batch API result tables, displayed by the user in a real JupyterLab, show
model text as text: MathJax typesets nothing in them, so no link, style, class or id comes from
an answer (security finding: pandas escapes HTML but leaves `$…$` active).

One notebook: `%%grok --each reviews -o labels` over a DataFrame, the stand-in answering hostile
TeX (and HTML and Markdown); then the user displays `labels`, `_grok_each`, `labels.head()`,
`labels[["answer"]]`, `labels.style` and a `--batch-api` job's table (`_grok_batch.wait()`). The notebook sets
`display.max_colwidth = None` itself (as users do to read whole answers), so pandas does not cut
the payloads short, which would defang some of them by accident.

Controls in the same page:
- the user's own `pd.DataFrame({"m": ["$x^2$"]})` IS typeset (grok_magic changed no pandas
  option for other frames), and so is a plain `pd.DataFrame(labels)`, where the attack is live
  (a MathJax link to evil.example): the checks below would see it;
- each defence alone (only the `<span>`s, only the `mathjax_ignore` wrapper) is displayed too,
  to show what JupyterLab 4.6's MathJax honours.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pandas as pd
import pytest

from tests.support.inert_corpus import TABLE_PAYLOADS as PAYLOADS
from tests.support.xai_standin import Reply

from .conftest import (
    open_notebook,
    output_violations,
    pwned,
    record_dialogs,
    run_all,
    screenshot,
    watch_outputs,
    watched_violations,
    write_notebook,
    xss_fired,
)
from .test_inert_browser import canary  # noqa: F401 - a fixture: a loopback server that logs hits

pytestmark = pytest.mark.browser

# pandas' own stylesheet in its HTML (`<style scoped>`), the same for every table here
PANDAS_STYLE = re.search(r"<style scoped>(.*?)</style>",
                         pd.DataFrame({"a": [1]})._repr_html_(), re.S).group(1).strip()
# ... and the Styler's (empty here: `labels.style` with no styles applied)
OWN_STYLES = [PANDAS_STYLE, ""]
CELL_TIMEOUT_MS = 240_000

SETUP = """\
%load_ext grok_magic
import json, re
import pandas as pd
from IPython.display import HTML, display
pd.set_option("display.max_colwidth", None)  # the user's own choice: whole answers
PAYLOADS = json.load(open("payloads.json"))
reviews = pd.DataFrame({"text": [f"review {i}" for i in range(len(PAYLOADS))]})
batch_items = PAYLOADS[:4]
MATHJAX_BEFORE = pd.get_option("display.html.use_mathjax")"""

# (name, source): the name says what the cell is for
CELLS = [
    ("setup", SETUP),
    ("each", "%%grok --each reviews -o labels --concurrency 1\nSentiment of {text}"),
    ("labels", "labels"),
    ("_grok_each", "_grok_each"),
    ("head", "labels.head()"),
    ("answer_only", 'labels[["answer"]]'),
    ("style", "labels.style"),
    ("batch_submit", "%%grok --each batch_items --batch-api -o batch\n{item}"),
    ("batch", "batch_table = _grok_batch.wait(120)\nbatch_table"),
    ("control_user", 'pd.DataFrame({"m": ["$x^2$"]})'),
    ("control_plain", 'pd.DataFrame(labels).replace("/leak", "/control", regex=True)'),
    ("spans_only", "html = labels._repr_html_()\n"
                   "display(HTML(html.replace(' tex2jax_ignore mathjax_ignore', '', 1)))"),
    ("wrapper_only", r"display(HTML(re.sub(r'<span>([$\\])</span>', r'\1', html)))"),
    ("options", 'print("use_mathjax", pd.get_option("display.html.use_mathjax"), MATHJAX_BEFORE,'
                ' type(labels).__name__, type(batch_table).__name__)'),
]
INDEX = {name: i for i, (name, _) in enumerate(CELLS)}
INERT_CELLS = ["labels", "_grok_each", "head", "answer_only", "style", "batch", "spans_only",
               "wrapper_only"]
ROWS = {"head": 5, "batch": 4}

# What one cell's outputs hold, measured on the DOM the browser built.
_CELL_JS = r"""
(i) => {
  const cell = document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')[i];
  // (JupyterLab's own icons, LabIcon svgs with data-icon, are not the output's content)
  const q = (s) => [...cell.querySelectorAll('.jp-OutputArea-output ' + s)]
      .filter(e => !e.closest('[data-icon]'));
  const html = (e) => e.outerHTML.slice(0, 200);
  return {
    mjx: q('mjx-container').length,
    links: q('a').map(html),
    // pandas' own header row style is the only inline style a table has
    styled: q('[style]').filter(e => !(e.localName === 'tr'
        && e.getAttribute('style') === 'text-align: right;')).map(html),
    images: q('img, svg, math, script, iframe, object, embed').map(html),
    ids: q('[id]').map(html),
    // only pandas' and grok_magic's own (\class would add others)
    classes: q('[class]').map(e => e.getAttribute('class')).filter(c => ![
        'grok-result-frame tex2jax_ignore mathjax_ignore', 'grok-result-frame', 'dataframe',
      ].includes(c)),
    tables: q('table').length,
    spans: q('td span').length,
    ignoring: q('.mathjax_ignore').length,
    cells: q('table td').map(td => td.innerText),
    text: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\n'),
  };
}
"""


def payloads(canary_url: str) -> list[str]:
    """The answers: the fixed ones, and ones aimed at the loopback canary (a CSS url() in
    \\style would be fetched at once; the rest only on a click, which never comes)."""
    return [
        *PAYLOADS,
        rf"$\style{{background-image:url({canary_url}/leak.png)}}{{S}}$",
        rf"\(\href{{{canary_url}/leak-href}}{{CLICK}}\)",
        f"<img src={canary_url}/leak-img.png onerror=window.__pwned=1>",
        f"[LOGIN]({canary_url}/leak-md)",
    ]


def cell_facts(page, name: str) -> dict:
    return page.evaluate(_CELL_JS, INDEX[name])


def test_result_tables_the_user_displays_render_as_text(jupyterlab, page, xai_server, canary):  # noqa: F811
    answers = payloads(canary.url)
    (jupyterlab.root / "payloads.json").write_text(json.dumps(answers))
    xai_server.enqueue(*[Reply(content=a) for a in answers])
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    dialogs = record_dialogs(page)
    watch_outputs(page, [], OWN_STYLES)
    write_notebook(jupyterlab.root, "result_tables.ipynb", [src for _, src in CELLS])
    open_notebook(page, jupyterlab, "result_tables.ipynb")
    run_all(page, timeout=CELL_TIMEOUT_MS)

    # MathJax runs in JupyterLab: the user's own frame and the plain copy get typeset
    page.wait_for_function(
        "([a, b]) => { const c = document.querySelectorAll("
        "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell');"
        " return c[a].querySelector('mjx-container') && c[b].querySelector('mjx-container'); }",
        arg=[INDEX["control_user"], INDEX["control_plain"]], timeout=60_000)
    page.wait_for_timeout(1500)  # late typesetting, image loads, payload timers
    screenshot(page, "result-tables")

    user = cell_facts(page, "control_user")
    assert user["mjx"] == 1, user  # $x^2$ typeset as before: no pandas option was changed
    plain = cell_facts(page, "control_plain")
    assert plain["mjx"] >= 5 and any("evil.example" in a for a in plain["links"]), plain
    assert any("color: red" in s for s in plain["styled"]), plain["styled"]  # \style is live
    print(f"\nplain DataFrame of the same answers: {plain['mjx']} formulas typeset, "
          f"links {plain['links'][:3]}, styled {len(plain['styled'])}")

    expected_text = r"\href{https://evil.example/}{LOGIN}"
    for name in INERT_CELLS:
        facts = cell_facts(page, name)
        assert facts["mjx"] == 0, (name, facts)
        assert facts["links"] == [] and facts["styled"] == [] and facts["images"] == [], (
            name, facts)
        if name == "style":  # pandas' Styler: its own ids and classes on every cell
            assert all(re.match(r'<t(able|h|d) id="T_', i) for i in facts["ids"]), facts["ids"]
            assert facts["tables"] == 1, (name, facts)
        else:
            assert facts["ids"] == [] and facts["classes"] == [], (name, facts)
            assert facts["tables"] == 1, (name, facts)
        # the two defences: isolated $ and \ (not in wrapper_only), the wrapper (not in spans_only)
        assert (facts["spans"] > 0) == (name != "wrapper_only"), (name, facts["spans"])
        assert (facts["ignoring"] > 0) == (name != "spans_only"), (name, facts["ignoring"])
        assert expected_text in facts["text"], (name, facts["text"][:500])
        rows = answers[:ROWS.get(name, len(answers))]
        shown = facts["cells"]
        if name == "batch":  # the stand-in's batch answer quotes the prompt
            assert all(any(p in c for c in shown) for p in rows), (name, shown)
        else:  # every answer, verbatim, as visible text
            assert [c for c in shown if c in rows] == rows, (name, shown)

    options = page.locator(".jp-CodeCell").nth(INDEX["options"]).locator(".jp-OutputArea-output")
    assert options.inner_text().split() == ["use_mathjax", "True", "True", "ResultFrame",
                                            "ResultFrame"]

    # nothing ran, nothing was fetched, no dialog opened
    assert pwned(page) == {"pwned": None, "grok_xss": None} and not xss_fired(page)
    assert dialogs == []
    canary_host = urlsplit(canary.url).netloc
    leaks = [u for u in requests if canary_host in u and "/leak" in u]
    assert leaks == [] and [h for h in canary.hits if "/leak" in h] == []
    assert [u for u in requests if "evil.example" in u] == []
    lab = urlsplit(jupyterlab.base_url).netloc
    print("requests to elsewhere (the plain control only):",
          [u for u in requests if urlsplit(u).netloc != lab and not u.startswith(("data:",
                                                                                  "blob:"))])
    # the shared inert rules, on every output but the two controls (typeset on purpose)
    controls = {INDEX["control_user"], INDEX["control_plain"]}

    def others(found: list[str]) -> list[str]:
        return [v for v in found if not any(f" cell {i}: " in v for i in controls)]

    assert others(output_violations(page, [], OWN_STYLES)) == []
    assert others(watched_violations(page)) == []
    assert len(xai_server.answer_requests) == len(answers)
