"""Project scripts, each run from the repository root as a module, e.g. `python -m scripts.serve NOTEBOOK`."""
