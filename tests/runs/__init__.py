"""Tests of grok_magic.runs: --each, retries, the Batch API, the result table."""
