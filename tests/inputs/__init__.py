"""Tests of grok_magic.inputs: images and described notebook values."""
