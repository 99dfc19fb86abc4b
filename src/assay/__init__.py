"""Assay: an npm-compatible registry with verifiable provenance, and its trust services."""

__version__ = "0.1.0"
