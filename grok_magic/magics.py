"""Front: %%grok and %grok — options, the cell as a user turn, streaming display, subcommands."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display
from IPython.utils.text import dedent
from traitlets import Bool, Float, Int, Unicode, default, observe

from grok_magic.client import GrokClient
from grok_magic.conversation import DEFAULT_MAX_HISTORY, Conversation
from grok_magic.errors import GrokError, InputError, InterruptedByUser, StreamInterruptedError
from grok_magic.messages import DETAILS, json_schema_format, user_message
from grok_magic.prompt import interpolate, split_inline_images
from grok_magic.render import (
    PlainStream,
    StreamingMarkdown,
    UsageDisplay,
    format_cost,
    is_terminal,
    reasoning_bundle,
)
from grok_magic.response import Response
from grok_magic.safety import fence_for, safe_markdown
from grok_magic.settings import DEFAULT_MODEL, MAX_RETRIES, READ_TIMEOUT, Settings

SUBCOMMANDS = ("reset", "history", "usage", "models", "key", "chat")
DATA_URL_PREVIEW = 40
RESULT_NAME = "_grok"
PANEL_NAME = "_grok_panel"


def shorten_data_urls(value):
    """A copy of a request body with data URLs cut to a preview (for dry runs and history)."""
    if isinstance(value, dict):
        return {k: shorten_data_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten_data_urls(v) for v in value]
    if isinstance(value, str) and value.startswith("data:") and len(value) > DATA_URL_PREVIEW:
        return f"{value[:DATA_URL_PREVIEW]}…({len(value):,} characters)"
    return value


def curl_command(url: str, body: Mapping) -> str:
    """The equivalent curl command; the key is left to the shell's $XAI_API_KEY."""
    payload = json.dumps(body, indent=2, ensure_ascii=False)
    return (
        f"curl {shlex.quote(url)} \\\n"
        '  -H "Content-Type: application/json" \\\n'
        '  -H "Authorization: Bearer $XAI_API_KEY" \\\n'
        f"  -d {shlex.quote(payload)}"
    )


class DryRun:
    """What a cell would send: the JSON body and the curl command, with nothing sent."""

    def __init__(self, url: str, body: dict) -> None:
        self.url = url
        self.body = body
        self.shown = shorten_data_urls(body)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        payload = json.dumps(self.shown, indent=2, ensure_ascii=False)
        curl = curl_command(self.url, self.shown)
        plain = f"POST {self.url}\n{payload}\n\n{curl}"
        json_fence, curl_fence = fence_for(payload), fence_for(curl)
        markdown = (
            f"**Dry run** — nothing was sent. `POST {self.url}` with this body:\n\n"
            f"{json_fence}json\n{payload}\n{json_fence}\n\nThe same request with curl:\n\n"
            f"{curl_fence}bash\n{curl}\n{curl_fence}"
        )
        return {"text/markdown": markdown, "text/plain": plain}


class TextReport:
    """Our own Markdown (settings, tables) with a plain-text twin; untrusted parts pre-escaped."""

    def __init__(self, markdown: str, plain: str) -> None:
        self.markdown, self.plain = markdown, plain

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/markdown": self.markdown, "text/plain": self.plain}

    def __repr__(self) -> str:
        return self.plain


def _cell(value: object) -> str:
    return safe_markdown(str(value)).replace("|", "\\|").replace("\n", " ")


