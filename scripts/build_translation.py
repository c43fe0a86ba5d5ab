"""Build each translated notebook from the English notebook and its gettext catalogue.

``marimo_ch03.py`` is the only notebook edited by hand. Its words (prose, labels, plot words,
verdicts, comments in the code; see ``scripts/notebook_strings.py``) are the messages of the
catalogue ``locales/<locale>/LC_MESSAGES/ch03.po``, which Babel reads, merges and writes. Each
catalogue gives one generated notebook, ``marimo_ch03_<locale>.py``.

The code listings the notebook shows from ``shared/`` (``printout.source_markdown``) are words too:
their comments and docstrings are messages of the same catalogue, referenced by file and definition,
found by reading the English notebook and the definitions it passes. The build writes them translated
to ``locales/<locale>/LC_MESSAGES/ch03_listings.json`` (each one proved the English definition's
program, and keyed by the hash of that English source), and sets the generated notebook's
``LOCALE = "en"`` to the locale, which ``source_markdown(obj, LOCALE)`` uses to find them. When a
definition in shared/ changes, a rebuild extracts its new words and ``--check`` fails until they are
translated; until then the notebook shows that definition in English, never an old copy of it.

    python -m scripts.build_translation              # every catalogue: merge the English in, write the notebook
    python -m scripts.build_translation --check      # change nothing; exit 1 if anything is stale or untranslated
    python -m scripts.build_translation --force      # also overwrite a generated notebook that was edited
    python -m scripts.build_translation --new ja     # start a catalogue for another language

The merge is gettext's (Babel's ``Catalog.update``, what ``pybabel update`` runs): a new English
string gets an empty entry and a changed one keeps its old translation marked fuzzy, with the old
English beside it. Until a translator fixes those entries the notebook keeps the English words there
and ``--check`` fails.

A translation is text, never code. The build refuses a catalogue whose translations hold control
characters, text-direction overrides, or line breaks, HTML tags or script links their English lacks,
naming each entry and its line; and it writes a notebook only once it has proved it the English
program with other words (``notebook_strings.program_difference``).

A generated notebook carries a hash of its own text in its header. Readers type exercise answers
into it in ``marimo edit``, which saves them into the file, so a build never overwrites a file whose
hash no longer matches unless asked to with ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import string
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import polib
from babel.messages.catalog import Catalog, Message

from scripts.ipynb_words import WORDS as IPYNB_WORDS
from scripts.notebook_strings import (
    Listing,
    Piece,
    TranslationError,
    encode,
    find_pieces,
    listing_pieces,
    program_difference,
    set_locale,
    shown_listings,
    top_level_definitions,
    translate,
    translate_listing,
    unsafe_text,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "marimo_ch03.py"
LOCALES = ROOT / "locales"
DOMAIN = "ch03"
HASH_LINE = re.compile(r"^# content-sha256: ([0-9a-f]{64})\n", re.MULTILINE)
HEADER_COMMENT = (
    "The words of marimo_ch03.py, for one language. Edit the msgstr lines (any PO editor, such as\n"
    "Poedit, works), clear a 'fuzzy' flag once the translation says what the new English says, then run\n"
    "`python -m scripts.build_translation`. The msgid lines come from the English notebook: change them there."
)
VOLATILE_HEADERS = {"Generated-By", "POT-Creation-Date", "Report-Msgid-Bugs-To"}  # would change the file for no reason
KIND_NOTES = {
    "string": "text",
    "fstring": "f-string: keep every {placeholder}",
    "comment": "a comment in the code",
    "docstring": "a docstring in the code",
}
LISTINGS_NAME = f"{DOMAIN}_listings.json"  # what shared/printout.source_markdown reads (see ``listings_path``)


def _note(piece: Piece) -> str:
    kind = "Markdown" + (" f-string: keep every {placeholder}" if piece.kind == "fstring" else "") if piece.markdown else KIND_NOTES[piece.kind]
    return f"cell {piece.cell or '(module)'}: {kind}"


def catalogue_path(locale: str, root: Path = ROOT) -> Path:
    return root / "locales" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def listings_path(locale: str, root: Path = ROOT) -> Path:
    """The listings a notebook shows, in ``locale``'s words: written by the build, read by ``shared/printout.py``."""
    return root / "locales" / locale / "LC_MESSAGES" / LISTINGS_NAME


@dataclass(frozen=True)
class ShownListing:
    """A definition the notebook shows, its English source and the words in it."""

    listing: Listing
    text: str
    pieces: list[Piece]


