#!/usr/bin/env python3
"""Score personal-data redaction on a labelled JSONL set (the corpus FORMAT.md shape).

    score_redaction.py SET.jsonl [--min-recall X] [--min-precision X]
                       [--min-type-recall TYPE=X ...] [--show-errors] -- CMD...
    score_redaction.py SET.jsonl --check

Each line carries "pii": [{"type", "text"}], where text is an exact substring of "body".
The labels are removed before CMD sees the lines; CMD (normally
`intake classify --redact all`) must answer one JSON object per line, in order, with
"redactions": [{"type", "start", "end"}] as UTF-8 byte offsets into "body".

Counting is the shared corpus's score.py's: every occurrence of a labelled text is a gold
span; a gold span is found when at least 90% of its bytes are inside some redaction (of any
type); byte precision is the share of redacted bytes that lie inside a gold span. Also
printed: recall per type, byte precision per predicted type, and how many items without
personal data came through untouched.

The set is checked first (exit 2 when it is broken): unique ids, known types, every text a
substring of its body, and every occurrence of a text starting and ending on a word boundary
(so that "Tom" is not also counted inside "Tomorrow"). --check does only that.

Exit status: 0 when every floor is met, 1 when one is not, 2 when the set is broken, the
command fails, or its output does not line up with the input or breaks the contract
(offsets outside the body, unknown types). Standard library only.
"""
import argparse
import json
import subprocess
import sys

TYPES = ["person", "phone", "email", "postcode", "address", "nino", "bank", "card", "dob"]
FOUND_SHARE = 0.9


def load(path):
    items = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: not JSON: {e}")
    return items


def _wordish(b):
    return b.isalnum() or b == "_"


def check_set(items):
    """Problems with the labelled set, as a list of strings (empty when it is sound)."""
    problems = []
    ids = set()
    for n, it in enumerate(items, 1):
        where = f"line {n} ({it.get('id')!r})"
        for k in ("id", "channel", "body"):
            if k not in it:
                problems.append(f"{where}: no {k!r}")
        if it.get("id") in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(it.get("id"))
        body = it.get("body", "")
        for p in it.get("pii", []):
            t, text = p.get("type"), p.get("text", "")
            if t not in TYPES:
                problems.append(f"{where}: unknown pii type {t!r}")
            if not text:
                problems.append(f"{where}: empty {t} text")
                continue
            if text != text.strip():
                problems.append(f"{where}: {t} text {text!r} has spaces at an end")
            at = body.find(text)
            if at < 0:
                problems.append(f"{where}: {t} text {text!r} is not in the body")
            while at >= 0:
                end = at + len(text)
                if ((_wordish(text[0]) and at > 0 and _wordish(body[at - 1])) or
                        (_wordish(text[-1]) and end < len(body) and _wordish(body[end]))):
                    problems.append(f"{where}: {t} text {text!r} also occurs inside a word "
                                    f"(at character {at}); score.py would count it")
                at = body.find(text, at + 1)
    return problems


def gold_spans(body, pii):
    """Labelled substrings -> [(type, start, end)] byte ranges, every occurrence (score.py)."""
    raw = body.encode("utf-8")
    spans = []
    for p in pii:
        needle = p["text"].encode("utf-8")
        if not needle:
            continue
        at = raw.find(needle)
        while at >= 0:
            spans.append((p["type"], at, at + len(needle)))
            at = raw.find(needle, at + 1)
    return spans


def run_command(cmd, items):
    """Runs CMD over the items (labels removed); returns its answers, one dict per item."""
    feed = "".join(json.dumps({k: v for k, v in it.items() if k not in ("expect", "pii")},
                              ensure_ascii=False) + "\n" for it in items)
    proc = subprocess.run(cmd, input=feed.encode("utf-8"), capture_output=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-2000:])
        print(f"command exited {proc.returncode}")
        sys.exit(2)
    out = [l for l in proc.stdout.decode("utf-8", "replace").splitlines() if l.strip()]
    if len(out) != len(items):
        print(f"command wrote {len(out)} lines for {len(items)} inputs")
        sys.exit(2)
    answers = []
    for it, line in zip(items, out):
        try:
            a = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"output for {it['id']} is not JSON: {e}")
            sys.exit(2)
        if a.get("id") != it["id"]:
            print(f"output id {a.get('id')!r} where {it['id']!r} was expected")
            sys.exit(2)
        answers.append(a)
    return answers


