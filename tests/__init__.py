"""grok_magic's tests, one folder per layer of the package (see README, Development)."""
