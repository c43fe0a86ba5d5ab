"""Build the Taiwan Chinese notebook ``marimo_ch03_zh_tw.py`` from ``marimo_ch03.py`` and its catalogue.

    python -m scripts.build_zh_tw            # merge the English into locales/zh_TW/LC_MESSAGES/ch03.po, write the notebook
    python -m scripts.build_zh_tw --check    # write nothing; exit 1 if stale, untranslated or fuzzy
    python -m scripts.build_zh_tw --force    # overwrite the notebook even if it was edited since it was built

The same as ``python -m scripts.build_translation --locale zh_TW``; see that module for how it works.
"""

from __future__ import annotations

import sys

from scripts.build_translation import main

if __name__ == "__main__":
    raise SystemExit(main(["--locale", "zh_TW", *sys.argv[1:]]))