def score(items, predicted):
    """items: the labelled set; predicted: per item a list of (type, start, end) byte spans.

    Returns a dict: found/total per gold type, redacted/right bytes per predicted type,
    recall, precision, clean (items without pii left untouched, of how many), misses
    [(id, type, text)] and extras [(id, type, text)] (redactions wholly outside gold)."""
    r = {"found": {}, "total": {}, "red": {}, "right": {}, "misses": [], "extras": [],
         "clean": 0, "clean_of": 0}
    for it, spans in zip(items, predicted):
        raw = it.get("body", "").encode("utf-8")
        gold = gold_spans(it.get("body", ""), it.get("pii", []))
        covered = bytearray(len(raw))
        for _, s, e in spans:
            for i in range(max(0, s), min(e, len(raw))):
                covered[i] = 1
        gold_mask = bytearray(len(raw))
        for t, s, e in gold:
            for i in range(s, e):
                gold_mask[i] = 1
            hit = sum(covered[s:e]) >= FOUND_SHARE * (e - s)
            r["total"][t] = r["total"].get(t, 0) + 1
            r["found"][t] = r["found"].get(t, 0) + hit
            if not hit:
                r["misses"].append((it["id"], t, raw[s:e].decode("utf-8", "replace")))
        # bytes per predicted type, each byte counted once (first span that claims it)
        claimed = bytearray(len(raw))
        for t, s, e in spans:
            for i in range(max(0, s), min(e, len(raw))):
                if not claimed[i]:
                    claimed[i] = 1
                    r["red"][t] = r["red"].get(t, 0) + 1
                    r["right"][t] = r["right"].get(t, 0) + gold_mask[i]
            if not any(gold_mask[max(0, s):min(e, len(raw))]):
                r["extras"].append((it["id"], t, raw[s:e].decode("utf-8", "replace")))
        if not it.get("pii"):
            r["clean_of"] += 1
            r["clean"] += not spans
    found, total = sum(r["found"].values()), sum(r["total"].values())
    red, right = sum(r["red"].values()), sum(r["right"].values())
    r["recall"] = found / total if total else 1.0
    r["precision"] = right / red if red else (1.0 if not total else 0.0)
    return r


def spans_of(items, answers):
    """The answers' redactions as (type, start, end) lists; exits 2 on a contract breach."""
    bad = []
    out = []
    for it, a in zip(items, answers):
        if "error" in a:
            bad.append(f"{it['id']}: answered with an error")
        n = len(it.get("body", "").encode("utf-8"))
        spans = []
        for red in a.get("redactions") or []:
            t, s, e = red.get("type"), red.get("start"), red.get("end")
            if t not in TYPES or not isinstance(s, int) or not isinstance(e, int) or \
                    not 0 <= s < e <= n:
                bad.append(f"{it['id']}: bad redaction {red} (body is {n} bytes)")
                continue
            spans.append((t, s, e))
        out.append(spans)
    if bad:
        print("the command's output breaks the contract:")
        for b in bad[:20]:
            print("  " + b)
        sys.exit(2)
    return out


def report(r, say=print):
    say("personal data: recall per type (found when >= 90% of its bytes are redacted), "
        "byte precision per predicted type")
    for t in TYPES:
        if t not in r["total"] and t not in r["red"]:
            continue
        rec = (f"recall {r['found'][t] / r['total'][t]:.3f} ({r['found'][t]}/{r['total'][t]})"
               if t in r["total"] else "recall   -        ")
        prec = (f"precision {r['right'][t] / r['red'][t]:.3f} ({r['red'][t]} bytes)"
                if r["red"].get(t) else "precision -")
        say(f"  {t:9s} {rec:24s} {prec}")
    say(f"items without personal data left untouched: {r['clean']}/{r['clean_of']}")
    say(f"recall {r['recall']:.3f}  byte precision {r['precision']:.3f}")


def main():
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1])
    ap.add_argument("set")
    ap.add_argument("--check", action="store_true", help="only check the labelled set")
    ap.add_argument("--min-recall", type=float, default=0.0)
    ap.add_argument("--min-precision", type=float, default=0.0)
    ap.add_argument("--min-type-recall", action="append", default=[], metavar="TYPE=X")
    ap.add_argument("--show-errors", action="store_true",
                    help="list missed spans and redactions outside every label")
    args = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    items = load(args.set)
    problems = check_set(items)
    if problems:
        print(f"{args.set}: {len(problems)} problem(s) in the labelled set")
        for p in problems:
            print("  " + p)
        sys.exit(2)
    if args.check:
        n = sum(len(gold_spans(it["body"], it.get("pii", []))) for it in items)
        print(f"{args.set}: {len(items)} items, {n} labelled spans, "
              f"{sum(1 for it in items if not it.get('pii'))} items without personal data: ok")
        return
    if not cmd:
        sys.exit("no command after --")
    type_floors = {}
    for tf in args.min_type_recall:
        t, _, v = tf.partition("=")
        if t not in TYPES or not v:
            sys.exit(f"--min-type-recall {tf!r}: want TYPE=X with TYPE one of {', '.join(TYPES)}")
        type_floors[t] = float(v)

    r = score(items, spans_of(items, run_command(cmd, items)))
    report(r)
    if args.show_errors:
        for i, t, text in r["misses"]:
            print(f"  missed  {i}: {t} {text!r}")
        for i, t, text in r["extras"]:
            print(f"  extra   {i}: {t} {text!r}")
    short = []
    if r["recall"] < args.min_recall:
        short.append(f"recall {r['recall']:.3f} < {args.min_recall}")
    if r["precision"] < args.min_precision:
        short.append(f"byte precision {r['precision']:.3f} < {args.min_precision}")
    for t, floor in type_floors.items():
        got = r["found"].get(t, 0) / r["total"][t] if r["total"].get(t) else 1.0
        if got < floor:
            short.append(f"{t} recall {got:.3f} < {floor}")
    if short:
        print("short: " + "; ".join(short))
        sys.exit(1)


if __name__ == "__main__":
    main()
