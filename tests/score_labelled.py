#!/usr/bin/env python3
"""Score `intake classify` (or any command speaking its contract) on a labelled JSONL set.

    score_labelled.py SET.jsonl [--min-macro-f1 X] [--min-flag-f1 X] [--show-errors] -- CMD...

SET lines carry "expect": {"category", "flags", "mp_underlying"} as in the corpus format.
The labels are removed before CMD sees the lines. Prints per-category and per-flag
precision/recall/F1 and the macro-F1, and exits 1 when a threshold is not met (2 when the
command's output does not line up with its input). Standard library only.
"""
import argparse
import json
import subprocess
import sys

CATEGORIES = ["complaint", "service_request", "compliment", "comment", "mp_enquiry", "other"]
FLAGS = ["stage2", "ombudsman", "asb", "legal", "safeguarding", "urgent", "damp_mould",
         "compensation", "abusive"]


def f1(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def classify(cmd, items):
    feed = "".join(json.dumps({k: v for k, v in it.items() if k not in ("expect", "pii")},
                              ensure_ascii=False) + "\n" for it in items)
    proc = subprocess.run(cmd, input=feed.encode(), capture_output=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        sys.exit(2)
    out = [json.loads(l) for l in proc.stdout.decode().splitlines() if l.strip()]
    if len(out) != len(items) or any(o.get("id") != it["id"] for o, it in zip(out, items)):
        print("output does not line up with the input")
        sys.exit(2)
    return out


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("set")
    ap.add_argument("--min-macro-f1", type=float, default=0.0)
    ap.add_argument("--min-flag-f1", type=float, default=0.0)
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args(argv[:cut])
    with open(args.set, encoding="utf-8") as fh:
        items = [json.loads(l) for l in fh if l.strip()]
    out = classify(argv[cut + 1:], items)

    short = []
    f1s = []
    for c in CATEGORIES:
        tp = sum(1 for it, o in zip(items, out) if it["expect"]["category"] == c and o.get("category") == c)
        fp = sum(1 for it, o in zip(items, out) if it["expect"]["category"] != c and o.get("category") == c)
        fn = sum(1 for it, o in zip(items, out) if it["expect"]["category"] == c and o.get("category") != c)
        if tp + fn == 0:
            continue
        p, r, f = f1(tp, fp, fn)
        f1s.append(f)
        print(f"  {c:16s} P {p:.3f} R {r:.3f} F1 {f:.3f} (n={tp + fn})")
    macro = sum(f1s) / len(f1s)
    print(f"macro-F1 {macro:.3f}")
    if macro < args.min_macro_f1:
        short.append(f"macro-F1 {macro:.3f} < {args.min_macro_f1}")
    mp = [(it, o) for it, o in zip(items, out)
          if it["expect"]["category"] == "mp_enquiry" and o.get("category") == "mp_enquiry"]
    if mp:
        right = sum(1 for it, o in mp if it["expect"].get("mp_underlying") == o.get("mp_underlying"))
        print(f"mp_underlying right {right}/{len(mp)}")
    for fl in FLAGS:
        tp = sum(1 for it, o in zip(items, out) if fl in it["expect"]["flags"] and fl in o.get("flags", []))
        fp = sum(1 for it, o in zip(items, out) if fl not in it["expect"]["flags"] and fl in o.get("flags", []))
        fn = sum(1 for it, o in zip(items, out) if fl in it["expect"]["flags"] and fl not in o.get("flags", []))
        if tp + fn == 0:
            continue
        p, r, f = f1(tp, fp, fn)
        print(f"  {fl:16s} P {p:.3f} R {r:.3f} F1 {f:.3f} (n={tp + fn})")
        if f < args.min_flag_f1:
            short.append(f"flag {fl} F1 {f:.3f} < {args.min_flag_f1}")
    if args.show_errors:
        for it, o in zip(items, out):
            e = it["expect"]
            if e["category"] != o.get("category") or set(e["flags"]) != set(o.get("flags", [])):
                print(f"{it['id']}: want {e['category']} {sorted(e['flags'])} got "
                      f"{o.get('category')} {sorted(o.get('flags', []))} rules {o.get('rules')}")
    if short:
        print("short: " + "; ".join(short))
        sys.exit(1)


if __name__ == "__main__":
    main()
