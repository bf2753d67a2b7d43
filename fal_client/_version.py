"""The package version: the one place it is written."""

__version__ = "0.1.0"
version_tuple = tuple(int(part) for part in __version__.split("."))
