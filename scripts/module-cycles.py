#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a cycle.

Issue 14 asked for the domain's layers to hold: the directory below members, workspaces
and the sign-in protocols; sessions below sign-in methods; configuration below all of
them; the application state only above. Rust compiles a cycle between modules of one
crate without complaint, so this check reads each file's references to its sibling
modules (`crate::server::x`, `super::x`, `super::{x, y}`, `crate::x` in the server
crate) and reports every strongly connected set of more than one module, twice: file by
file, and with each folder taken as one module (`saml/view -> scim -> saml` is a cycle
between `saml` and `scim` even though no single file imports back). Comments and
`#[cfg(test)]` modules are not read: a test may reach anywhere.

Usage: scripts/module-cycles.py [ROOT:PREFIX ...]   (default: both crates)
"""
import os
import re
import sys

# The app crate twice: its domain module by module, and the crate as a whole (the domain,
# `server`, must not reach up into `web`, `api` or `ui`).
DEFAULT = [("app/src/server", "crate::server"), ("app/src", "crate"), ("server/src", "crate")]


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
            src = "\n".join(line for line in src.split("\n") if not line.strip().startswith("//"))
            src = without_test_modules(src)
            out[rel] = src
    return out


def without_test_modules(src):
    """`src` without each `#[cfg(test)] mod name { ... }` (braces matched; code after a
    test module is still read)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", src):
        if m.start() < i:
            continue
        out.append(src[i:m.start()])
        depth, j = 1, m.end()
        while j < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            j += 1
        i = j
    out.append(src[i:])
    return "".join(out)


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
        for ups, group, single in re.findall(r"\b((?:super::)+)(?:\{([^}]*)\}|([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*))", src):
            # `super` from `a/b.rs` is `a`; each further `super::` goes one folder up.
            depth = ups.count("super::") - 1
            base = own_dir[: len(own_dir) - depth] if depth else own_dir
            if depth > len(own_dir):
                base = []
            if group:
                refs += [(base, p.strip().split("::")) for p in group.split(",") if p.strip()]
            else:
                refs.append((base, single.split("::")))
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


def folders(graph):
    """The same graph with every module standing for its top-level folder."""
    top = lambda m: m.split("/")[0]
    out = {}
    for m, targets in graph.items():
        out.setdefault(top(m), set()).update(top(t) for t in targets if top(t) != top(m))
    return out


def main(argv):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots = [tuple(a.split(":", 1)) for a in argv] or [(os.path.join(here, r), p) for r, p in DEFAULT]
    bad = 0
    for root, prefix in roots:
        mods = modules(root)
        if not mods:
            print(f"{root}: no Rust files found")
            return 1
        files = edges(mods, prefix)
        for label, graph in (("files", files), ("folders", folders(files))):
            for comp in cycles(graph):
                bad += 1
                print(f"{os.path.relpath(root, here)}: {label} in a cycle: {', '.join(comp)}")
                for m in comp:
                    print(f"  {m} -> {', '.join(sorted(t for t in graph[m] if t in comp))}")
    if bad:
        print("Break each cycle: move what both need into a lower module (see the layers in README's architecture paragraph).")
        return 1
    print(f"no module cycles in {', '.join(os.path.relpath(r, here) for r, _ in roots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
