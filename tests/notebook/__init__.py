"""Tests of grok_magic.notebook: the magics, views, panel, kernel display traffic, quickstart."""
