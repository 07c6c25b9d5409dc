"""What a notebook front end receives while %%grok streams, measured in a real kernel."""

from __future__ import annotations

import pytest
from kernel_helpers import long_answer, run_cells
from xai_standin import FAKE_KEY, Reply

from grok_magic.markdown import render_html

pytestmark = pytest.mark.timeout(180)
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def streamed(xai_env):
    """A 20 KB answer in 5,000 chunks, streamed over ~3 s, through a real kernel."""
    answer = long_answer(20_000)
    chunk = -(-len(answer) // 5000)
    xai_env.enqueue(Reply(content=answer, chunk_chars=chunk, delay=0.0006))
    run = run_cells(["%load_ext grok_magic", "%%grok\nWrite a long answer"])
    return answer, run


def test_streaming_updates_are_throttled_and_linear(streamed):
    answer, run = streamed
    messages = [m for m in run.of_cell(1) if m.type in ("display_data", "update_display_data")]
    answer_msgs = [m for m in messages if WIDGET not in (m.content.get("data") or {})]
    pushed = sum(len(m.html) + len((m.content.get("data") or {}).get("text/plain", ""))
                 for m in answer_msgs)
    # Finished blocks are sent once; only the tail is updated: bytes stay linear in the answer.
    # What must be sent anyway is the final HTML (highlighted code makes it ~1.8x the Markdown)
    # and the plain twin; streaming may add at most half of that again (a quadratic tail would
    # add ~10x here: ~30 updates of a tail up to 20 KB).
    final = render_html(answer)
    assert pushed <= 1.5 * (len(final) + len(answer)), (pushed, len(final), len(answer))
    updates = [m for m in answer_msgs if m.type == "update_display_data"]
    content_updates = [m for m in updates if "thinking" not in m.html]
    duration = content_updates[-1].at - content_updates[0].at
    assert len(content_updates) <= 11 * max(duration, 0.1) + 3  # one update per flush, ~10/s


def test_final_displays_hold_the_whole_answer(streamed):
    answer, run = streamed
    final: dict[str, dict] = {}
    order: list[str] = []
    for m in run.of_cell(1):
        if m.type not in ("display_data", "update_display_data"):
            continue
        display_id = (m.content.get("transient") or {}).get("display_id") or str(id(m))
        if display_id not in final:
            order.append(display_id)
        final[display_id] = m.content["data"]
    bundles = [final[i] for i in order]
    answer_bundles = [b for b in bundles if "application/vnd.jupyter.widget-view+json" not in b]
    assert all({"text/html", "text/plain"} <= set(b) for b in answer_bundles)
    assert not any("text/markdown" in b for b in answer_bundles)
    assert "".join(b["text/plain"] for b in answer_bundles) == answer
    usage = bundles[-1]
    assert "application/vnd.jupyter.widget-view+json" in usage
    assert "completion" in usage["text/plain"] and "cost" in usage["text/html"]
    everything = str([m.content for m in run.messages])
    assert FAKE_KEY not in everything


def test_first_text_shows_before_the_stream_ends(streamed):
    answer, run = streamed
    msgs = [m for m in run.of_cell(1) if m.type in ("display_data", "update_display_data")]
    first_text = next(m for m in msgs if "Part 1" in m.html)
    last = max(m.at for m in msgs)
    assert last - first_text.at > 1.0  # visible while most of the answer is still coming
