#!/usr/bin/env python3
"""Module dependency check (docs/architecture.md): lists which modules of src/ use which, fails on
an import cycle between modules and on an edge the architecture forbids.

A module is a top-level folder or file of src/ (`dataflow`, `sinks`, ...), and one level deeper
inside `dataflow/` (`dataflow::clusters`, ...), where the operators must not form cycles either.
Edges come from `crate::` paths and `super::` paths in the source, tests (`#[cfg(test)]`
modules) included.
Usage: python3 scripts/module_deps.py [--graph]
"""
import os, re, sys
from collections import defaultdict

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
SPLIT = {"dataflow"}  # modules whose submodules are nodes of their own
FORBIDDEN = [  # (from, to): the layering rules
    ("dataflow", "sinks"), ("dataflow", "server"), ("dataflow", "cmd"), ("dataflow", "topology"),
    ("sinks", "sources"), ("server", "cmd"), ("config", "enrich"), ("config", "dataflow"),
]

def node_of(parts):
    if not parts:
        return None
    if parts[0] in SPLIT and len(parts) > 1 and parts[1] not in ("mod",):
        return parts[0] + "::" + parts[1]
    return parts[0]

def file_node(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"], ["main"]):
        return None, rel
    return node_of(rel), rel

edges = defaultdict(set)
for root, _, files in os.walk(SRC):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(root, f)
        node, rel = file_node(path)
        if node is None:
            continue
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"//[^\n]*", "", text)
        targets = []
        for m in re.finditer(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?", text):
            targets.append([m.group(1)] + ([m.group(2)] if m.group(2) else []))
        # `use crate::{a, b::c}` groups
        for m in re.finditer(r"\bcrate::\{([^}]*)\}", text):
            for item in m.group(1).split(","):
                item = item.strip()
                if item:
                    targets.append(item.split("::")[:2])
        # super:: inside dataflow submodules
        for m in re.finditer(r"\bsuper::([a-z_][a-z0-9_]*)", text):
            # `rel` is the module's own path: super is its parent.
            targets.append(rel[:-1] + [m.group(1)])
        for t in targets:
            to = node_of(t)
            if to and to != node and not (to.split("::")[0] == node):
                edges[node].add(to)

nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})
# Tarjan's strongly connected components
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def strong(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        sccs.append(comp)
for v in nodes:
    if v not in index:
        strong(v)

if "--graph" in sys.argv:
    for v in nodes:
        print(f"{v} -> {', '.join(sorted(edges.get(v, ())))}")
bad = 0
for comp in sccs:
    if len(comp) > 1:
        bad += 1
        print("cycle:", " <-> ".join(sorted(comp)))
for a, b in FORBIDDEN:
    for v in nodes:
        if v.split("::")[0] == a:
            for w in edges.get(v, ()):
                if w.split("::")[0] == b:
                    bad += 1
                    print(f"forbidden: {v} -> {w}")
if bad:
    sys.exit(1)
print(f"module graph: {len(nodes)} modules, no cycle, no forbidden edge")
