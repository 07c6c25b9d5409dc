"""Imagine: one request to Grok Imagine (images made or edited, or a video), built once by the
magic, the panel or a script and passed down as it is, like an `Ask`.

>>> Imagine("a lighthouse at dawn", count=2).body()["n"]
2
>>> Imagine("same, as a poster", references=("data:image/png;base64,iVBORw0KGgo=",)).api
'image_edits'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from grok_magic.errors import InputError
from grok_magic.xai.imagine import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_VIDEO_MODEL,
    image_body,
    video_body,
    video_seconds,
)
from grok_magic.xai.messages import ENDPOINTS
from grok_magic.xai.pricing import imagine_cost


@dataclass(frozen=True)
class Imagine:
    """What to make: `prompt`, and `references` (image URLs: data URIs, or public URLs) that
    make it an edit; `video` asks for a clip of `seconds` (image-to-video from the one
    reference). `source`, `cell`, `timeout` and `replay` as on an Ask."""

    prompt: str
    model: str | None = None
    count: int = 1
    aspect: str | None = None
    resolution: str | None = None
    references: tuple[str, ...] = ()
    response_format: str = "url"
    video: bool = False
    seconds: int | None = None
    source: str = "script"
    cell: int | None = None
    timeout: float | None = None
    replay: str | None = None
    record_errors: bool = True

    @property
    def api(self) -> str:
        """How the ledger names the endpoint: images, image_edits or videos."""
        if self.video:
            return "videos"
        return "image_edits" if self.references else "images"

    wire = api  # what the recorder reads off an Ask

    @property
    def endpoint(self) -> str:
        return ENDPOINTS[self.api]

    @property
    def model_name(self) -> str:
        return self.model or (DEFAULT_VIDEO_MODEL if self.video else DEFAULT_IMAGE_MODEL)

    def body(self) -> dict:
        """The request body (raises InputError for what xAI would refuse: nothing is sent)."""
        if self.video:
            if len(self.references) > 1:
                raise InputError(f"the cell holds {len(self.references)} images, and a video "
                                 "starts from at most one: nothing was sent",
                                 hint="Keep one image in the cell (or none, for text-to-video).")
            return video_body(self.prompt, model=self.model_name, seconds=self.seconds,
                              resolution=self.resolution, aspect=self.aspect,
                              image=self.references[0] if self.references else None)
        return image_body(self.prompt, model=self.model_name, count=self.count,
                          aspect=self.aspect, resolution=self.resolution,
                          references=self.references, response_format=self.response_format)

    def estimate(self, body: Mapping | None = None) -> float | None:
        """What it costs by the built-in table (None: a model the table does not know)."""
        if self.video:
            return imagine_cost(self.model_name, seconds=video_seconds(body or self.body()))
        return imagine_cost(self.model_name, images=self.count, references=len(self.references))


def split_turn(user_turn: Mapping) -> tuple[str, tuple[str, ...]]:
    """A user turn (as `build_user_turn` makes it from a cell) as the prompt (its text) and
    the reference images (their URLs), in order.

    >>> split_turn({"content": [{"type": "text", "text": "Redraw"},
    ...     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
    ...     {"type": "text", "text": "as a poster"}]})
    ('Redraw as a poster', ('data:image/png;base64,AA',))
    """
    content = user_turn.get("content")
    if isinstance(content, str):
        return content, ()
    texts, images = [], []
    for part in content or ():
        if part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") == "image_url":
            images.append(part["image_url"]["url"])
    # the text around an image is cut at it (and stripped): join the pieces with one space
    return " ".join(t.strip() for t in texts if t.strip()), tuple(images)
