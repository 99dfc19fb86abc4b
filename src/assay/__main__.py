"""`python -m assay` is the `assay` console script."""

from assay.cli.main import run

run()
