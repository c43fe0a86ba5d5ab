"""Project code shared by the marimo notebooks, the Jupyter notebook, the tests and the benchmarks.

The package is used from the repository checkout (the notebooks sit beside it); it is
deliberately not installed into site-packages, because ``shared`` is too generic a name to claim.
"""
