"""Tests of grok_magic.xai: the wire (client, SSE, both APIs' decoders, errors, prices) and the stand-in."""
