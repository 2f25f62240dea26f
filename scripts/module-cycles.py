#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a cycle.

Issue 14 asked for the domain's layers to hold: the directory below members, workspaces
and the sign-in protocols; sessions below sign-in methods; configuration below all of
them; the application state only above. Rust compiles a cycle between modules of one
crate without complaint, so this check reads each file's references to its sibling
modules (`crate::server::x`, `super::x`, `super::{x, y}`, `crate::x` in the server
crate) and reports every strongly connected set of more than one file. Comments and
`#[cfg(test)]` modules are not read: a test may reach anywhere.

Usage: scripts/module-cycles.py [ROOT:PREFIX ...]   (default: both crates)
"""
import os
import re
import sys

DEFAULT = [("app/src/server", "crate::server"), ("server/src", "crate")]


def modules(root):
    """Module name (path under root, `/`-separated, without `.rs`/`mod`) -> source."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)[:-3]
            if rel.endswith("/mod"):
                rel = rel[:-4]
            if rel in ("mod", "lib", "main"):
                continue
            with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                src = fh.read()
            src = src.split("#[cfg(test)]")[0]
            src = "\n".join(line for line in src.split("\n") if not line.strip().startswith("//"))
            out[rel] = src
    return out


def edges(mods, prefix):
    names = set(mods)
    graph = {m: set() for m in mods}
    absolute = re.escape(prefix) + r"::"

    def resolve(base_parts, path):
        """The longest module name that `path` (a list of segments) starts with."""
        for n in range(len(path), 0, -1):
            cand = "/".join(base_parts + path[:n])
            if cand in names:
                return cand
        return None

    for m, src in mods.items():
        own_dir = m.split("/")[:-1]
        refs = []
        for group, single in re.findall(absolute + r"(?:\{([^}]*)\}|([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*))", src):
            if group:
                refs += [([], p.strip().split("::")) for p in group.split(",") if p.strip()]
            else:
                refs.append(([], single.split("::")))
        for group, single in re.findall(r"\bsuper::(?:\{([^}]*)\}|([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*))", src):
            if group:
                refs += [(own_dir, p.strip().split("::")) for p in group.split(",") if p.strip()]
            else:
                refs.append((own_dir, single.split("::")))
        for base, path in refs:
            path = [p for p in path if re.fullmatch(r"[a-z_][a-z0-9_]*", p)]
            target = resolve(base, path) if path else None
            # A file's own submodules and its parent (re-exports) are one unit with it.
            if target and target != m and not target.startswith(m + "/") and not m.startswith(target + "/"):
                graph[m].add(target)
    return graph


def cycles(graph):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(argv):
    roots = [tuple(a.split(":", 1)) for a in argv] or DEFAULT
    bad = 0
    for root, prefix in roots:
        graph = edges(modules(root), prefix)
        for comp in cycles(graph):
            bad += 1
            print(f"{root}: modules in a cycle: {', '.join(comp)}")
            for m in comp:
                print(f"  {m} -> {', '.join(sorted(t for t in graph[m] if t in comp))}")
    if bad:
        print("Break each cycle: move what both need into a lower module (see the layers in README's architecture paragraph).")
        return 1
    print(f"no module cycles in {', '.join(r for r, _ in roots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
