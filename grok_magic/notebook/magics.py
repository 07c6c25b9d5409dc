"""Front: %%grok and %grok — options and config, the cell sent as an `Ask`, the streamed answer."""

from __future__ import annotations

import os
from collections.abc import Mapping

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display
from IPython.utils.text import dedent
from traitlets import Bool, Enum, Float, Int, Unicode, default, observe

from grok_magic.client import GrokClient
from grok_magic.conversation import DEFAULT_MAX_HISTORY, Ask, Conversation
from grok_magic.errors import GrokError, InputError, InterruptedByUser, StreamInterruptedError
from grok_magic.images import DEFAULT_MAX_IMAGE_SIDE
from grok_magic.messages import DETAILS, json_schema_format
from grok_magic.notebook.answer_view import AnswerStream
from grok_magic.notebook.display import NotebookSink, TerminalSink, UsageDisplay, is_terminal
from grok_magic.notebook.reports import (
    DryRun,
    HistoryReport,
    models_report,
    settings_report,
    usage_report,
)
from grok_magic.prompt import build_user_turn
from grok_magic.redaction import Secret
from grok_magic.response import Response
from grok_magic.settings import DEFAULT_MODEL, MAX_RETRIES, READ_TIMEOUT, Settings

RESULT_NAME = "_grok"
PANEL_NAME = "_grok_panel"


