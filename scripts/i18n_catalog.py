"""The gettext workflow of the UI's Japanese (run as `scripts/i18n <command>`; docs/architecture.md, i18n).

  extract   msgids of the code and templates (babel.cfg) -> campaigns/translations/messages.pot; msgids new to
            the .po are added to it with no Japanese yet (nothing is ever dropped: the .po also holds the
            msgids built at run time, such as status names and the services' messages)
  fold      every remaining `JA` dict module in campaigns/translations/ -> messages.po (a msgid the .po
            already translates keeps its Japanese: the difference is printed for review), the module deleted, then compile; modules with uncommitted changes are
            left for later unless --all (someone may still be writing them)
  compile   messages.po -> messages.mo
  check     fails when a msgid of the code or templates has no Japanese (in the .po or a remaining dict), on
            fuzzy entries, and on a translation whose %(name)s placeholders differ from its msgid's
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from campaigns import i18n  # noqa: E402  (after the path: the script runs from a fresh clone too)

LOCALE = "ja"
POT = i18n.CATALOG_DIR / "messages.pot"
PO, _MO = i18n.catalog_paths(LOCALE)
KEYWORDS = ["lazy_gettext", "lazy_ngettext:1,2", "lazy_pgettext:1c,2", "npgettext:1c,2,3",
            "translate_in:2", "ngettext_in:2,3"]  # the last two: campaigns.i18n's explicit-language calls
_NAMED = re.compile(r"%\((\w+)\)[sd]")
_CONTEXT_KEY = re.compile(r"([a-z][a-z_]*)\|(\S.*)", re.DOTALL)


def run_extract(output: Path) -> Catalog:
    """pybabel extract over babel.cfg into `output`; returns the template catalog."""
    args = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(output), "--sort-by-file",
            "--project", "Nurture", "--no-wrap", "--omit-header"]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    here = os.getcwd()
    os.chdir(ROOT)  # locations relative to the repository (templates/ui/x.html:3)
    try:
        # babel warns on stderr about f-strings among a call's keyword values (formatted numbers: fine)
        with contextlib.redirect_stderr(io.StringIO()):
            CommandLineInterface().run([*args, "."])
    finally:
        os.chdir(here)
    with output.open("rb") as fh:
        return read_po(fh)


def load_po() -> Catalog:
    """The Japanese catalog (a new, empty one when there is none yet)."""
    if PO.exists():
        with PO.open("rb") as fh:
            catalog = read_po(fh, locale=LOCALE, domain=i18n.DOMAIN)
    else:
        catalog = Catalog(locale=LOCALE, domain=i18n.DOMAIN, project="Nurture", version="1",
                          copyright_holder="Nurture", language_team="Nurture <ja>",
                          header_comment="# Japanese for Nurture's UI (the msgids are the English).\n"
                                         "# Edit here; the workflow (scripts/i18n) is in docs/architecture.md, i18n.")
    catalog.fuzzy = False  # a fuzzy header makes compilers skip the whole catalog
    return catalog


def save_po(catalog: Catalog) -> None:
    """Write the .po (no line wrapping: one msgid per line reads and diffs better)."""
    PO.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, omit_header=False, include_previous=False, sort_output=False)
    PO.write_bytes(buffer.getvalue())


def split_key(key: str) -> tuple[str, str | None]:
    """A JA dict key as (msgid, msgctxt): "scoring|Triggers" is "Triggers" in the context "scoring"."""
    match = _CONTEXT_KEY.fullmatch(key)
    return (match.group(2), match.group(1)) if match else (key, None)


def git_clean(path: Path) -> bool:
    """True when git has the file committed as it is (no one is still writing it)."""
    status = subprocess.run(["git", "status", "--porcelain", "--", str(path)], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    return status.returncode == 0 and not status.stdout.strip()


def cmd_extract(_args: argparse.Namespace) -> int:
    template = run_extract(POT)
    catalog = load_po()
    added = 0
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        if found is None:
            catalog[message.id] = Message(message.id, "" if isinstance(message.id, str) else ("",),
                                          locations=message.locations, flags=message.flags,
                                          context=message.context)
            added += 1
        else:
            found.locations = list(message.locations)
    save_po(catalog)
    print(f"{POT.relative_to(ROOT)}: {sum(1 for m in template if m.id)} msgids; {added} new in "
          f"{PO.relative_to(ROOT)} (give them Japanese, then: scripts/i18n check)")
    return 0


def cmd_fold(args: argparse.Namespace) -> int:
    catalog = load_po()
    folded, skipped = [], []
    for name, entries in i18n.dict_modules():
        path = i18n.CATALOG_DIR / f"{name}.py"
        if args.modules and name not in args.modules:
            continue
        if not args.all and not git_clean(path):
            skipped.append(name)
            continue
        for key, value in entries.items():
            msgid, context = split_key(key)
            found = catalog.get(msgid, context)
            if found is None:
                catalog[msgid] = Message(msgid, value, context=context)
            elif isinstance(found.id, str):
                if found.string and found.string != value:
                    # one msgid, one Japanese: a second wording belongs under a context (pgettext)
                    print(f"  {name}: {key!r} kept {found.string!r}, not {value!r} (use pgettext for another sense)")
                    continue
                found.string = value
                found.flags.discard("fuzzy")
        folded.append(path)
    save_po(catalog)
    for path in folded:
        path.unlink()
    i18n.compile_catalog(LOCALE, force=True)
    print(f"folded {len(folded)} module(s) into {PO.relative_to(ROOT)}: "
          f"{', '.join(p.stem for p in folded) or 'none'}")
    if skipped:
        print(f"left (uncommitted changes; commit them or use --all): {', '.join(skipped)}")
    return 0


def cmd_compile(_args: argparse.Namespace) -> int:
    i18n.compile_catalog(LOCALE, force=True)
    catalog = load_po()
    done = sum(1 for m in catalog if m.id and _translated(m))
    print(f"{_MO.relative_to(ROOT)}: {done} of {sum(1 for m in catalog if m.id)} msgids translated")
    return 0


def _translated(message: Message) -> bool:
    strings: Iterable[str] = [message.string] if isinstance(message.string, str) else message.string
    return all(s.strip() for s in strings) and "fuzzy" not in message.flags


def _label(message: Message) -> str:
    text = message.id if isinstance(message.id, str) else " / ".join(message.id)
    where = ", ".join(f"{path}:{line}" for path, line in message.locations[:2])
    return f"{message.context + '|' if message.context else ''}{text!r} ({where})"


def problems() -> list[str]:
    """What `check` fails on, as lines."""
    found: list[str] = []
    catalog = load_po()
    remaining = {split_key(key): value for _name, entries in i18n.dict_modules() for key, value in entries.items()}
    with tempfile.TemporaryDirectory() as tmp:
        template = run_extract(Path(tmp) / "messages.pot")
    for message in template:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        entry = catalog.get(message.id, message.context)
        if (key, message.context) in remaining:
            continue
        if entry is None or not _translated(entry):
            found.append(f"no Japanese: {_label(message)}")
    for entry in catalog:
        if not entry.id:
            continue
        if "fuzzy" in entry.flags:
            found.append(f"fuzzy (review it, then remove the flag): {_label(entry)}")
        ids = [entry.id] if isinstance(entry.id, str) else list(entry.id)
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        wanted = set().union(*(set(_NAMED.findall(i)) for i in ids))
        for string in strings:
            have = set(_NAMED.findall(string))
            # a plural's Japanese may show the number the English singular spells out ("1 day" / %(num)d日)
            if string and (have != wanted if isinstance(entry.id, str) else not have <= wanted):
                found.append(f"placeholders differ: {_label(entry)} -> {string!r}")
    return found


def cmd_check(_args: argparse.Namespace) -> int:
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"scripts/i18n check: {len(found)} problem(s) in {PO.relative_to(ROOT)}", file=sys.stderr)
        return 1
    print("scripts/i18n check: every msgid of the code and templates has Japanese")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/i18n", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("extract").set_defaults(run=cmd_extract)
    fold = commands.add_parser("fold")
    fold.add_argument("--all", action="store_true", help="fold modules with uncommitted changes too")
    fold.add_argument("modules", nargs="*", help="only these modules (names without .py)")
    fold.set_defaults(run=cmd_fold)
    commands.add_parser("compile").set_defaults(run=cmd_compile)
    commands.add_parser("check").set_defaults(run=cmd_check)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
