"""ChatSession: a chat's exchanges, one answer at a time on a worker thread, Stop, retry, totals.

Widget-free (the chat panel is only its view): a `ChatListener` hears what happens.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from grok_magic.ask import Ask
from grok_magic.conversation import Conversation
from grok_magic.errors import GrokError, InputError, InterruptedByUser
from grok_magic.xai.client import GrokClient
from grok_magic.xai.response import Response, Totals
from grok_magic.xai.streams import Delta, ResponseStream

WAIT_POLL = 0.1  # seconds between checks for a kernel interrupt while a blocking send waits


@dataclass(eq=False)  # compared by identity: the session looks exchanges up in lists
class Exchange:
    """One send: what the user sent, the question as sent, and how it ended."""

    text: str
    parts: list[dict]
    ask: Ask
    from_input: bool = False
    blocking: bool = False
    view: object = None  # the listener's own record of this exchange (e.g. its widgets)
    response: Response | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class ChatListener(Protocol):
    """What a view of a ChatSession is told. `delta` and `settled` run on the worker thread."""

    def started(self, exchange: Exchange) -> None: ...

    def delta(self, exchange: Exchange, delta: Delta) -> None: ...

    def settled(self, exchange: Exchange) -> None: ...

    def busy_changed(self, busy: bool) -> None: ...


class ChatSession:
    """Sends exchanges of a `Conversation` one at a time, each streamed on a worker thread so a
    Stop is handled while it runs. Answers record themselves in the conversation when they end."""

    def __init__(
        self, conversation: Conversation, client: Callable[[], GrokClient], listener: ChatListener,
    ) -> None:
        self.conversation = conversation
        self.totals = Totals()
        self.exchanges: list[Exchange] = []
        self.last: Exchange | None = None
        self._client = client
        self._listener = listener
        self._lock = threading.RLock()
        self._current: Exchange | None = None
        self._stream: ResponseStream | None = None
        self._stop = threading.Event()

    @property
    def busy(self) -> bool:
        """True while an answer is being fetched or streamed."""
        return self._current is not None

    @property
    def current(self) -> Exchange | None:
        return self._current

    def begin(self, exchange: Exchange) -> Exchange:
        """Start the worker that streams the answer to `exchange`."""
        if not exchange.ask.user_turn["content"]:
            raise InputError("there is nothing to send", hint="Type a question or attach an image.")
        with self._lock:
            if self._current is not None:
                raise InputError("an answer is still streaming", hint="Wait for it, or press Stop.")
            self._current = self.last = exchange
            self._stop.clear()
            self.exchanges.append(exchange)
        self._listener.started(exchange)
        self._listener.busy_changed(True)
        # The copied context keeps the kernel's parent message, so updates reach this cell.
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._run, exchange),
                         name="grok-panel-answer", daemon=True).start()
        return exchange

    def take_last_for_retry(self) -> Exchange:
        """Remove the last exchange (and its answer from the history) so it can be asked again."""
        last = self.last
        if last is None:
            raise InputError("there is no question to ask again", hint="Send one first.")
        if self.busy:
            raise InputError("an answer is still streaming", hint="Wait for it, or press Stop.")
        with self._lock:
            self.forget(last)
            self.conversation.forget_last(last.ask.user_turn, last.response)
        return last

    def forget(self, exchange: Exchange) -> None:
        with self._lock:
            if exchange in self.exchanges:
                self.exchanges.remove(exchange)

    def wait_for(self, exchange: Exchange) -> Response:
        """Block until `exchange` is answered; a kernel interrupt is the Stop of a blocking send."""
        try:
            while not exchange.done.wait(WAIT_POLL):
                pass
        except KeyboardInterrupt:
            self.stop()
            exchange.done.wait()
            raise InterruptedByUser(response=exchange.response) from None
        if exchange.error is not None:
            raise exchange.error
        assert exchange.response is not None
        return exchange.response

    def wait(self, timeout: float | None = None) -> Response | None:
        """Wait for the answer in flight (if any) and return it."""
        exchange = self._current or self.last
        if exchange is None:
            return None
        exchange.done.wait(timeout)
        return exchange.response

    def stop(self) -> None:
        """Stop the answer in flight; its partial text stays, marked as stopped."""
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def new_chat(self) -> None:
        """Forget the turns (token totals stay)."""
        if self.busy:
            self.stop()
            self.wait()
        self.conversation.reset()
        with self._lock:
            self.exchanges.clear()
            self.last = None

    # -- the worker thread ---------------------------------------------------------------------
    def _run(self, exchange: Exchange) -> None:
        try:
            stream = self.conversation.stream(self._client(), exchange.ask)
            with self._lock:
                self._stream = stream
            if self._stop.is_set():
                stream.close()
            for delta in stream:
                self._listener.delta(exchange, delta)
            exchange.response = stream.response
        except GrokError as err:
            exchange.error = err
            exchange.response = getattr(err, "response", None)
        except BaseException as exc:  # a bug: shown by the view, re-raised below
            exchange.error = exc
        finally:
            with self._lock:
                self._stream = None
            try:
                if exchange.response is not None:
                    self.totals.add(exchange.response)
                self._listener.settled(exchange)
            finally:
                with self._lock:
                    self._current = None
                self._listener.busy_changed(False)
                exchange.done.set()
        if exchange.error is not None and not isinstance(exchange.error, GrokError) \
                and not exchange.blocking:
            raise exchange.error  # reported by threading.excepthook
