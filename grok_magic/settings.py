"""Settings: where the API key, base URL, timeouts and defaults come from."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from grok_magic.errors import ConfigError, MissingKeyError
from grok_magic.model_names import DEFAULT_MODEL
from grok_magic.safety.redaction import Secret, mask_url_credentials

DEFAULT_BASE_URL = "https://api.x.ai/v1"
CONNECT_TIMEOUT = 10.0
# Reasoning models can think for minutes before the first byte; xAI advises 3600 s.
READ_TIMEOUT = 3600.0
MAX_RETRIES = 2
# An answer's limits: a hostile or broken server can neither hang the kernel nor fill its memory.
MAX_ANSWER_CHARS = 2_000_000  # answer text and reasoning, together
DEADLINE = 3600.0  # seconds from sending to the end of the answer
STALL_TIMEOUT = 60.0  # seconds of bytes without progress: headers still arriving, keep-alives only
ENV_FILE = ".env"
# Defaults of what a cell sends, here so that %load_ext reads them without loading the core.
DEFAULT_MAX_HISTORY = 20  # user+assistant pairs kept; older ones drop out of the request
DEFAULT_MAX_IMAGE_SIDE = 2048  # pixels of an image's longest side
DEFAULT_MAX_VALUE_CHARS = 4000  # characters a {name} value is described in


def find_env_file(start: Path | None = None) -> Path | None:
    """The nearest `.env` file from `start` (default: the working directory) upward."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ENV_FILE
        if candidate.is_file():
            return candidate
    return None


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """XAI_* values from a .env file (python-dotenv), without touching os.environ."""
    path = path or find_env_file()
    if path is None:
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if k.startswith("XAI_") and v}


@dataclass(frozen=True)
class Settings:
    """How to reach xAI. The key is a `Secret` (masked in repr, never pickled: a pickled Settings
    has no key); use `Settings.load()` to read the env."""

    api_key: Secret | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    max_retries: int = MAX_RETRIES
    max_answer_chars: int = MAX_ANSWER_CHARS
    deadline: float = DEADLINE
    stall_timeout: float = STALL_TIMEOUT
    key_source: str = "none"

    def __post_init__(self) -> None:
        key = self.api_key
        if isinstance(key, str):
            object.__setattr__(self, "api_key", Secret(key) if key else None)

    def __getstate__(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"} | {
            "api_key": None, "key_source": "none"}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        """The dataclass's repr (no key), with a proxy's password in the base URL masked."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        values["base_url"] = mask_url_credentials(self.base_url)
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in values.items())})"

    @classmethod
    def load(cls, api_key: str | None = None, **overrides) -> Settings:
        """Key: explicit argument, else XAI_API_KEY, else a .env file found upward from cwd.

        Base URL: `base_url=`, else XAI_BASE_URL (env or .env), else https://api.x.ai/v1.
        """
        dotenv = read_env_file()
        # A pasted key often drags a space or line break along; in a header it would break
        # the request (and requests would echo the whole header in its error).
        env_key = (os.environ.get("XAI_API_KEY") or "").strip()
        if api_key and api_key.strip():
            key, source = api_key.strip(), "argument"
        elif env_key:
            key, source = env_key, "XAI_API_KEY"
        elif (dotenv.get("XAI_API_KEY") or "").strip():
            key, source = dotenv["XAI_API_KEY"].strip(), ".env"
        else:
            key, source = None, "none"
        base = os.environ.get("XAI_BASE_URL") or dotenv.get("XAI_BASE_URL") or DEFAULT_BASE_URL
        values = {"base_url": base, "model": os.environ.get("XAI_MODEL") or DEFAULT_MODEL}
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["base_url"] = values["base_url"].rstrip("/")
        return cls(api_key=key, key_source=source, **values)

    def with_key(self, api_key: str, source: str = "argument") -> Settings:
        """A copy with another key (e.g. one typed at `%grok key`)."""
        return replace(self, api_key=Secret(api_key.strip()), key_source=source)

    def require_secret(self) -> Secret:
        """The key, or a MissingKeyError that says how to provide one."""
        if not self.api_key:
            raise MissingKeyError("no xAI API key was found")
        return self.api_key

    def require_key(self) -> str:
        """The key itself (for callers outside grok_magic), or a MissingKeyError."""
        return self.require_secret().reveal()

    @property
    def has_key(self) -> bool:
        return bool(self.api_key)


# -- the ledger and replay (grok_magic.ledger.store, grok_magic.ledger.recorder) -----------------------------
LEDGER_ENV = "GROK_LEDGER"
LEDGER_OFF = "off"
LEDGER_FILE = "ledger.sqlite"
REPLAY_ENV = "GROK_REPLAY"
REPLAY_MODES = ("off", "auto", "only")


def default_ledger_path() -> Path:
    """`$XDG_DATA_HOME/grok_magic/ledger.sqlite` (default `~/.local/share/grok_magic/…`)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return Path(base) / "grok_magic" / LEDGER_FILE


def ledger_location(setting: str | None = None) -> Path | None:
    """Where the ledger lives: `setting` (`%config GrokMagics.ledger`), else $GROK_LEDGER, else
    the default path; None when either says "off"."""
    value = (setting or "").strip() or os.environ.get(LEDGER_ENV, "").strip()
    if value.lower() == LEDGER_OFF:
        return None
    return Path(os.path.expanduser(value)) if value else default_ledger_path()


def replay_from_env() -> str:
    """GROK_REPLAY (off, auto or only; off when unset)."""
    value = os.environ.get(REPLAY_ENV, "").strip().lower() or "off"
    if value not in REPLAY_MODES:
        raise ConfigError(f"GROK_REPLAY is {value!r}", hint="Use off, auto or only.")
    return value