@magics_class
class GrokMagics(Magics):
    """Chat with Grok from a notebook: %%grok cells and %grok commands."""

    model = Unicode(help="Model used when a cell names none (default: XAI_MODEL or grok-4).").tag(
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
    max_image_side = Int(
        DEFAULT_MAX_IMAGE_SIDE, help="Images are scaled so their longest side is at most this."
    ).tag(config=True)
    stream = Bool(True, help="Stream answers as they are written.").tag(config=True)
    show_usage = Bool(True, help="Show the token-usage widget after each answer.").tag(config=True)

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("XAI_MODEL") or DEFAULT_MODEL

    def __init__(self, shell=None, **kwargs) -> None:
        super().__init__(shell=shell, **kwargs)
        self.conversation = Conversation(max_history=self.max_history)
        self.typed_key: Secret | None = None
        self._client: GrokClient | None = None

    @observe("max_history")
    def _max_history_changed(self, change) -> None:
        self.conversation.max_history = change["new"]

    # -- plumbing ----------------------------------------------------------------------------
    def settings(self, timeout: float | None = None) -> Settings:
        """Settings as of now: the env and .env are read again, so a new key takes effect."""
        return Settings.load(
            api_key=self.typed_key.reveal() if self.typed_key else None,
            model=self.model,
            read_timeout=timeout or self.timeout,
            max_retries=self.max_retries,
        )

    def client(self, timeout: float | None = None) -> GrokClient:
        """A client for the current settings, reusing the HTTP session while they hold."""
        settings = self.settings(timeout)
        if self._client is None or self._client.settings != settings:
            if self._client is not None:
                self._client.close()
            self._client = GrokClient(settings)
        return self._client

    @property
    def user_ns(self) -> dict:
        return self.shell.user_ns if self.shell is not None else {}

    @property
    def terminal(self) -> bool:
        return is_terminal(self.shell)

    # -- the magic ---------------------------------------------------------------------------
    @magic_arguments.magic_arguments()
    @magic_arguments.argument("-m", "--model", help="Model for this cell (default: GrokMagics.model).")
    @magic_arguments.argument(
        "-s", "--system", help="System prompt for this cell: text, or the name of a str variable."
    )
    @magic_arguments.argument(
        "-i", "--image", action="append", default=[],
        help="Image to send after the text: a variable, a file path or a URL. Repeatable.",
    )
    @magic_arguments.argument("--detail", choices=DETAILS, help="Image detail for this cell.")
    @magic_arguments.argument("-t", "--temperature", type=float, help="Sampling temperature, 0–2.")
    @magic_arguments.argument(
        "--max-tokens", type=int, help="Most tokens in the answer (max_completion_tokens)."
    )
    @magic_arguments.argument(
        "--reasoning-effort", help="Reasoning effort, for models that take it (e.g. low, high)."
    )
    @magic_arguments.argument("-n", "--new", action="store_true", help="Start a new conversation.")
    @magic_arguments.argument("--json", action="store_true", help="Ask for a JSON object answer.")
    @magic_arguments.argument(
        "--schema", metavar="VAR",
        help="Structured answer: VAR is a JSON-schema dict or a pydantic model class.",
    )
    @magic_arguments.argument(
        "-o", "--out", metavar="VAR", help="Store the result in VAR (parsed value with --json)."
    )
    @magic_arguments.argument("--no-stream", action="store_true", help="Wait for the whole answer.")
    @magic_arguments.argument(
        "--dry-run", action="store_true", help="Show the request body and curl command; send nothing."
    )
    @magic_arguments.argument("--timeout", type=float, help="Seconds to wait for data.")
    @magic_arguments.argument("-q", "--quiet", action="store_true", help="No usage widget.")
    @line_cell_magic
    def grok(self, line: str = "", cell: str | None = None):
        """Ask Grok. The cell's text is the question; the answer streams in as Markdown.

        Examples::

            %%grok
            Explain the bias-variance trade-off in two sentences.

            %%grok -m grok-4.3 -s "You are a terse statistician." -i chart.png
            What trend does this chart show?

            %%grok
            Compare {img} with ![](photo.jpg) and https://example.com/cat.png

        `{name}` inserts the variable `name` (text, or an image: PIL image, numpy array,
        matplotlib figure) at that place; `{{name}}` is the literal text `{name}`. Markdown images
        and bare .png/.jpg URLs in the text are sent as images, in order.

        Line commands: `%grok` (settings), `%grok reset`, `%grok history`, `%grok usage`,
        `%grok models`, `%grok key`, `%grok chat`, or `%grok QUESTION` for a one-line question.
        Defaults: `%config GrokMagics.model = "grok-4.3"` (also system, detail, max_history,
        timeout, max_retries, max_image_side, stream, show_usage). The last answer is `_grok`.
        """
        if cell is None:
            return self._line(line)
        return self._ask(self.grok.parser.parse_args(_split(line)), cell)

    def _line(self, line: str):
        words = line.strip().split(None, 1)
        if not words:
            return self._cmd_settings("")
        command = words[0]
        if command in SUBCOMMANDS:
            return SUBCOMMANDS[command](self, words[1] if len(words) > 1 else "")
        if command.startswith("-"):
            raise UsageError(
                "Options go on a %%grok cell's first line; %grok takes a subcommand "
                f"({', '.join(SUBCOMMANDS)}) or a one-line question."
            )
        return self._ask(self.grok.parser.parse_args([]), line)

    def _system_for(self, value: str | None) -> str | None:
        if value is None:
            return self.system or None
        if value.isidentifier() and isinstance(self.user_ns.get(value), str):
            return self.user_ns[value]
        return value

    def _structured(self, args) -> tuple[dict | None, object]:
        """(response_format, validator) for --json / --schema."""
        if args.schema:
            if args.schema not in self.user_ns:
                raise InputError(
                    f"--schema names {args.schema!r}, which is not a variable here",
                    hint="Define it as a JSON-schema dict or a pydantic model class first.",
                )
            target = self.user_ns[args.schema]
            if isinstance(target, type) and hasattr(target, "model_json_schema"):
                return json_schema_format(target.model_json_schema(), target.__name__), target
            if isinstance(target, Mapping):
                return json_schema_format(target, args.schema), dict(target)
            raise InputError(
                f"--schema {args.schema} is a {type(target).__name__}",
                hint="Pass a JSON-schema dict or a pydantic model class.",
            )
        if args.json:
            return {"type": "json_object"}, None
        return None, None

    def _build_ask(self, args, text: str, response_format: dict | None) -> Ask:
        """The cell as one `Ask`: the user turn (values, inline and `-i` images) and options."""
        user_turn = build_user_turn(
            dedent(text), self.user_ns, images=args.image, detail=args.detail or self.detail or None,
            max_side=self.max_image_side,
        )
        options = {
            "temperature": args.temperature,
            "max_completion_tokens": args.max_tokens,
            "reasoning_effort": args.reasoning_effort,
            "response_format": response_format,
        }
        return Ask(user_turn, args.model or self.model, system=self._system_for(args.system),
                   options={k: v for k, v in options.items() if v is not None},
                   stream=self.stream and not args.no_stream, timeout=args.timeout)

    def _ask(self, args, text: str):
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"-o/--out takes a variable name; {args.out!r} is not one.")
        response_format, validator = self._structured(args)
        ask = self._build_ask(args, text, response_format)
        if args.dry_run:
            # A dry run changes nothing: with --new it shows a fresh start but keeps the history.
            convo = Conversation(max_history=self.max_history) if args.new else self.conversation
            dry = DryRun(f"{self.settings(args.timeout).base_url}/chat/completions", convo.build(ask))
            if args.out:
                self.user_ns[args.out] = dry.body
            return display(dry)
        if args.new:
            self.conversation.reset()
        client = self.client(args.timeout)
        client.settings.require_secret()
        response = self._answer(client, ask, "json" if response_format else None)
        if response_format:
            response.parsed = _parse_structured(response, validator)
        if args.out:
            self.user_ns[args.out] = response.parsed if response_format else response
        if self.show_usage and not args.quiet:
            self._show_usage(response)
        return None

    def _answer(self, client: GrokClient, ask: Ask, code_language: str | None) -> Response:
        """Send `ask` and show the answer as it arrives; a failure keeps what arrived in `_grok`
        (the conversation records it through the stream's end hook)."""
        sink = TerminalSink() if self.terminal else NotebookSink()
        view = AnswerStream(sink, allowed_images=ask.sent_urls, code_language=code_language)
        if not ask.stream:
            try:
                response = self.conversation.send(client, ask)
            except KeyboardInterrupt:
                view.finish(note="no answer: interrupted")
                raise InterruptedByUser("you stopped the request") from None
            except GrokError as err:
                view.finish(note=f"no answer: {err.title}")
                raise
            view.feed(response.text, response.reasoning)
            view.finish()
            self.user_ns[RESULT_NAME] = response
            return response
        stream = self.conversation.stream(client, ask)
        deltas = iter(stream)
        try:
            for delta in deltas:
                view.feed(delta.content, delta.reasoning)
        except KeyboardInterrupt:
            deltas.close()  # finishes the response as stopped, and records it
            stream.close()
            self._keep(view, stream.response, "stopped: you interrupted", "stopped")
            raise InterruptedByUser(response=stream.response) from None
        except GrokError as err:
            response = getattr(err, "response", None) or stream.response.finish(partial=True)
            what = "incomplete: the stream was cut off" if isinstance(
                err, StreamInterruptedError) else f"incomplete: {err.title}"
            self._keep(view, response, what, "incomplete")
            raise
        view.finish()
        self.user_ns[RESULT_NAME] = stream.response
        return stream.response

    def _keep(self, view: AnswerStream, response: Response, note: str, kind: str) -> None:
        view.finish(note=note, kind=kind)
        self.user_ns[RESULT_NAME] = response

    def _show_usage(self, response: Response) -> None:
        convo = self.conversation
        usage = UsageDisplay(response, convo.totals, convo.total_cost, widget=not self.terminal)
        if self.terminal:
            print(usage.plain)
        else:
            display(usage)

    # -- subcommands (dispatched from SUBCOMMANDS below) --------------------------------------
    def _cmd_settings(self, rest: str):
        settings = self.settings()
        key = f"set (from {settings.key_source})" if settings.has_key else (
            "missing — set XAI_API_KEY, add it to .env, or run %grok key")
        rows = [
            ("model", self.model), ("base URL", settings.base_url), ("API key", key),
            ("system prompt", self.system or "(none)"),
            ("history", f"{self.conversation.turns} turns kept, at most {self.max_history}"),
            ("timeout", f"{self.timeout:g} s"), ("retries", str(self.max_retries)),
            ("image detail", self.detail or "(xAI decides)"),
            ("max image side", f"{self.max_image_side} px"),
            ("stream", str(self.stream)), ("usage widget", str(self.show_usage)),
        ]
        return display(settings_report(rows))

    def _cmd_reset(self, rest: str) -> None:
        self.conversation.reset()
        print("New conversation: the history is empty.")

    def _cmd_history(self, rest: str):
        messages = self.conversation.request_messages({"role": "user", "content": ""})[:-1]
        return display(HistoryReport(messages))

    def _cmd_usage(self, rest: str):
        return display(usage_report(self.conversation.tally))

    def _cmd_models(self, rest: str):
        return display(models_report(self.client().list_models(), self.model))

    def _cmd_key(self, rest: str) -> None:
        import getpass

        key = getpass.getpass("xAI API key (kept in memory for this session only): ").strip()
        if not key:
            print("No key entered; nothing changed.")
            return
        self.typed_key = Secret(key)
        del key
        print("Key stored in memory for this session.")

    def _cmd_chat(self, rest: str):
        from grok_magic.notebook.panel import ChatPanel

        panel = ChatPanel(
            model=self.model, system=self.system or None, conversation=self.conversation,
            client=self.client(), detail=self.detail or None, max_image_side=self.max_image_side,
        )
        self.user_ns[PANEL_NAME] = panel
        return panel  # shown as the cell's result; also `_grok_panel` for scripted demos