def shown_listing_words(english: str, root: Path = ROOT) -> list[ShownListing]:
    """Every listing the English notebook shows (``printout.source_markdown``), read from shared/ as it is now."""
    def read_module(module: str) -> str:
        return (root / "shared" / f"{module.replace('.', '/')}.py").read_text(encoding="utf-8")

    shown = []
    for listing in shown_listings(english, read_module):
        text = top_level_definitions((root / listing.path).read_text(encoding="utf-8"))[listing.name]
        pieces = [replace(piece, cell=listing.reference) for piece in listing_pieces(text)]  # where a message points
        shown.append(ShownListing(listing, text, pieces))
    return shown


def target_path(locale: str, root: Path = ROOT) -> Path:
    return root / f"marimo_ch03_{locale.lower()}.py"


def template_from(pieces: list[Piece], listings: list[ShownListing] = ()) -> Catalog:
    """The catalogue's template: one message per distinct English string, in notebook order, then the
    comments and docstrings of the listings the notebook shows (referenced by file and definition), then
    the words the Jupyter builder writes itself (scripts/ipynb_words.py)."""
    template = Catalog(domain=DOMAIN, project="attention-playground-ch03", fuzzy=False)
    placed = [(piece, SOURCE.name, _note(piece)) for piece in pieces]
    placed += [
        (piece, shown.listing.path, f"listing {shown.listing.reference}: {KIND_NOTES[piece.kind]}")
        for shown in listings
        for piece in shown.pieces
    ]
    for piece, path, note in placed:
        existing = template.get(piece.msgid)
        if existing is None:
            template.add(piece.msgid, locations=[(path, piece.line)], auto_comments=[note])
        else:
            if note not in existing.auto_comments:
                existing.auto_comments.append(note)
            if path not in {name for name, _ in existing.locations}:
                existing.locations.append((path, piece.line))
    for english in dict.fromkeys(IPYNB_WORDS.values()):
        if template.get(english) is None:
            note = "Jupyter notebooks: written by scripts/build_ipynb.py" + ("; keep every {placeholder}" if "{" in english else "")
            template.add(english, locations=[("scripts/ipynb_words.py", None)], auto_comments=[note])
    return template


def _fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def _entries(catalog: Catalog) -> list[tuple]:
    return [(m.id, m.string, m.fuzzy, m.previous_id, tuple(m.auto_comments)) for m in catalog if m.id]


