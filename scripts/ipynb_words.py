"""The few words the Jupyter builder writes itself: the header cell, the comments on controls, the
headings of callouts and solutions. English here; each language's catalogue holds their translations
(``scripts/build_translation.py`` adds them to it), so a language still costs one catalogue."""

from __future__ import annotations

WORDS = {
    "header": (
        "*This notebook is generated from [`{source}`]({source}) by `scripts/build_ipynb.py`: do not edit it by hand. "
        "Edit the marimo notebook and run `python -m scripts.build_ipynb --execute` in the repository root.*\n\n"
        "Start Jupyter in the repository root, so that the notebook can import the project package `shared/`: run "
        "`jupyter lab {target}` there. The sliders, menus and switches of the marimo notebook are plain variables here: "
        "change the value in the cell and re-run the cells below it."
    ),
    "missing": "The project package {package}/ cannot be imported. Start Jupyter in the repository root: run `jupyter lab {target}` there.",
    "controls": "# Change a value, then re-run the cells below.",
    "solution": "Solution",
    "label": "{label}: ",
    "range": "{start} to {stop}",
    "step": " in steps of {step}",
    "sep": ", ",
    "or": " or ",
    "flag": "{label}: set to True, then run the next cell",
    "skipped": "Skipped: set {flag} = True above and run this cell again.",
    "callout.info": "Note",
    "callout.note": "Note",
    "callout.warn": "Warning",
    "callout.danger": "Caution",
    "callout.alert": "Caution",
    "callout.success": "Tip",
}
