"""Front: %%grok and %grok — the cell sent as an `Ask`, the streamed answer, the usage widget."""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class
from IPython.display import display
from IPython.utils.text import dedent

from grok_magic.errors import GrokError, InterruptedByUser
from grok_magic.notebook.cells import running_cell, split_options
from grok_magic.notebook.options import RESULT_NAME, GrokOptions
from grok_magic.xai.messages import DETAILS

# `%load_ext` imports only what registers the magics: the client, the renderer, images, the
# ledger and runs load on the first cell that needs them (bench/load_time.py).
if TYPE_CHECKING:
    from collections.abc import Callable

    from grok_magic.ask import Ask
    from grok_magic.notebook.answer_view import AnswerStream
    from grok_magic.notebook.display import LiveUsage
    from grok_magic.notebook.error_watch import FailedCell
    from grok_magic.xai.client import GrokClient
    from grok_magic.xai.response import Response

STOP_NOTE = f"stopped: you interrupted. {InterruptedByUser.hint}"  # a cell's Stop mid-answer


EXPLAIN = ("Explain this error to someone learning Python: what it means, why this code raised it, "
           "and how to fix it. Be brief and concrete.")
FIX = ("This notebook cell fails. Reply with the whole corrected cell in one ```python code block, "
       "then one sentence saying what you changed.")

def each_options(func):
    """The dataset options of `%%grok` (--each, --image-col, --root, --concurrency,
    --batch-api, --fresh), added to its parser in this order."""
    for option in reversed((
        magic_arguments.argument(
            "--each", metavar="VAR",
            help="Send the cell once per item of VAR (list, dict, Series, DataFrame, or a glob of "
                 "image files); {item} and {index} (and a DataFrame's columns) fill the template.",
        ),
        magic_arguments.argument(
            "--image-col", action="append", default=[], metavar="COLUMN",
            help="--each: COLUMN's strings are image files, sent as images (item: the items of a "
                 "list, Series or dict). Only files under the notebook's folder (or --root) are read. "
                 "Repeatable.",
        ),
        magic_arguments.argument(
            "--root", metavar="DIR", help="--each --image-col: read the files under DIR instead."
        ),
        magic_arguments.argument(
            "--concurrency", type=int, help="--each: requests at once (default GrokMagics.concurrency)."
        ),
        magic_arguments.argument(
            "--batch-api", action="store_true",
            help="--each through xAI's Batch API: queued at xAI, cheaper, results within 24 h; the "
                 "cell returns at once with a job widget (OUT holds the job, then the table).",
        ),
        magic_arguments.argument(
            "--fresh", action="store_true", help="--each: ask every item again (no resume)."
        ),
    )):
        func = option(func)
    return func


def imagine_options(func):
    """The Grok Imagine options of `%%grok` (--imagine, --count, --aspect, --resolution,
    --video, --duration), added to its parser in this order."""
    for option in reversed((
        magic_arguments.argument(
            "--imagine", action="store_true",
            help="Grok Imagine: the cell's text is a picture to make; images in the cell (up to 3) "
                 "make it an edit of them.",
        ),
        magic_arguments.argument(
            "--count", type=int, metavar="N", help="--imagine: images to make, 1–10 (default 1)."
        ),
        magic_arguments.argument("--aspect", metavar="W:H", help="--imagine/--video: e.g. 16:9."),
        magic_arguments.argument(
            "--resolution", help="--imagine: 1k or 2k; --video: 480p or 720p."
        ),
        magic_arguments.argument(
            "--video", action="store_true",
            help="Grok Imagine video: text-to-video, or image-to-video from the cell's one image; "
                 "returns a job widget at once.",
        ),
        magic_arguments.argument(
            "--duration", type=int, metavar="S", help="--video: seconds, 1–15 (default 6)."
        ),
    )):
        func = option(func)
    return func


