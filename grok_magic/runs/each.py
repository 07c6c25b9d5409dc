"""A live run of one prompt over a dataset (see grok_magic.runs.ask_each for the whole story):
`Each` builds every item's question, plans (a dry run: the first request and a cost range),
and runs them concurrently through runs.runner, with resume and budgets."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from grok_magic.ask import new_cache_key
from grok_magic.errors import InterruptedByUser
from grok_magic.inputs.structured import parse_structured, structured_format
from grok_magic.ledger.budget import ASSUMED_ANSWER_TOKENS, estimate_prompt_tokens
from grok_magic.ledger.recorder import Recorder
from grok_magic.runs.items import Items, items_of
from grok_magic.runs.runner import (
    DEFAULT_CONCURRENCY,
    EachRun,
    Progress,
    each_client,
    request_body,
    template_ask,
    template_imagine,
)
from grok_magic.runs.table import Summary, result_table, summarise
from grok_magic.settings import DEFAULT_MODEL
from grok_magic.xai.client import GrokClient
from grok_magic.xai.pricing import fallback_price
from grok_magic.xai.transport import refuse_key_in

PLAN_SAMPLE = 20  # items whose prompts are built to estimate a run's cost
SHORT_ANSWER_TOKENS = 32  # an answer the template asks to be a label, a word or a number
# What a template says when it wants a short answer: "one word", "yes or no", "label / classify
# / rate / score …", "positive, negative or neutral", "just the number", "only the name".
SHORT_ANSWER = re.compile(
    r"\b(?:one|single|1)[- ]word\b|\byes or no\b|\b(?:label|classify|categori[sz]e|rate|score)\b"
    r"|\b\w+, \w+,? or \w+\b|\b(?:just|only) (?:the|a|one) (?:number|name|label|word|category)\b",
    re.IGNORECASE)


def expected_answer(template: str, max_tokens: int | None) -> tuple[int, str]:
    """The most tokens a dry run assumes each answer takes, and why: `--max-tokens` when given,
    a short answer when the template asks for one, else ASSUMED_ANSWER_TOKENS.

    >>> expected_answer("Label this review as positive, negative or neutral: {review}", None)
    (32, 'the template asks for a short answer')
    >>> expected_answer("Summarise {item}", None)[0], expected_answer("Summarise {item}", 200)
    (1000, (200, '--max-tokens'))
    """
    if max_tokens:
        return max_tokens, "--max-tokens"
    if SHORT_ANSWER.search(template):
        return SHORT_ANSWER_TOKENS, "the template asks for a short answer"
    return ASSUMED_ANSWER_TOKENS, "nothing bounds them"


class EachInterrupted(InterruptedByUser):
    """Stopped."""

    hint = "Finished rows are kept; run it again to send only the rest."

    def __init__(self, message: str, *, result=None, summary: Summary | None = None) -> None:
        self.result, self.summary = result, summary
        super().__init__(message)




@dataclass(frozen=True)
class Plan:
    """What a run would send (a dry run): the first request, how many, and a cost range."""

    first_body: dict
    count: int
    low: float | None
    high: float | None
    answer_tokens: int
    estimated_from: int
    refused: Exception | None = None  # why sending it would be refused (the key is in it)
    answer_bound: str = "--max-tokens"  # what bounds answer_tokens (expected_answer)


class Each:
    """One `--each` run's settings, from which the plan, the run and the result follow.

    `image_cols` names the columns whose strings are image files (`"item"`: the items
    themselves) and `root` the folder they must be in (default: the working directory); a
    value outside it, missing or not an image raises InputError here, before anything is sent.
    Without `image_cols` no string is read as a file.

    A 429 with Retry-After (xAI saying "later") keeps its item queued until `deadline` seconds
    after the run's start (default: the client's `settings.deadline`, GrokMagics.deadline in a
    notebook: an hour), using none of its `max_retries`; other 429s, 5xx and dropped
    connections are retried `max_retries` times."""

    def __init__(
        self, template: str, data: object, *, namespace: Mapping | None = None,
        client: GrokClient | None = None, recorder: Recorder | None = None,
        model: str | None = None, system: str | None = None, images=(), detail: str | None = None,
        temperature: float | None = None, max_tokens: int | None = None,
        reasoning_effort: str | None = None, json: bool = False, schema: str | object = None,
        timeout: float | None = None, concurrency: int = DEFAULT_CONCURRENCY,
        max_retries: int = 2, deadline: float | None = None,
        max_side: int | None = None, max_value_chars: int | None = None,
        resume: bool = True, source: str = "each",
        name: str = "the data", image_cols: Iterable[str] = (),
        root: str | os.PathLike | None = None,
        api: str = "responses", cache: bool = True,
        imagine: Mapping | None = None, downloader=None,
        on_made: Callable[[int, object], None] | None = None,
    ) -> None:
        namespace = dict(namespace or {})
        if schema is not None and not isinstance(schema, str):
            namespace["__schema__"], schema = schema, "__schema__"
        response_format, self.validator = structured_format(schema, json, namespace)
        self.structured = response_format is not None
        if isinstance(image_cols, str):
            image_cols = [image_cols]
        self.items: Items = items_of(data, name, image_cols=image_cols, root=root)
        self.client = client or GrokClient.from_env()
        self.recorder = recorder if recorder is not None else Recorder.from_env()
        self.model = model or self.client.settings.model or DEFAULT_MODEL
        self.max_tokens, self.concurrency, self.max_retries = max_tokens, concurrency, max_retries
        self.template = template
        self.deadline = self.client.settings.deadline if deadline is None else deadline
        options = {"temperature": temperature, "max_completion_tokens": max_tokens,
                   "reasoning_effort": reasoning_effort, "response_format": response_format}
        self.api = api
        self.imagine = dict(imagine) if imagine is not None else None
        self.downloader = downloader
        self.on_made = on_made  # on_made(i, ImageResponse): item i's pictures (from a worker)
        if self.imagine is not None:  # one picture (or --count) per item, from Grok Imagine
            self.make_ask = template_imagine(
                template, self.items, namespace, imagine=self.imagine, images=images,
                max_side=max_side, max_value_chars=max_value_chars, timeout=timeout,
                source=source, resume=resume)
        else:
            self.make_ask = template_ask(
                template, self.items, namespace, model=self.model, system=system,
                options={k: v for k, v in options.items() if v is not None}, images=images,
                detail=detail, max_side=max_side, max_value_chars=max_value_chars,
                timeout=timeout, source=source, resume=resume, api=api,
                # one prompt-cache key for the run: its items share the system prompt, template
                cache_key=new_cache_key() if cache else None)

    def body(self, position: int, keys_found: list | None = None) -> dict:
        return request_body(self.make_ask(position, keys_found))

    def plan(self) -> Plan:
        """The first request and the cost range of the whole run (prompt cost from a sample of
        items, plus answers of up to --max-tokens, or ASSUMED_ANSWER_TOKENS, each)."""
        count = len(self.items)
        step = max(1, count // PLAN_SAMPLE)
        keys_found: list = []  # a dry run shows what a refused run would have sent
        picked = range(0, count, step)[:PLAN_SAMPLE]
        sample = [self.body(i, keys_found) for i in picked]
        refused = keys_found[0] if keys_found else None
        if self.imagine is not None:  # priced before sending: --count × price (+ references)
            prices = [self.make_ask(i).estimate() for i in picked]
            total = (None if None in prices
                     else sum(prices) * count / len(prices))  # type: ignore[arg-type]
            return Plan(sample[0], count, total, total, 0, len(sample), refused, "--count")
        price = self.client.price_for(self.model) or fallback_price(self.model)
        answer_tokens, why = expected_answer(self.template, self.max_tokens)
        if price is None:
            return Plan(sample[0], count, None, None, answer_tokens, len(sample), refused, why)
        mean_tokens = sum(estimate_prompt_tokens(b) for b in sample) / len(sample)
        prompts = count * mean_tokens * price.input / 1_000_000
        low = prompts + count * price.output / 1_000_000  # every answer at least one token
        high = prompts + count * answer_tokens * price.output / 1_000_000
        return Plan(sample[0], count, low, high, answer_tokens, len(sample), refused, why)

    def run(self, on_progress: Callable[[Progress], None] | None = None):
        """Send every item (those answered OK before are replayed); the result table.

        A kernel interrupt raises EachInterrupted carrying the partial result. A key in the
        template, the system prompt or the first item refuses the run before anything is sent
        (a later item holding one fails as its own row, unsent)."""
        if len(self.items):
            refuse_key_in(self.body(0))
        client = each_client(self.client, self.concurrency)
        parse = (lambda r: parse_structured(r, self.validator)) if self.structured else None
        send = None
        if self.imagine is not None:
            from grok_magic.ledger.imagery import make_images
            from grok_magic.xai.downloads import Downloader

            downloader = self.downloader or Downloader()

            def send(position, request):
                response = make_images(self.recorder, client, request, downloader)
                if self.on_made is not None:
                    self.on_made(position, response)
                return response
        runner = EachRun(len(self.items), self.make_ask, client, self.recorder,
                         concurrency=self.concurrency, max_retries=self.max_retries,
                         deadline=self.deadline, on_progress=on_progress, parse=parse,
                         send=send)
        try:
            rows = runner.run()
        finally:
            client.close()
        summary = summarise(rows, runner.progress, runner.stopped)
        result = result_table(self.items, rows, self.structured)
        if runner.interrupted:
            raise EachInterrupted(
                f"you stopped the run: {summary.ok:,} of {summary.total:,} items were answered, "
                f"{summary.cancelled:,} were not", result=result, summary=summary)
        self.summary = summary
        return result