SUBCOMMANDS = {
    "reset": GrokMagics._cmd_reset,
    "history": GrokMagics._cmd_history,
    "usage": GrokMagics._cmd_usage,
    "models": GrokMagics._cmd_models,
    "key": GrokMagics._cmd_key,
    "chat": GrokMagics._cmd_chat,
}


def _split(line: str) -> list[str]:
    from IPython.utils.process import arg_split

    try:
        return arg_split(line, posix=True)
    except ValueError as err:
        raise UsageError(f"Cannot read the %%grok options ({err}): check the quotes.") from None


def _parse_structured(response: Response, validator) -> object:
    try:
        value = response.json()
    except ValueError as err:
        raise InputError(
            f"the answer is not valid JSON ({err})",
            hint="The text is kept in _grok.text; try again or simplify the schema.",
        ) from None
    if validator is None:
        return value
    if isinstance(validator, dict):
        try:
            import jsonschema
        except ImportError:
            return value
        try:
            jsonschema.validate(value, validator)
        except jsonschema.ValidationError as err:
            raise InputError(
                f"the answer does not match the schema: {err.message}",
                hint="The text is kept in _grok.text.",
            ) from None
        return value
    try:
        return validator.model_validate(value)
    except Exception as err:  # noqa: BLE001 - pydantic's ValidationError, without importing it
        raise InputError(
            f"the answer does not match {validator.__name__}: {str(err).splitlines()[0]}",
            hint="The text is kept in _grok.text.",
        ) from None


def register(ipython) -> None:
    """Create the magics; IPython's register_magics also makes them configurable with %config."""
    ipython.register_magics(GrokMagics(shell=ipython))
    ipython.user_ns.setdefault(RESULT_NAME, None)


def unregister(ipython) -> None:
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("grok", None)
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, GrokMagics)]
