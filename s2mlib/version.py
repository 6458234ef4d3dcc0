"""The version of s2mlib, in one place (pyproject.toml reads it; CITATION.cff and CHANGELOG.md agree)."""

__version__ = "0.1.0"
