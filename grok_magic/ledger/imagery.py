"""Grok Imagine through the ledger: a generation answered from the ledger and its media folder
when replay allows (the same bytes, offline, $0), else checked against the budgets at its price
(count × price per image, known before sending), sent, its images fetched by the kernel and
kept by hash, and recorded once.

>>> make_images(recorder, client, Imagine("a red fox"), Downloader())   # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from grok_magic.errors import GrokError, InputError
from grok_magic.xai.imagine import ImageResponse, Picture
from grok_magic.xai.transport import refuse_key_in

if TYPE_CHECKING:
    from grok_magic.imagine import Imagine
    from grok_magic.ledger.canonical import Canonical
    from grok_magic.ledger.media import MediaStore
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.ledger.store import Entry
    from grok_magic.xai.client import GrokClient
    from grok_magic.xai.downloads import Downloader

RESERVE_SECONDS = 3600.0
T = TypeVar("T")


class MediaMissingError(InputError):
    """Recorded images are missing."""


def media_store(recorder: Recorder) -> MediaStore | None:
    """The media folder beside the recorder's ledger (None: the ledger is off)."""
    from grok_magic.ledger.media import MediaStore, media_folder

    ledger = recorder.ledger
    return MediaStore(media_folder(ledger.path)) if ledger is not None else None


def replayed_images(entry: Entry, store: MediaStore | None) -> ImageResponse | None:
    """The generation `entry` recorded, its images read back from `store`; None when any of
    them is missing there (or changed)."""
    response = ImageResponse(model=entry.model_served, requested_model=entry.model_asked,
                             replay_of=entry.id, original_cost=entry.cost,
                             request_id=entry.request_id)
    for item in entry.media_items:
        if item.get("kind") != "image":
            continue
        data = store.get(str(item.get("sha256")), str(item.get("media_type"))) if store else None
        if data is None:
            return None
        response.pictures.append(Picture(
            revised_prompt=str(item.get("revised_prompt") or ""), data=data,
            media_type=item.get("media_type"), width=item.get("width"),
            height=item.get("height")))
    if not response.pictures:
        return None
    response.count = len(response.pictures)
    response.add_text(entry.answer or "")
    return response.finish()


def make_images(recorder: Recorder, client: GrokClient, request: Imagine,
                downloader: Downloader) -> ImageResponse:
    """The images `request` asks for: replayed, or made by xAI and fetched. A failure after
    xAI answered (an image that could not be fetched) is raised with what did arrive on
    `err.response`, recorded and billed as xAI billed it."""
    body, canonical, store, replayed = open_generation(
        recorder, request, replayed_images, "this generation, but its image files are")
    if replayed is not None:
        return replayed
    from grok_magic.xai.imagine import request_images

    started = time.monotonic()
    response, hold = send_held(
        recorder, client, body, request,
        lambda: request_images(client, body, timeout=request.timeout))
    from grok_magic.xai.downloads import fetch_pictures

    errors: list[GrokError] = []
    try:
        errors = fetch_pictures(downloader, response)
    except KeyboardInterrupt:
        errors = [InputError("you stopped the cell while the images were being fetched")]
        raise
    finally:
        keep_generation(recorder, canonical, request, response, hold, errors,
                        time.monotonic() - started, store)
    if errors:
        err = errors[0]
        err.response = response
        raise err
    return response


class Opening(NamedTuple):
    """A generation about to be made: its body (checked for the key), its canonical form, the
    media folder, and the ledger's answer when replay gives one (None: send it)."""

    body: dict
    canonical: Canonical
    store: MediaStore | None
    replayed: object | None


def open_generation(recorder: Recorder, request: Imagine, read: Callable,
                    missing: str) -> Opening:
    """`request`'s body (refused if it holds the key) and the ledger's answer to it when replay
    allows, its files read back from the media folder by `read(entry, store)` and counted.
    Under replay "only" a recorded generation whose files are missing raises, saying "the
    ledger recorded `missing` not in <folder>" (nothing is sent)."""
    from grok_magic.ledger.canonical import Canonical

    body = request.body()
    refuse_key_in(body)
    canonical = Canonical.of(body)
    store = media_store(recorder)
    entry = recorder.replayable(canonical.hash, body, request)
    replayed = read(entry, store) if entry is not None else None
    if replayed is not None:
        recorder.tally.add(replayed)
    elif entry is not None and recorder.replay == "only":
        raise MediaMissingError(
            f"the ledger recorded {missing} not in "
            f"{store.folder if store else 'a media folder'}: nothing was sent",
            hint="Copy the lesson's .media folder beside its ledger (an export makes one), "
                 "or set replay to \"auto\" to make it again.")
    return Opening(body, canonical, store, replayed)


def send_held(recorder: Recorder, client: GrokClient, body, request: Imagine,
              send: Callable[[], T]) -> tuple[T, object]:
    """`send()` a generation at its known price: the key required, the budgets checked and
    the price held (`hold_generation`); (what it returned, the hold). A failure releases
    the hold, is recorded when the request asks for it, and is raised."""
    client.settings.require_secret()
    hold = hold_generation(recorder, body, request)
    try:
        return send(), hold
    except BaseException as err:
        recorder.purse.release(hold)
        if recorder.ledger is not None:
            recorder.ledger.release(hold.settles)
        if isinstance(err, GrokError) and request.record_errors:
            recorder.record_failure(body, request, err)
        raise


def hold_generation(recorder: Recorder, body, request: Imagine):
    """Check the budgets against what `request` costs (its price is known before sending) and
    hold it while it runs."""
    from grok_magic.ledger.spending import Hold, hold_request

    kernel, daily = recorder.limits_now()
    if kernel is None and daily is None:
        return Hold(body)
    price = request.estimate(body)
    if price is None:
        raise InputError(f"a budget is set and grok_magic knows no price for "
                         f"{request.model_name}, so it cannot tell whether this fits: nothing "
                         f"was sent", hint="Use grok-imagine-image or grok-imagine-video, or "
                                           "unset the budget.")
    return hold_request(recorder.purse, body, None, kernel, daily,
                        recorder.ledger if daily is not None else None, recorder.session,
                        request.timeout or RESERVE_SECONDS, fixed=price)


def keep_generation(recorder: Recorder, canonical, request: Imagine, response: ImageResponse,
                    hold, errors: list, seconds: float, store: MediaStore | None) -> None:
    """Keep the fetched images by hash, then count and record the generation once (its
    images by hash, revised prompts and cost), settling its hold."""
    from grok_magic.ledger.rows import entry_for

    for picture in response.pictures:
        if picture.data is not None and store is not None:
            store.put(picture.data, picture.media_type)
    response.add_text("\n".join(f"[image {i}] {p.revised_prompt}".rstrip()
                                for i, p in enumerate(response.pictures, 1)))
    response.finish(partial=bool(errors))
    if errors:
        response.error = errors[0].paragraph()
    recorder.tally.add(response)  # counted before its hold is let go: never under
    recorder.purse.release(hold)
    entry = entry_for(canonical, session=recorder.session, notebook=recorder.notebook,
                      source=request.source, cell=request.cell, response=response, error=None,
                      seconds=seconds, api=request.api)
    entry.media = json.dumps([p.record() for p in response.pictures])
    if not recorder.keep(entry, f"live:{uuid.uuid4().hex}", hold.settles) \
            and hold.settles and recorder.ledger is not None:
        recorder.ledger.release(hold.settles)
