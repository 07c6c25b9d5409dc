"""An exchange as a ledger row: what was asked, how it ended, what it cost (exact or estimated)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from grok_magic.errors import GrokError
from grok_magic.ledger.canonical import question_of
from grok_magic.ledger.store import Entry, utc_now
from grok_magic.xai.messages import ENDPOINTS

if TYPE_CHECKING:
    from grok_magic.ledger.canonical import Canonical
    from grok_magic.xai.response import Response


def entry_for(canonical: Canonical, *, session: str, notebook: str | None, source: str,
              cell: int | None, response: Response | None, error: GrokError | str | None,
              seconds: float | None, api: str = "chat") -> Entry:
    """The row of one exchange: its answer (`response`, priced from xAI's usage or by estimate)
    or its `error` (a GrokError, or a line of text for a batch row xAI could not answer)."""
    entry = Entry(
        time=utc_now(), session=session, notebook=notebook, cell=cell,
        source=source, api=api, endpoint=ENDPOINTS[api],
        model_asked=canonical.body.get("model"), request_hash=canonical.hash,
        request=canonical.text, question=question_of(canonical.body),
        status="error" if response is None or isinstance(error, str) else response.status,
        error=error if isinstance(error, str) or error is None else
        f"{error.title}: {error.message}",
        total_s=seconds,
    )
    if response is not None:
        fill_answer(entry, response)
        entry.error = entry.error or (error if isinstance(error, str) else None)
    return entry


def fill_answer(entry, response: Response) -> None:
    usage = response.billed_usage
    entry.cost_exact = int(response.cost_exact)
    entry.model_served = response.model
    entry.answer, entry.reasoning = response.text, response.reasoning
    entry.finish_reason, entry.response_id = response.finish_reason, response.id
    entry.request_id = response.request_id
    entry.cost = response.cost
    entry.error = response.error
    if usage is not None:
        entry.usage = json.dumps(asdict(usage))
        entry.prompt_tokens, entry.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        entry.reasoning_tokens, entry.cached_tokens = usage.reasoning_tokens, usage.cached_tokens
        entry.image_tokens, entry.total_tokens = usage.image_tokens, usage.total_tokens
    if response.first_token_at is not None:
        entry.first_token_s = response.first_token_at - response.started
    entry.total_s = response.elapsed
    entry.citations = json.dumps(response.citations) if response.citations else None
    entry.tool_calls = json.dumps(response.tool_calls) if response.tool_calls else None
