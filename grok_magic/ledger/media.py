"""The ledger's media folder: what xAI made (images, videos), kept by content hash beside the
ledger, so a generation replays offline with the very bytes it first showed.

`lesson.sqlite` keeps its media in `lesson.media/` (0700), one file per SHA-256 (0600), written
whole or not at all (a temporary file renamed into place), read back only when its bytes still
hash to its name. A file is never kept twice, whatever asked for it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from grok_magic.private_files import PRIVATE_FILE, make_private_folder

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "video/mp4": ".mp4"}


def media_folder(ledger_path: Path) -> Path:
    """The folder beside `ledger_path` that holds its media: lesson.sqlite → lesson.media."""
    return ledger_path.with_name(f"{ledger_path.stem}.media")


class MediaStore:
    """Files by content hash in `folder` (made, 0700, on the first write)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"MediaStore({str(self.folder)!r})"

    def path(self, sha256: str, media_type: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.folder / f"{sha256}{EXTENSIONS.get(media_type, '.bin')}"

    def put(self, data: bytes, media_type: str) -> str:
        """Keep `data`; its SHA-256 (the name it is kept under)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest, media_type)
        if target.exists():
            return digest
        make_private_folder(self.folder)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        handle = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, PRIVATE_FILE)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(temporary, PRIVATE_FILE)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str, media_type: str) -> bytes | None:
        """The bytes kept under `sha256`, or None when missing or no longer those bytes."""
        try:
            data = self.path(sha256, media_type).read_bytes()
        except (OSError, ValueError):
            return None
        return data if hashlib.sha256(data).hexdigest() == sha256 else None

    def has(self, sha256: str, media_type: str) -> bool:
        try:
            return self.path(sha256, media_type).is_file()
        except ValueError:
            return False

    def copy_to(self, other: MediaStore, items: list[tuple[str, str]]) -> int:
        """Copy these (sha256, media type) files into `other` (an exported lesson's folder);
        how many were copied."""
        copied = 0
        for digest, media_type in items:
            source = self.path(digest, media_type)
            if not source.is_file() or other.has(digest, media_type):
                continue
            make_private_folder(other.folder)
            target = other.path(digest, media_type)
            shutil.copyfile(source, target)
            os.chmod(target, PRIVATE_FILE)
            copied += 1
        return copied
