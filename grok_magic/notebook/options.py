"""Front: what %%grok can be configured with (%config GrokMagics.…), and the objects it keeps —
settings, client, conversation, ledger recorder, error watch — rebuilt when the options change."""

from __future__ import annotations

import os
import sys
from functools import cached_property
from typing import TYPE_CHECKING

from IPython.core.magic import Magics
from traitlets import Bool, Enum, Float, Int, Unicode, default, observe

from grok_magic.errors import ConfigError
from grok_magic.notebook.error_watch import ErrorWatch
from grok_magic.settings import (
    DEADLINE,
    DEFAULT_MAX_HISTORY,
    DEFAULT_MAX_IMAGE_SIDE,
    DEFAULT_MAX_VALUE_CHARS,
    DEFAULT_MODEL,
    MAX_ANSWER_CHARS,
    MAX_RETRIES,
    READ_TIMEOUT,
    REPLAY_MODES,
    STALL_TIMEOUT,
    Settings,
    ledger_location,
    replay_from_env,
)
from grok_magic.xai.messages import DETAILS

if TYPE_CHECKING:
    from grok_magic.conversation import Conversation
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.notebook.answer_view import ServedNotes
    from grok_magic.safety.redaction import Secret
    from grok_magic.xai.client import GrokClient
    from grok_magic.xai.downloads import Downloader

RESULT_NAME = "_grok"  # the user-namespace name that holds the last answer (or images)


