"""The error root: one type to catch, diagnostics that name every detail and the cause."""

from __future__ import annotations

from assay.errors import AssayError, BundleError, FormatError


def test_diagnostics_lists_details_and_cause() -> None:
    try:
        try:
            int("x")
        except ValueError as exc:
            raise BundleError("bad bundle", field="mediaType") from exc
    except AssayError as err:
        text = err.diagnostics()
    assert text.splitlines()[0] == "BundleError: bad bundle"
    assert "field: mediaType" in text
    assert "caused by: ValueError" in text


def test_hierarchy() -> None:
    assert issubclass(BundleError, FormatError)
    assert issubclass(FormatError, AssayError)
