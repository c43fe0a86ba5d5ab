"""What the chapter notebooks import (marimo and Jupyter); tests and benchmarks check and time it.

The package is used from the repository checkout (the notebooks sit beside it); it is
deliberately not installed into site-packages, because ``shared`` is too generic a name to claim.
"""
