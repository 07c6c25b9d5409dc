"""Tests of grok_magic.ledger: rows, replay, faults, spending, the committed lesson."""
