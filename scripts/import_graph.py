"""The import graph of yolov6_edge, every import counted: module level, inside functions, under try/if.

    python scripts/import_graph.py            # list import cycles; exit 1 if there is one
    python scripts/import_graph.py --edges    # also print every edge (module -> imported module)

Read from the source with `ast` (nothing is imported), so it runs without torch or the native module. An edge
goes to the module an import names: `from ..errors import fail` -> yolov6_edge.errors, `from .. import ops`
-> yolov6_edge.ops, `from . import __version__` -> the package's __init__. The parents a submodule import
runs implicitly (each package __init__ on the way) are not edges: nobody wrote that dependency, and counting
it would make every lazy re-export in an __init__ a cycle. Cycles are the strongly connected components of
more than one module (or a module importing itself).
"""
import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "yolov6_edge"
# compiled modules: leaves of the graph (they import nothing of ours)
NATIVE = ("yolov6_edge._C",)


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict:
    """{dotted module name: path} for every .py file of the package."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    for name in NATIVE:
        out.setdefault(name, None)
    return out


def _resolve(module: str, is_package: bool, level: int, name):
    """The absolute name of a relative import `from <level dots><name> import ...` in `module`; None when the
    dots climb above the top-level package (Python raises ImportError there, which a `try` can hide)."""
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 >= len(base):
        return None
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


class EscapingImport(Exception):
    """A relative import that points above the top-level package."""


def imports_of(module: str, path: Path, known: dict) -> set:
    """The package modules `module` imports anywhere in its source; raises EscapingImport for one that climbs
    above the package (the trainer's `from ...ops import` did, inside a try, for as long as it lived outside
    the package folder)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found = set()

    def add(name):
        # the longest known prefix: `import yolov6_edge.ops.x` where x is an attribute counts as yolov6_edge.ops
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            if target is None:
                raise EscapingImport(f"{path}:{node.lineno}: `from {'.' * node.level}{node.module or ''} import "
                                     f"...` climbs above the {PACKAGE} package")
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:  # `from pkg import submodule`
                    found.add(sub)
                else:
                    add(target)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict:
    """{module: set of package modules it imports}."""
    known = module_files(root, package)
    return {m: imports_of(m, p, known) if p else set() for m, p in known.items()}


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan's algorithm), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        # iterative: deep graphs must not hit the recursion limit
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def cycle_path(graph: dict, component: list) -> list:
    """One concrete loop through a component, for the message: a -> b -> ... -> a."""
    comp = set(component)
    start = component[0]
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return component


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=ROOT, help="the repository root (default: this checkout)")
    p.add_argument("--edges", action="store_true", help="print every edge")
    args = p.parse_args(argv)
    try:
        graph = import_graph(args.root)
    except EscapingImport as e:
        print(e)
        return 1
    if args.edges:
        for m in sorted(graph):
            for t in sorted(graph[m]):
                print(f"{m} -> {t}")
    found = cycles(graph)
    for comp in found:
        print("cycle: " + " -> ".join(cycle_path(graph, comp)))
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(found)} cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