class UnsafeCatalogue(TranslationError):
    """Translations that could become code in a generated notebook, or hide what they say; one problem per entry."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def unsafe_entries(po: polib.POFile, path: Path) -> list[str]:
    """A problem for each translation (fuzzy ones too) holding a character or markup that could turn it into code."""
    problems, lines = [], None
    for entry in po:
        found = [word for text in [entry.msgstr, *entry.msgstr_plural.values()] for word in unsafe_text(entry.msgid, text)]
        if not found:
            continue
        if lines is None:
            with open(path, encoding=po.encoding or "utf-8") as handle:  # numbered as polib numbers them
                lines = handle.readlines()
        line = next((n for n in range(entry.linenum, len(lines) + 1) if lines[n - 1].startswith("msgstr")), entry.linenum)
        english = entry.msgid.strip().splitlines()[0][:60] if entry.msgid.strip() else entry.msgid
        problems.append(
            f"{_shown(path)}, line {line}: the translation of {english!r} contains {'; and '.join(found)}. A translation must be "
            "plain text, with no control characters and no markup its English lacks: these could turn it into code in the "
            "generated notebooks or the page, or make it show other words than it holds. Delete them (a translation may break "
            "lines only where its English does)."
        )
    return problems


def read_catalogue(path: Path, locale: str) -> Catalog:
    """Read with polib (Babel's reader drops the old English of a fuzzy entry that spans lines); merge with Babel.
    Raises UnsafeCatalogue when a translation holds a character that could turn it into code."""
    po = polib.pofile(str(path), wrapwidth=78)
    if problems := unsafe_entries(po, path):
        raise UnsafeCatalogue(problems)
    catalog = Catalog(locale=locale, domain=DOMAIN, fuzzy=False)
    catalog.mime_headers = list(po.metadata.items())
    for entry in (entry for entry in po if not entry.obsolete):  # obsolete entries are read below, as obsolete
        catalog.add(
            entry.msgid,
            entry.msgstr,
            flags=entry.flags,
            auto_comments=entry.comment.splitlines() if entry.comment else (),
            user_comments=entry.tcomment.splitlines() if entry.tcomment else (),
            locations=[(name, None) for name, _ in entry.occurrences],
            previous_id=entry.previous_msgid or (),
        )
    for entry in po.obsolete_entries():
        catalog.obsolete[entry.msgid] = Message(entry.msgid, entry.msgstr)
    return catalog


def write_catalogue(catalog: Catalog, path: Path) -> None:
    """Write with polib: Babel's writer mangles the old English of a fuzzy entry when it spans lines."""
    po = polib.POFile(wrapwidth=78)
    po.header = HEADER_COMMENT
    po.metadata = {key: value.strip() for key, value in catalog.mime_headers if key not in VOLATILE_HEADERS}
    for message in catalog:
        if not message.id:
            continue
        entry = polib.POEntry(
            msgid=message.id,
            msgstr=message.string or "",
            comment="\n".join(message.auto_comments),
            tcomment="\n".join(message.user_comments),
            occurrences=sorted({(name, "") for name, _ in message.locations}),
            flags=sorted(message.flags - {"python-format"}),
            previous_msgid=message.previous_id[0] if message.previous_id else None,
        )
        po.append(entry)
    for message in catalog.obsolete.values():
        po.append(polib.POEntry(msgid=message.id, msgstr=message.string or "", obsolete=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))


def merged(catalog: Catalog, template: Catalog) -> Catalog:
    catalog.update(template, no_fuzzy_matching=False, update_header_comment=False, update_creation_date=False)
    return catalog


def translations_of(catalog: Catalog) -> dict[str, str]:
    return {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}


def content_hash(text: str) -> str:
    return hashlib.sha256(HASH_LINE.sub("", text).encode("utf-8")).hexdigest()


def header(locale: str) -> str:
    return (
        f"# Generated from marimo_ch03.py and locales/{locale}/LC_MESSAGES/{DOMAIN}.po by\n"
        f"# `python -m scripts.build_translation --locale {locale}`. Do not edit it by hand: change the\n"
        "# English notebook or the catalogue, then rebuild. The build will not overwrite this file once it\n"
        "# was edited (an exercise answer saved by `marimo edit`, say) unless given --force.\n"
        "# content-sha256: 0000000000000000000000000000000000000000000000000000000000000000\n"
    )


def render_listings(listings: list[ShownListing], catalog: Catalog) -> tuple[str, list[Piece]]:
    """The listings file's text (each shown definition with its words translated, under the hash of its English
    source, so that a definition changed since the build is shown in English), and the pieces left in English.
    Raises TranslationError unless each translated listing is the English definition's program."""
    table, entries, missing = translations_of(catalog), {}, []
    for shown in listings:
        try:
            text, left = translate_listing(shown.text, table)
        except TranslationError as error:
            raise TranslationError(f"{shown.listing.reference}: {error}") from error
        missing += left
        if text != shown.text:
            entries[shown.listing.reference] = {"english_sha256": hashlib.sha256(shown.text.encode("utf-8")).hexdigest(), "text": text}
    return json.dumps(entries, ensure_ascii=False, indent=1, sort_keys=True) + "\n", missing


def render(english: str, catalog: Catalog, locale: str) -> tuple[str, list[Piece]]:
    """The generated notebook's text, and the pieces it had to leave in English. Raises TranslationError unless the
    text is the English program with other words (strings and comments)."""
    body, missing = translate(set_locale(english, locale), translations_of(catalog))
    first_code = re.search(r"^(import|from) ", body, re.MULTILINE)
    cut = first_code.start() if first_code else 0
    text = body[:cut] + header(locale) + "\n" + body[cut:]
    text = HASH_LINE.sub(f"# content-sha256: {content_hash(text)}\n", text, count=1)
    if difference := program_difference(english, text):
        raise TranslationError(
            f"the notebook it would build is not the same program as {SOURCE.name}, only with other words: {difference}. "
            "A translation there breaks out of its string or comment; nothing was written."
        )
    return text, missing


def edited_since_built(path: Path) -> bool:
    """True when the file exists and is not exactly what a build wrote (no hash, or a hash that no longer fits)."""
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    found = HASH_LINE.search(text)
    return found is None or found.group(1) != content_hash(text)


@dataclass
class Report:
    locale: str
    problems: list[str] = field(default_factory=list)
    left_in_english: list[Piece] = field(default_factory=list)


def catalogue_problems(catalog: Catalog, template: Catalog, pieces: list[Piece]) -> list[str]:
    problems = []
    wanted = {m.id for m in template if m.id}
    for message in template:
        if not message.id:
            continue
        entry = catalog.get(message.id)
        short = message.id.strip().splitlines()[0][:70]
        if entry is None:
            problems.append(f"new, not yet in the catalogue: {short!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy (the English changed; check the translation, then clear the flag): {short!r}")
        elif not entry.string:
            problems.append(f"untranslated: {short!r}")
    stale = [m.id for m in catalog if m.id and m.id not in wanted]
    if stale:
        problems.append(f"{len(stale)} entries are no longer in the notebook (a build marks them obsolete), e.g. {stale[0][:60]!r}")
    table = translations_of(catalog)
    for english in IPYNB_WORDS.values():
        if english in table and _fields(table[english]) != _fields(english):
            problems.append(f"the translation of {english[:50]!r} must keep the placeholders {_fields(english)}")
    for piece in pieces:
        if piece.msgid in table:
            try:
                encode(piece, table[piece.msgid])
            except TranslationError as error:
                problems.append(str(error))
    return problems


def build(locale: str, *, check: bool, force: bool, root: Path = ROOT) -> Report:
    english = (root / SOURCE.name).read_text(encoding="utf-8")
    pieces = find_pieces(english)
    report = Report(locale)
    try:
        listings = shown_listing_words(english, root)
    except TranslationError as error:
        report.problems.append(f"{SOURCE.name}: {error}")
        return report
    template = template_from(pieces, listings)
    po_path, target = catalogue_path(locale, root), target_path(locale, root)
    shown_path = listings_path(locale, root)
    try:
        catalog = read_catalogue(po_path, locale)
    except UnsafeCatalogue as error:
        report.problems += error.problems
        return report
    before = _entries(catalog)
    if check:
        report.problems += catalogue_problems(catalog, template, pieces + [p for shown in listings for p in shown.pieces])
    catalog = merged(catalog, template)
    try:
        text, report.left_in_english = render(english, catalog, locale)
        shown_text, listing_missing = render_listings(listings, catalog)
    except TranslationError as error:
        report.problems.append(f"{po_path.relative_to(root)}: {error}")
        return report
    report.left_in_english += listing_missing
    current = target.read_text(encoding="utf-8") if target.exists() else None
    current_shown = shown_path.read_text(encoding="utf-8") if shown_path.exists() else None
    if check:
        if current != text:
            report.problems.append(f"{target.name} is not what a fresh build gives: run `python -m scripts.build_translation --locale {locale}`")
        if current_shown != shown_text:
            report.problems.append(
                f"{shown_path.relative_to(root)} (the listings the notebook shows) is not what a fresh build gives: "
                f"run `python -m scripts.build_translation --locale {locale}`"
            )
        return report
    if _entries(catalog) != before:
        write_catalogue(catalog, po_path)
    if current_shown != shown_text:
        shown_path.write_text(shown_text, encoding="utf-8")
    if current != text:
        if edited_since_built(target) and not force:
            report.problems.append(
                f"{target.name} was edited since it was built (its content hash no longer matches), so it was left as it is. "
                f"To keep your edits, copy the file elsewhere first (or move changes to the code into {SOURCE.name}, "
                f"and changes to the words into {po_path.relative_to(root)}); then rebuild with --force."
            )
            return report
        target.write_text(text, encoding="utf-8")
    return report


def new_catalogue(locale: str, root: Path = ROOT) -> Path:
    path = catalogue_path(locale, root)
    if path.exists():
        raise SystemExit(f"{path.relative_to(root)} exists already")
    english = (root / SOURCE.name).read_text(encoding="utf-8")
    template = template_from(find_pieces(english), shown_listing_words(english, root))
    catalog = Catalog(locale=locale, domain=DOMAIN, project="attention-playground-ch03", fuzzy=False)
    write_catalogue(merged(catalog, template), path)
    return path


def known_locales(root: Path = ROOT) -> list[str]:
    return sorted(p.parts[-3] for p in (root / "locales").glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locale", action="append", help="a catalogue under locales/ (default: all of them)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a catalogue or a notebook is stale")
    parser.add_argument("--force", action="store_true", help="overwrite a generated notebook even if it was edited")
    parser.add_argument("--new", metavar="LOCALE", help="start an empty catalogue for LOCALE (e.g. ja, de, zh_CN)")
    args = parser.parse_args(argv)
    if args.new:
        print(f"wrote {new_catalogue(args.new).relative_to(ROOT)}; translate it, then run the build")
        return 0
    locales = args.locale or known_locales()
    if not locales:
        print("no catalogue under locales/", file=sys.stderr)
        return 1
    failed = False
    for locale in locales:
        if not catalogue_path(locale).exists():
            print(f"{locale}: no catalogue at {catalogue_path(locale).relative_to(ROOT)} (start one with --new {locale})", file=sys.stderr)
            failed = True
            continue
        report = build(locale, check=args.check, force=args.force)
        for problem in report.problems:
            print(f"{locale}: {problem}", file=sys.stderr)
        if report.left_in_english and not args.check:
            print(
                f"{locale}: {len(report.left_in_english)} strings are still in English in {target_path(locale).name} "
                f"(new or fuzzy in {catalogue_path(locale).relative_to(ROOT)}); translate them and rebuild",
                file=sys.stderr,
            )
        failed = failed or bool(report.problems) or (args.check and bool(report.left_in_english))
        if not report.problems:
            print(f"{locale}: {'up to date' if args.check else 'built ' + target_path(locale).name}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
