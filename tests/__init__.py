"""The project's tests (run from the repository root: `python -m pytest`)."""
