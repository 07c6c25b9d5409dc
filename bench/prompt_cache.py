"""Prompt caching (issue 21): cached share of the prompt against the most a cache could hold, and
the cost against the same requests sent without a conversation key — both measured in this run.

1. A 20-turn conversation (`Conversation.stream`, as a `%%grok` cell sends it) that starts with a
   4,000-character DataFrame description; the next 19 turns are short follow-ups. On each turn the
   most a prefix cache can hold is the whole previous request (this one resends it, then the
   previous answer and the new question), so the maximum is the sum of the previous requests'
   prompt tokens. Run on the Responses API (`prompt_cache_key`, the default) and on chat
   completions (`x-grok-conv-id`).
2. A 200-item `--each` run (`grok_magic.runs.each.Each`, concurrency 8, 50 ms an answer) whose items
   share a 2,000-token system prompt and the template's opening words. Each item after the first
   can at most find that shared opening cached; the first few, sent together before any answer
   came back, find nothing.

The stand-in (tests/xai_standin.py), in its own process, caches prompt prefixes per key as xAI
describes: requests with one key reach one server, which bills the longest prefix it answered
under that key at the cached price (grok-4.3: $0.20 against $1.25 per 1M); a request without a key
lands on a cold server. Target: cached / maximum >= 90 %.
Run: python -m bench.prompt_cache [--turns 20] [--items 200]
Exits non-zero only on a crash; a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from bench.standin_process import StandinProcess  # noqa: E402

MODEL = "grok-4.3"
TARGET = 0.90
CONCURRENCY = 8
LATENCY = 0.05  # seconds the stand-in takes to answer an --each item: concurrent items overlap


def reset(srv, command) -> None:
    """In the stand-in's process: forget everything (its prompt cache too); set its latency."""
    srv.reset()
    srv.latency = command[1] if len(command) > 1 else 0.0


def dataframe_description(chars: int = 4000) -> str:
    """A DataFrame as grok_magic describes it to Grok (`describe`), about `chars` long."""
    import numpy as np
    import pandas as pd

    from grok_magic.inputs.describe import describe_value

    rng = np.random.default_rng(7)
    rows = 400
    frame = pd.DataFrame({
        "city": rng.choice(["Lisbon", "Porto", "Braga", "Faro", "Coimbra"], rows),
        "month": rng.integers(1, 13, rows), "sales": rng.normal(1000, 250, rows).round(2),
        "returns": rng.integers(0, 40, rows), "rating": rng.uniform(1, 5, rows).round(1),
    })
    text = "\n\n".join([
        describe_value(frame, max_chars=chars),
        "Summary statistics:\n" + frame.describe(include="all").round(2).to_string(),
        "By city:\n" + frame.groupby("city").agg(["mean", "min", "max"]).round(2).to_string(),
        "By month:\n" + frame.groupby("month")[["sales", "returns"]].sum().round(2).to_string(),
        "First rows:\n" + frame.head(60).to_string(),
    ])
    assert len(text) >= chars, len(text)
    return text[:chars]