@magics_class
class GrokMagics(GrokOptions):
    """Chat with Grok from a notebook: %%grok cells and %grok commands."""

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
    @magic_arguments.argument(
        "--to-cell", nargs="?", const="first", choices=("first", "all"),
        help="Put the answer's first Python code block (or all of them) into a new cell below.",
    )
    @each_options
    @magic_arguments.argument(
        "--search", metavar="SPEC",
        help="Let Grok search: web, x or web,x; filters as web:arxiv.org,nature.com or x:@handle "
             "(Responses API).",
    )
    @magic_arguments.argument(
        "--run-code", action="store_true",
        help="Let Grok run code on xAI's servers (Responses API; not --to-cell).",
    )
    @imagine_options
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

        `{In[3]}` is cell 3's source, `{Out[3]}` its output (described, or an image), `{Err}` the
        last error (type, message and your frames). DataFrames, arrays and long values are
        described within `GrokMagics.max_value_chars` (shape, dtypes, a head/tail sample).

        `--each VAR` sends the cell once per item of VAR (a list, dict, pandas Series / Index /
        DataFrame, or a glob of image files) with `{item}` and `{index}` (and a DataFrame's
        columns) filled in, concurrently; the table of answers goes to `-o OUT` and `_grok_each`.
        Add `--batch-api` for xAI's Batch API (cheaper, within 24 h; the cell returns at once).
        A string in the data is text (`{note}` inserts a path as text); `--image-col photo`
        sends the files named in column `photo` as images (`--image-col item`: a list's items),
        read only under the notebook's folder or `--root DIR`, every row checked first.

        Line commands: `%grok` (settings), `%grok reset`, `%grok history`,
        `%grok usage [--today | --week | --all]`, `%grok log [N]`,
        `%grok export FILE [--session | --notebook] [--replace]`, `%grok batches`,
        `%grok batch ID`, `%grok video ID`, `%grok models`, `%grok key`,
        `%grok chat`, `%grok explain` (the last error, explained), `%grok fix` (a corrected
        cell, put below, not run), or `%grok QUESTION`.
        Defaults: `%config GrokMagics.model = "grok-4.3"` (also system, detail, max_history,
        timeout, max_retries, max_answer_chars, deadline, stall_timeout, max_image_side, stream,
        show_usage, ledger, replay, budget, daily_budget, concurrency). The last answer is `_grok`.
        """
        try:
            if cell is None:
                return self._line(line)
            return self._ask(self.grok.parser.parse_args(split_options(line)), cell)
        except GrokError as err:
            show_failure(self, err)
            raise

    def _line(self, line: str):
        from grok_magic.notebook.subcommands import settings

        words = line.strip().split(None, 1)
        if not words:
            return settings(self, "")
        if words[0] in ("?", "??") and len(words) == 1:  # `%grok ?`: help, as `%grok?` is
            return self.shell.run_line_magic("pinfo" if words[0] == "?" else "pinfo2", "%grok")
        command, known = words[0], commands()
        if command in known:
            return known[command](self, words[1] if len(words) > 1 else "")
        if command.startswith("-"):
            raise UsageError(
                "Options go on a %%grok cell's first line; %grok takes a subcommand "
                f"({', '.join(known)}) or a one-line question."
            )
        return self._ask(self.grok.parser.parse_args([]), line)

    def _ask(self, args, text: str, *, literal: bool = False,
             on_cell: Callable[[str], None] | None = None):
        from grok_magic.conversation import Conversation
        from grok_magic.inputs.structured import parse_structured, structured_format
        from grok_magic.notebook.reports import DryRun
        from grok_magic.notebook.tools import with_tools

        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"-o/--out takes a variable name; {args.out!r} is not one.")
        if args.imagine or args.video:
            return imagine_cell(self, args, text)
        if args.each or args.batch_api or args.image_col or args.root is not None:
            from grok_magic.notebook.each_view import run_each

            return run_each(self, args, dedent(text), system_prompt(args.system, self.system,
                                                                    self.user_ns))
        response_format, validator = structured_format(args.schema, args.json, self.user_ns)
        client = self.client(args.timeout)  # settings loaded once: the key is registered now
        keys_found: list | None = [] if args.dry_run else None
        ask = with_tools(cell_ask(self, args, text, response_format, literal, keys_found),
                         args, self)
        if args.dry_run:
            # A dry run changes nothing: with --new it shows a fresh start but keeps the history.
            convo = (Conversation(max_history=self.max_history, recorder=self.recorder) if args.new
                     else self.conversation)
            ask = convo.keyed(ask)
            dry = DryRun(f"{client.settings.base_url}{ask.endpoint}", convo.build(ask),
                         refused=keys_found[0] if keys_found else None, headers=ask.headers)
            if args.out:
                self.user_ns[args.out] = dry.body
            return display(dry)
        if args.new:
            self.conversation.reset()
        usage = self.show_usage and not args.quiet
        response = self._answer(client, ask, "json" if response_format else None, usage)
        if response_format:
            response.parsed = parse_structured(response, validator)
        if args.out:
            self.user_ns[args.out] = response.parsed if response_format else response
        if args.to_cell:
            placed = code_to_cell(self.shell, response.text, args.to_cell)
            if placed is not None and on_cell is not None:
                on_cell(placed)
        if usage:
            self._show_usage(response)
        return None

    def _answer(self, client: GrokClient, ask: Ask, code_language: str | None,
                usage: bool = False) -> Response:
        """Send `ask` and show the answer as it arrives; a failure keeps what arrived in `_grok`
        (the conversation records it through the stream's end hook) and, with `usage`, shows
        what it cost (an estimate when xAI sent no usage)."""
        from grok_magic.notebook.answer_view import AnswerStream, Ticker
        from grok_magic.notebook.display import FAILED, STOPPED, NotebookSink, TerminalSink

        sink = TerminalSink() if self.terminal else NotebookSink()
        view = AnswerStream(sink, allowed_images=ask.sent_urls, code_language=code_language,
                            final=pretty_json(code_language, self.terminal))
        with Ticker(view):  # the waiting line counts up while nothing arrives
            if not ask.stream:
                with no_answer_note(view):
                    response = self.conversation.send(client, ask)
                view.feed(response.text, response.reasoning)
                view.finish(note=self.served_notes.note(response), response=response)
                self.user_ns[RESULT_NAME] = response
                return response
            with no_answer_note(view):
                stream = self.conversation.stream(client, ask)
            if stream.response.replayed:  # streams in over its recorded time, as it did live
                stream.paced(self.replay_pace)
            deltas = iter(stream)
            try:
                for delta in deltas:
                    view.take(delta)
            except KeyboardInterrupt:
                deltas.close()  # finishes the response as stopped, and records it
                stream.close()
                self._keep(view, stream.response, STOP_NOTE, STOPPED, usage)
                raise shown(InterruptedByUser(response=stream.response)) from None
            except GrokError as err:
                response = getattr(err, "response", None) or stream.response.finish(partial=True)
                self._keep(view, response, f"incomplete: {err.paragraph()}", FAILED, usage)
                err.shown_above = True
                raise
            view.finish(note=self.served_notes.note(stream.response), response=stream.response)
            self.user_ns[RESULT_NAME] = stream.response
            return stream.response

    def _keep(self, view: AnswerStream, response: Response, note: str, kind: str,
              usage: bool) -> None:
        view.finish(note=note, kind=kind, response=response)
        self.user_ns[RESULT_NAME] = response
        if usage:
            self._show_usage(response)

    def _show_usage(self, response: Response) -> None:
        from grok_magic.notebook.display import UsageDisplay

        tally = self.recorder.tally  # the whole session: cells, panel, --each, batches
        usage = UsageDisplay.of(response, tally, not self.terminal, self.recorder.limits())
        if self.terminal:
            print(usage.plain)
        else:
            self.live_usage.show(usage)

    @cached_property
    def live_usage(self) -> LiveUsage:
        """The usage widgets still live (the newest cell's); older ones are static HTML."""
        from grok_magic.notebook.display import LiveUsage

        return LiveUsage()


def cell_ask(magics: GrokOptions, args, text: str, response_format: dict | None, literal: bool,
             keys_found: list | None = None) -> Ask:
    """The cell as one `Ask`: the user turn (values, inline and `-i` images) and options;
    `literal` text (ours, quoting a cell) is sent as it is. A value holding the API key
    raises, or is noted in `keys_found` (a dry run); the caller has loaded the settings
    first, which registers the key."""
    from grok_magic.ask import Ask
    from grok_magic.inputs.prompt import build_user_turn
    from grok_magic.xai.messages import user_message

    last = magics.errors.last
    user_turn = user_message([text]) if literal else build_user_turn(
        dedent(text), magics.user_ns, images=args.image, detail=args.detail or magics.detail or None,
        max_side=magics.max_image_side, max_value_chars=magics.max_value_chars,
        last_error=last.error_text if last else None, keys_found=keys_found,
    )
    options = {
        "temperature": args.temperature,
        "max_completion_tokens": args.max_tokens,
        "reasoning_effort": args.reasoning_effort,
        "response_format": response_format,
    }
    system = system_prompt(args.system, magics.system, magics.user_ns)
    return Ask(user_turn, args.model or magics.model, system=system,
               options={k: v for k, v in options.items() if v is not None},
               stream=magics.stream and not args.no_stream, timeout=args.timeout,
               source="cell", cell=running_cell(magics.shell))


def imagine_cell(magics: GrokMagics, args, text: str):
    """`--imagine` / `--video`: Grok Imagine, not a chat answer (the options only a chat
    answer takes are refused, not ignored)."""
    chat_only = [name for name, value in (
        ("--json", args.json), ("--schema", args.schema), ("--search", args.search),
        ("--run-code", args.run_code), ("--to-cell", args.to_cell), ("-s", args.system),
        ("-t", args.temperature), ("--max-tokens", args.max_tokens)) if value]
    if args.imagine and args.video:
        chat_only.append("--video with --imagine")
    if args.batch_api:
        raise UsageError("--batch-api cannot go with --imagine or --video: xAI's Batch API takes "
                         "chat and Responses lines only, not image or video generations. Nothing "
                         "was sent. Make the images live instead (one `%grok imagine PROMPT` per "
                         "item, or a Python loop over your rows).")
    if chat_only:
        raise UsageError(f"{', '.join(chat_only)} cannot go with --imagine or --video: "
                         "nothing was sent. Grok Imagine takes the prompt, images, -m, "
                         "--count, --aspect, --resolution, --duration, -o, --dry-run and -q.")
    if args.video:
        if args.each or args.count is not None:
            raise UsageError(f"{'--each' if args.each else '--count'} cannot go with --video: "
                             "nothing was sent. A --video cell makes one clip.")
        from grok_magic.notebook.video_view import run_video

        return run_video(magics, args, text)
    if args.each:
        from grok_magic.notebook.each_view import run_each

        return run_each(magics, args, dedent(text), None)
    from grok_magic.notebook.imagine_view import run_imagine

    return run_imagine(magics, args, text)


@contextmanager
def no_answer_note(view: AnswerStream):
    """Before any answer arrived: a failure (one calm paragraph) or an interrupt (a neutral
    note) ends the view."""
    from grok_magic.notebook.display import FAILED, STOPPED

    try:
        yield
    except KeyboardInterrupt:
        view.finish(note="no answer: interrupted", kind=STOPPED)
        raise shown(InterruptedByUser("you stopped the request")) from None
    except GrokError as err:
        view.finish(note=f"no answer: {err.paragraph()}", kind=FAILED)
        err.shown_above = True
        raise


def pretty_json(code_language: str | None, terminal: bool):
    """A JSON answer in a notebook ends shown pretty (`json_view.json_answer`); a terminal keeps
    the text it printed as it came."""
    if code_language != "json" or terminal:
        return None
    from grok_magic.notebook.json_view import json_answer

    return json_answer


def show_failure(magics: GrokOptions, err: GrokError) -> None:
    """A failure not yet shown in an answer area, shown as one calm paragraph; the traceback
    IPython then prints is one short line (the terminal prints the paragraph there)."""
    if err.shown_above or magics.terminal:
        return
    from grok_magic.notebook.display import failure_bundle

    display(failure_bundle(err), raw=True)
    err.shown_above = True


def shown(err: GrokError) -> GrokError:
    """`err`, marked as shown in the answer area (its traceback is then one short line)."""
    err.shown_above = True
    return err


def system_prompt(value: str | None, default: str, namespace: dict) -> str | None:
    """`-s`: the text, or the str variable it names; the configured prompt when not given."""
    if value is None:
        return default or None
    if value.isidentifier() and isinstance(namespace.get(value), str):
        return namespace[value]
    return value


def code_to_cell(shell, answer: str, which: str) -> str | None:
    """The answer's first (or every) Python code block as a new cell below, never run; the
    code placed (None: the answer had none)."""
    from grok_magic.safety.markdown import python_code_blocks

    blocks = python_code_blocks(answer)
    if not blocks:
        print("The answer has no Python code block: no cell was added.")
        return None
    code = blocks[0] if which == "first" else "\n\n".join(b.rstrip("\n") for b in blocks)
    shell.set_next_input(code.rstrip("\n"), replace=False)
    return code.rstrip("\n")


def explain(magics: GrokMagics, rest: str):
    return ask_about_error(magics, rest, EXPLAIN, "Explaining", to_cell=None)


def fix(magics: GrokMagics, rest: str):
    return ask_about_error(magics, rest, FIX, "Fixing", to_cell="first")


def ask_about_error(magics: GrokMagics, line: str, instruction: str, doing: str, *,
                    to_cell: str | None):
    """`%grok explain` / `%grok fix`: the last failing cell and its error, with `instruction`;
    the user sees which cell and error ("Fixing Cell [12], ZeroDivisionError: …") and, for a
    fix, where it went and what it changes."""
    from grok_magic.safety.markdown import fence_for

    failed = magics.errors.last
    if failed is None:
        print("No cell has failed yet in this session: there is nothing to explain or fix, "
              "and nothing was sent.")
        return None
    args = magics.grok.parser.parse_args(split_options(line))
    if to_cell and not args.to_cell:
        args.to_cell = to_cell
    source, error = failed.source.rstrip("\n"), failed.error_text
    code_fence, error_fence = fence_for(source), fence_for(error)
    text = (f"{instruction}\n\nThe cell:\n\n{code_fence}python\n{source}\n{code_fence}\n\n"
            f"The error:\n\n{error_fence}\n{error}\n{error_fence}")
    show_note(magics, f"{doing} {failed.label}")
    return magics._ask(args, text, literal=True,
                       on_cell=lambda code: show_fix(magics, failed, code))


def show_note(magics: GrokOptions, text: str) -> None:
    """One line of ours (that may quote the user's error) above an answer."""
    from grok_magic.notebook.display import Report, cell

    if magics.terminal:
        print(Report("", text).plain)
    else:
        display(Report(f"*{cell(text)}*", text))


def show_fix(magics: GrokOptions, failed: FailedCell, code: str) -> None:
    """Where the fix went (never run), and a short diff of it against the failed cell."""
    from grok_magic.notebook.display import diff_bundle

    where = "at the next prompt" if magics.terminal else "in a new cell below"
    bundle = diff_bundle(f"The fix is {where} (not run). What it changes in {failed.name}:",
                         failed.diff(code))
    if magics.terminal:
        print(bundle["text/plain"])
    else:
        display(bundle, raw=True)


def commands() -> dict:
    """`%grok NAME REST` calls commands()[NAME](magics, REST): the subcommands, and the two
    that ask Grok about the last error (loaded when a line magic first needs them)."""
    from grok_magic.notebook.subcommands import SUBCOMMANDS

    return {**SUBCOMMANDS, "explain": explain, "fix": fix, "imagine": imagine_line}


def imagine_line(magics: GrokMagics, rest: str):
    """`%grok imagine [--count N --aspect W:H …] PROMPT`: the one-line `%%grok --imagine`."""
    if rest.lstrip().startswith("-"):  # options first, then the words of the prompt
        args, words = magics.grok.parser.parse_known_args(split_options(rest))
        prompt = " ".join(words).strip()
    else:  # the prompt as typed (quotes and apostrophes are text)
        args, prompt = magics.grok.parser.parse_args([]), rest.strip()
    if not prompt:
        raise UsageError("%grok imagine takes a prompt, e.g. `%grok imagine a lighthouse at dawn`"
                         " (options first: `%grok imagine --count 4 a lighthouse`).")
    args.imagine = True
    return magics._ask(args, prompt)


def register(ipython) -> None:
    """Create the magics; IPython's register_magics also makes them configurable with %config."""
    from grok_magic.notebook import question_line

    ipython.register_magics(GrokMagics(shell=ipython))
    ipython.user_ns.setdefault(RESULT_NAME, None)
    question_line.register(ipython)  # `%grok What is a p-value?` asks; `%grok?` stays help


def unregister(ipython) -> None:
    from grok_magic.notebook import question_line

    question_line.unregister(ipython)
    for magics in [c for c in ipython.configurables if isinstance(c, GrokMagics)]:
        magics.errors.close()
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("grok", None)
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, GrokMagics)]
