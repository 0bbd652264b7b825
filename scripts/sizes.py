#!/usr/bin/env python3
"""Room sizes (docs/architecture.md § Rooms): fails when a source file of src/ is over 800 lines
or a function over 100 lines (signature to closing brace). Generated dictionary data is exempt.
Usage: python3 scripts/sizes.py [--list N]   (--list: also print the N longest functions)
"""
import os, re, sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
MAX_FILE, MAX_FN = 800, 100
EXEMPT = {"enrich/dict_data.rs"}
FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+([A-Za-z0-9_]+)")

def strip(line):
    # Drop string literals and line comments so their braces do not count.
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(?:\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]

def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, opened, j = 0, False, i
        while j < len(lines):
            s = strip(lines[j])
            if not opened and ";" in s and "{" not in s:
                break  # a declaration without a body (trait method)
            depth += s.count("{") - s.count("}")
            opened = opened or "{" in s
            if opened and depth <= 0:
                out.append((m.group(1), i + 1, j - i + 1))
                break
            j += 1
        i += 1
    return out

def main():
    listing = int(sys.argv[sys.argv.index("--list") + 1]) if "--list" in sys.argv else 0
    bad, fns = [], []
    for root, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, SRC)
            n = sum(1 for _ in open(path, encoding="utf-8"))
            if n > MAX_FILE and rel not in EXEMPT:
                bad.append(f"{rel}: {n} lines (max {MAX_FILE})")
            for name, line, length in functions(path):
                fns.append((length, f"{rel}:{line} {name}"))
                if length > MAX_FN:
                    bad.append(f"{rel}:{line} fn {name}: {length} lines (max {MAX_FN})")
    for length, where in sorted(fns, reverse=True)[:listing]:
        print(f"{length:5} {where}")
    for b in bad:
        print(b, file=sys.stderr)
    sys.exit(1 if bad else 0)

main()
