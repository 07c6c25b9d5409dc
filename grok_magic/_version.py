"""The package's version, in a module of its own so the wire can name it (User-Agent) without
importing the package's front door."""

__version__ = "0.1.0"