@magics_class
class GrokMagics(Magics):
    """Chat with Grok from a notebook: %%grok cells and %grok commands."""

    model = Unicode(help="Model used when a cell names none (default: XAI_MODEL or grok-4).").tag(
        config=True
    )
    system = Unicode("", help="System prompt for every cell ('' for none).").tag(config=True)
    detail = Unicode("", help="Image detail: auto, low, high or '' (xAI decides).").tag(
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
    max_image_side = Int(2048, help="Images are scaled so their longest side is at most this.").tag(
        config=True
    )
    stream = Bool(True, help="Stream answers as they are written.").tag(config=True)
    show_usage = Bool(True, help="Show the token-usage widget after each answer.").tag(config=True)

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("XAI_MODEL") or DEFAULT_MODEL

    def __init__(self, shell=None, **kwargs) -> None:
        super().__init__(shell=shell, **kwargs)
        self.conversation = Conversation(max_history=self.max_history)
        self.typed_key: str | None = None
        self._client: GrokClient | None = None

    @observe("max_history")
    def _max_history_changed(self, change) -> None:
        self.conversation.max_history = change["new"]

    # -- plumbing ----------------------------------------------------------------------------
    def settings(self, timeout: float | None = None) -> Settings:
        """Settings as of now: the env and .env are read again, so a new key takes effect."""
        return Settings.load(
            api_key=self.typed_key,
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

    def _image_part(self, source, detail: str | None) -> dict:
        from grok_magic.images import to_image_part

        return to_image_part(source, detail=detail, max_side=self.max_image_side)

    def _resolve_image_option(self, src: str):
        # A variable name wins; otherwise the text is a path or URL for the images module.
        return self.user_ns[src] if src.isidentifier() and src in self.user_ns else src

    def build_user_turn(self, text: str, images: list[str], detail: str | None) -> dict:
        """The cell's text with `{name}` values and inline images in place, then `-i` images."""
        from grok_magic.images import is_image_like

        parts: list = []
        for kind, value in interpolate(text, self.user_ns, is_image_like):
            if kind == "value":
                parts.append(self._image_part(value, detail))
                continue
            for piece_kind, piece in split_inline_images(value):
                parts.append(self._image_part(piece, detail) if piece_kind == "image" else piece)
        for src in images:
            parts.append(self._image_part(self._resolve_image_option(src), detail))
        turn = user_message(parts)
        if not turn["content"]:
            raise InputError(
                "the cell is empty", hint="Write a question under %%grok (or pass -i IMAGE)."
            )
        return turn

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
        try:
            args = self.grok.parser.parse_args(_split(line))
        except SystemExit:  # argparse on --help
            return None
        return self._ask(args, cell)

    def _line(self, line: str):
        words = line.strip().split(None, 1)
        if not words:
            return display(self._settings_report())
        command = words[0]
        if command in SUBCOMMANDS:
            return getattr(self, f"_cmd_{command}")(words[1] if len(words) > 1 else "")
        if command.startswith("-"):
            raise UsageError(
                "Options go on a %%grok cell's first line; %grok takes a subcommand "
                f"({', '.join(SUBCOMMANDS)}) or a one-line question."
            )
        args = self.grok.parser.parse_args([])
        return self._ask(args, line)

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

    def _ask(self, args, text: str):
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"-o/--out takes a variable name; {args.out!r} is not one.")
        response_format, validator = self._structured(args)
        detail = args.detail or self.detail or None
        system = self._system_for(args.system)
        model = args.model or self.model
        user_turn = self.build_user_turn(dedent(text), args.image, detail)
        if args.new and not args.dry_run:
            self.conversation.reset()
        options = {
            "temperature": args.temperature,
            "max_completion_tokens": args.max_tokens,
            "reasoning_effort": args.reasoning_effort,
            "response_format": response_format,
        }
        stream = self.stream and not args.no_stream
        if args.dry_run:
            settings = self.settings(args.timeout)
            # A dry run changes nothing: with --new it shows a fresh start but keeps the history.
            convo = Conversation(max_history=self.max_history) if args.new else self.conversation
            body = convo.build(user_turn, model, stream=stream, system=system, **options)
            dry = DryRun(f"{settings.base_url}/chat/completions", body)
            if args.out:
                self.user_ns[args.out] = body
            return display(dry)
        client = self.client(args.timeout)
        client.settings.require_key()
        sent_urls = _sent_urls(user_turn)
        code_language = "json" if response_format else None
        response = self._send(client, user_turn, model, system, options, stream,
                              args.timeout, sent_urls, code_language)
        self.user_ns[RESULT_NAME] = response
        if response_format:
            response.parsed = _parse_structured(response, validator)
        if args.out:
            self.user_ns[args.out] = response.parsed if response_format else response
        if response.reasoning and not is_terminal(self.shell):
            display(reasoning_bundle(response.reasoning), raw=True)
        if self.show_usage and not args.quiet:
            self._show_usage(response)
        return None

    def _send(self, client, user_turn, model, system, options, stream, timeout, sent_urls,
              code_language) -> Response:
        def make_renderer():
            if is_terminal(self.shell):
                return PlainStream()
            return StreamingMarkdown(allowed_images=sent_urls, code_language=code_language)

        if not stream:
            renderer = make_renderer()  # its "thinking" line shows while the answer is awaited
            try:
                response = self.conversation.send(
                    client, user_turn, model, timeout=timeout, system=system, **options
                )
            except (GrokError, KeyboardInterrupt) as err:
                title = err.title if isinstance(err, GrokError) else "interrupted"
                renderer.finish(note=f"no answer: {title}")
                raise
            renderer.feed(response.text)
            renderer.finish()
            return response
        answer = self.conversation.stream(
            client, user_turn, model, timeout=timeout, system=system, **options
        )
        renderer = make_renderer()
        try:
            for delta in answer:
                renderer.feed(delta.content, delta.reasoning)
        except KeyboardInterrupt:
            answer.close()
            response = answer.response
            self._keep_partial(renderer, user_turn, response, "stopped: you interrupted")
            raise InterruptedByUser(response=response) from None
        except GrokError as err:
            response = getattr(err, "response", None) or answer.response.finish(partial=True)
            what = "incomplete: the stream was cut off" if isinstance(
                err, StreamInterruptedError) else f"incomplete: {err.title}"
            self._keep_partial(renderer, user_turn, response, what)
            raise
        renderer.finish()
        self.conversation.record(user_turn, answer.response)
        return answer.response

    def _keep_partial(self, renderer, user_turn, response: Response, note: str) -> None:
        """Show what arrived, marked, and keep it in `_grok` (not in the history)."""
        renderer.finish(note=note)
        self.conversation.record(user_turn, response)
        self.user_ns[RESULT_NAME] = response

    def _show_usage(self, response: Response) -> None:
        convo = self.conversation
        terminal = is_terminal(self.shell)
        usage = UsageDisplay(response, convo.totals, convo.total_cost, widget=not terminal)
        if terminal:
            print(usage.plain)
        else:
            display(usage)

    # -- subcommands -------------------------------------------------------------------------
    def _settings_report(self) -> TextReport:
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
        markdown = "| setting | value |\n|---|---|\n" + "\n".join(
            f"| {k} | {_cell(v)} |" for k, v in rows
        )
        plain = "\n".join(f"{k:>15}: {v}" for k, v in rows)
        return TextReport(markdown, plain)

    def _cmd_reset(self, rest: str) -> None:
        self.conversation.reset()
        print("New conversation: the history is empty.")

    def _cmd_history(self, rest: str):
        messages = self.conversation.request_messages({"role": "user", "content": ""})[:-1]
        if not messages:
            return display(TextReport("*No conversation yet.*", "No conversation yet."))
        md, plain = [], []
        names = {"system": "System", "user": "You", "assistant": "Grok"}
        for message in messages:
            content = message.get("content")
            if isinstance(content, list):
                text = " ".join(
                    p["text"] if p["type"] == "text" else "[image]" for p in content
                )
            else:
                text = content or ""
            who = names.get(message["role"], message["role"])
            md.append(f"**{who}:** {safe_markdown(text)}")
            plain.append(f"{who}: {text}")
        return display(TextReport("\n\n---\n\n".join(md), "\n\n".join(plain)))

    def _cmd_usage(self, rest: str):
        convo = self.conversation
        t = convo.totals
        rows = [
            ("answers", str(convo.answers)),
            ("prompt tokens", f"{t.prompt_tokens:,} (cached {t.cached_tokens:,}, "
                              f"image {t.image_tokens:,})"),
            ("completion tokens", f"{t.completion_tokens:,}"),
            ("reasoning tokens", f"{t.reasoning_tokens:,}"),
            ("total tokens", f"{t.total_tokens:,}"),
            ("cost", format_cost(convo.total_cost)),
        ]
        markdown = "| session | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
        return display(TextReport(markdown, "\n".join(f"{k}: {v}" for k, v in rows)))

    def _cmd_models(self, rest: str):
        models = self.client().list_models()
        lines = ["| model | images | input $/1M | cached $/1M | output $/1M |",
                 "|---|---|---|---|---|"]
        plain = []
        for m in models:
            p = m.price
            prices = [f"{v:g}" if v is not None else "—" for v in (
                (p.input, p.cached_input, p.output) if p else (None, None, None))]
            images = {True: "yes", False: "no", None: "?"}[m.image_input]
            name = m.id + (f" ({', '.join(m.aliases)})" if m.aliases else "")
            marker = " ←" if self.model in (m.id, *m.aliases) else ""
            lines.append(f"| {_cell(name)}{marker} | {images} | " + " | ".join(prices) + " |")
            plain.append(f"{name}{marker}: images {images}, $ " + " / ".join(prices))
        return display(TextReport("\n".join(lines), "\n".join(plain)))

    def _cmd_key(self, rest: str) -> None:
        import getpass

        key = getpass.getpass("xAI API key (kept in memory for this session only): ").strip()
        if not key:
            print("No key entered; nothing changed.")
            return
        self.typed_key = key
        Settings.load(api_key=key)  # registers the key for redaction
        print("Key stored in memory for this session.")

    def _cmd_chat(self, rest: str):
        from grok_magic.panel import ChatPanel

        panel = ChatPanel(
            model=self.model, system=self.system or None, conversation=self.conversation,
            client=self.client(), detail=self.detail or None, max_image_side=self.max_image_side,
        )
        self.user_ns[PANEL_NAME] = panel
        return panel  # shown as the cell's result; also `_grok_panel` for scripted demos


def _split(line: str) -> list[str]:
    from IPython.utils.process import arg_split

    try:
        return arg_split(line, posix=True)
    except ValueError as err:
        raise UsageError(f"Cannot read the %%grok options ({err}): check the quotes.") from None


def _sent_urls(user_turn: Mapping) -> set[str]:
    content = user_turn.get("content")
    if not isinstance(content, list):
        return set()
    return {p["image_url"]["url"] for p in content
            if p.get("type") == "image_url" and p["image_url"]["url"].startswith("http")}


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
    """Create the magics and make them configurable with %config."""
    magics = GrokMagics(shell=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)
    ipython.user_ns.setdefault(RESULT_NAME, None)


def unregister(ipython) -> None:
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("grok", None)
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, GrokMagics)]