def conversation(api: str, cache: bool, turns: int) -> tuple[int, int, int, float]:
    """(cached tokens, prompt tokens, most cacheable, cost) of one conversation."""
    from grok_magic.ask import Ask
    from grok_magic.conversation import Conversation
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.xai.client import GrokClient
    from grok_magic.xai.messages import user_message

    client = GrokClient.from_env()
    convo = Conversation(system="You are a data analyst. Answer in two sentences.",
                         recorder=Recorder(None))
    first = f"Here is my DataFrame `sales`:\n\n{dataframe_description()}\n\nWhat stands out?"
    cached = prompt = most = 0
    cost, previous = 0.0, None
    for turn in range(turns):
        text = first if turn == 0 else f"Follow-up {turn}: which city should I look at next, and why?"
        ask = Ask(user_message([text]), MODEL, api=api, cache=cache, source="script")
        response = convo.stream(client, ask).until_done()
        usage = response.usage
        cached, prompt = cached + usage.cached_tokens, prompt + usage.prompt_tokens
        cost += response.cost
        if previous is not None:
            most += previous
        previous = usage.prompt_tokens
    client.close()
    return cached, prompt, most, cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()

    standin = StandinProcess(reset)
    folder = tempfile.mkdtemp(prefix="grok-bench-cache-")
    os.environ.update(XAI_BASE_URL=standin.base_url, XAI_API_KEY="xai-" + "k" * 40,
                      GROK_LEDGER=os.path.join(folder, "ledger.sqlite"))
    from tests.support.xai_standin import FAKE_KEY

    os.environ["XAI_API_KEY"] = FAKE_KEY
    try:
        print(f"1. {args.turns}-turn conversation, first turn a 4,000-character DataFrame "
              f"description ({MODEL})")
        print(f"   {'API':<10} {'cached':>8} {'prompt':>8} {'max':>8} {'of max':>7} "
              f"{'cost':>10} {'no key':>10} {'ratio':>6}")
        for api in ("responses", "chat"):
            standin.ask("reset")
            cached, prompt, most, cost = conversation(api, True, args.turns)
            standin.ask("reset")
            _, _, _, cold = conversation(api, False, args.turns)
            share = cached / most if most else 0.0
            print(f"   {api:<10} {cached:>8,} {prompt:>8,} {most:>8,} {share:>6.1%} "
                  f"${cost:>9.5f} ${cold:>9.5f} {cost / cold:>5.2f}x"
                  + ("" if share >= TARGET else "  MISSED"))
        print(f"\n2. --each over {args.items} items sharing a 2,000-token system prompt "
              f"(concurrency {CONCURRENCY})")
        print(f"   {'API':<10} {'cached':>8} {'prompt':>8} {'max':>8} {'of max':>7} "
              f"{'cost':>10} {'no key':>10} {'ratio':>6}")
        for api in ("responses", "chat"):
            standin.ask("reset", LATENCY)
            cached, prompt, most, cost = each(api, True, args.items)
            standin.ask("reset", LATENCY)
            _, _, _, cold = each(api, False, args.items)
            share = cached / most if most else 0.0
            print(f"   {api:<10} {cached:>8,} {prompt:>8,} {most:>8,} {share:>6.1%} "
                  f"${cost:>9.5f} ${cold:>9.5f} {cost / cold:>5.2f}x"
                  + ("" if share >= TARGET else "  MISSED"))
    finally:
        standin.stop()


def each(api: str, cache: bool, items: int) -> tuple[int, int, int, float]:
    """(cached tokens, prompt tokens, most cacheable, cost) of one --each run."""
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.runs.each import Each
    from grok_magic.xai.client import GrokClient

    system = "You label customer reviews as positive, negative or mixed. " * 135  # ~2,000 tokens
    opening = "Label this review with one word. Review: "
    reviews = [f"the delivery took {i % 9 + 1} days and the box was "
               f"{'fine' if i % 3 else 'damaged'} (order {i})." for i in range(items)]
    recorder = Recorder(None)
    run = Each(opening + "{item}", reviews, client=GrokClient.from_env(), recorder=recorder,
               model=MODEL, system=system, concurrency=CONCURRENCY, resume=False, api=api,
               cache=cache)
    table = run.run()
    usage = recorder.tally.usage
    # Item i can at most find cached the system prompt and the longest start its question shares
    # with an earlier item's (in tokens as the stand-in counts them: four characters each).
    questions = [opening + review for review in reviews]
    most = sum((len(system) + max(len(os.path.commonprefix([q, p])) for p in questions[:i])) // 4
               for i, q in enumerate(questions) if i)
    cost = float(table["cost"].sum()) if "cost" in table else recorder.tally.cost
    return usage.cached_tokens, usage.prompt_tokens, most, cost


if __name__ == "__main__":
    main()