class GrokOptions(Magics):
    """The configurable part of GrokMagics: every option, and the objects built from them."""

    model = Unicode(help="Model used when a cell names none (default: XAI_MODEL or grok-4.3).").tag(
        config=True
    )
    system = Unicode("", help="System prompt for every cell ('' for none).").tag(config=True)
    detail = Enum(("", *DETAILS), "", help="Image detail: auto, low, high or '' (xAI decides).").tag(
        config=True
    )
    max_history = Int(DEFAULT_MAX_HISTORY, help="Exchanges of history sent with a cell.").tag(
        config=True
    )
    timeout = Float(READ_TIMEOUT, help="Seconds to wait for data before giving up.").tag(
        config=True
    )
    max_retries = Int(MAX_RETRIES, help="Retries of failed requests (429, 5xx, network).").tag(
        config=True
    )
    max_answer_chars = Int(
        MAX_ANSWER_CHARS, help="Characters of an answer (text and reasoning) after which it is "
                               "cut off as incomplete; the part that arrived is kept."
    ).tag(config=True)
    deadline = Float(
        DEADLINE, help="Seconds an answer may take in all, from sending to its end; past it the "
                       "answer is cut off as incomplete. An --each run waits for 429s with "
                       "Retry-After until this long after it started."
    ).tag(config=True)
    stall_timeout = Float(
        STALL_TIMEOUT, help="Seconds a server may send bytes without progress (headers still "
                            "arriving, or only keep-alives) before the answer is cut off."
    ).tag(config=True)
    max_image_side = Int(
        DEFAULT_MAX_IMAGE_SIDE, help="Images are scaled so their longest side is at most this."
    ).tag(config=True)
    max_value_chars = Int(
        DEFAULT_MAX_VALUE_CHARS, help="Most characters a {name} value is described in."
    ).tag(config=True)
    stream = Bool(True, help="Stream answers as they are written.").tag(config=True)
    show_usage = Bool(True, help="Show the token-usage widget after each answer.").tag(config=True)
    ledger = Unicode(
        "", help="Ledger file: '' for GROK_LEDGER or ~/.local/share/grok_magic/ledger.sqlite, "
                 "'off' to record nothing."
    ).tag(config=True)
    replay = Enum(
        REPLAY_MODES, "off", help="off: always ask xAI; auto: answer a request already answered "
                                  "from the ledger; only: never contact xAI (also GROK_REPLAY)."
    ).tag(config=True)
    replay_pace = Float(
        1.5, help="Most seconds a replayed answer takes to stream in: its recorded time when "
                  "shorter, never over 2 s; 0 shows it at once."
    ).tag(config=True)
    api = Enum(
        ("responses", "chat"), "responses",
        help="xAI API for cells: responses (/responses, xAI's current API) or chat "
             "(/chat/completions, which xAI calls legacy); a cell with --search or --run-code "
             "always uses responses.",
    ).tag(config=True)
    cache = Bool(
        True, help="Prompt caching: send one key per conversation (and per --each run) so "
                   "requests reach the server that cached their shared prefix; cached tokens "
                   "cost about 16 % of the input price.",
    ).tag(config=True)
    store = Bool(
        False, help="Responses API: keep answers at xAI (30 days) and continue the next cell "
                    "from the last one (previous_response_id) instead of resending the history.",
    ).tag(config=True)
    concurrency = Int(8, help="Requests a --each run sends at once (it halves on a 429).").tag(
        config=True
    )
    budget = Float(None, allow_none=True, help="USD this kernel may spend (None: no limit).").tag(
        config=True
    )
    daily_budget = Float(
        None, allow_none=True, help="USD every kernel together may spend today (None: no limit)."
    ).tag(config=True)
    image_model = Unicode(
        "grok-imagine-image", help="Model for --imagine cells (Grok Imagine images)."
    ).tag(config=True)
    video_model = Unicode("grok-imagine-video", help="Model for --video cells.").tag(config=True)
    image_format = Enum(
        ("url", "b64_json"), "url",
        help="How xAI hands images over: url (the kernel fetches each file: no base64 overhead, "
             "the answer stays small) or b64_json (inside the answer).",
    ).tag(config=True)
    media_dir = Unicode(
        "", help="Folder for downloaded videos ('' for a grok-media folder beside the notebook, "
                 "or beside the ledger when the notebook's folder is unknown)."
    ).tag(config=True)

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("XAI_MODEL") or DEFAULT_MODEL

    @default("replay")
    def _default_replay(self) -> str:
        try:
            return replay_from_env()
        except ConfigError as err:
            print(f"{err} Replay is off.", file=sys.stderr)
            return "off"

    def __init__(self, shell=None, **kwargs) -> None:
        super().__init__(shell=shell, **kwargs)
        self.batch_schedule = None  # how often Batch API jobs are polled (None: PollSchedule())
        self.video_schedule = None  # how often video jobs are polled (None: VIDEO_SCHEDULE)
        self.typed_key: Secret | None = None
        self._client: GrokClient | None = None
        self.errors = ErrorWatch(shell)

    # The recorder, the conversation and the notes are made on first use (the first cell), not
    # by %load_ext: they bring the ledger, the client and the renderer with them.
    @cached_property
    def recorder(self) -> Recorder:
        """The ledger recorder: replay, budgets, every answer kept once."""
        from grok_magic.ledger.recorder import Recorder

        recorder = Recorder(replay=self.replay, budget=self.budget, daily_budget=self.daily_budget)
        self._open_ledger(recorder)
        return recorder

    @cached_property
    def conversation(self) -> Conversation:
        """The cells' conversation (shared with a panel opened by %grok chat)."""
        from grok_magic.conversation import Conversation

        return Conversation(max_history=self.max_history, recorder=self.recorder)

    @cached_property
    def downloader(self) -> Downloader:
        """Fetches what Imagine made, without the key (one keep-alive session)."""
        from grok_magic.xai.downloads import Downloader

        return Downloader()

    @cached_property
    def served_notes(self) -> ServedNotes:
        """"grok-4 is served as grok-4.3", said once per kernel."""
        from grok_magic.notebook.answer_view import ServedNotes

        return ServedNotes()

    @observe("max_history")
    def _max_history_changed(self, change) -> None:
        if "conversation" in vars(self):
            self.conversation.max_history = change["new"]

    @observe("ledger", "replay")
    def _ledger_changed(self, change) -> None:
        if "recorder" in vars(self):  # not made yet: it opens the ledger named then
            self._open_ledger(self.recorder)

    @observe("budget", "daily_budget")
    def _budget_changed(self, change) -> None:
        if "recorder" in vars(self):
            setattr(self.recorder, change["name"], change["new"])

    def _open_ledger(self, recorder: Recorder) -> None:
        """Use the ledger the settings name (opened on the first exchange; read-only while
        replay is "only")."""
        recorder.use(ledger_location(self.ledger), self.replay,
                          notify=lambda message: print(message, file=sys.stderr))

    # -- plumbing ----------------------------------------------------------------------------
    def settings(self, timeout: float | None = None) -> Settings:
        """Settings as of now: the env and .env are read again, so a new key takes effect."""
        return Settings.load(
            api_key=self.typed_key.reveal() if self.typed_key else None,
            model=self.model,
            read_timeout=timeout or self.timeout,
            max_retries=self.max_retries,
            max_answer_chars=self.max_answer_chars,
            deadline=self.deadline,
            stall_timeout=self.stall_timeout,
        )

    def client(self, timeout: float | None = None) -> GrokClient:
        """A client for the current settings, reusing the HTTP session while they hold."""
        settings = self.settings(timeout)
        if self._client is None or self._client.settings != settings:
            if self._client is not None:
                self._client.close()
            from grok_magic.xai.client import GrokClient

            self._client = GrokClient(settings)
        return self._client

    @property
    def user_ns(self) -> dict:
        return self.shell.user_ns if self.shell is not None else {}

    @property
    def terminal(self) -> bool:
        from grok_magic.notebook.display import is_terminal

        return is_terminal(self.shell)
