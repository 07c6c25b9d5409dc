"""Tests of grok_magic.safety and the key's safety: inert rendering, redaction, private files."""
