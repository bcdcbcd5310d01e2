"""The import contracts of yolov6_edge, checked on its import graph with every import counted (module level,
inside functions, under try/if).

    python scripts/import_graph.py            # check every contract; one line per violation, exit 1 on any
    python scripts/import_graph.py --edges    # also print every edge (module -> imported module)

The contracts (docs/ARCHITECTURE.md, "Layers and gates"):
  cycles      no import cycle, function-level imports included
  escape      no relative import that climbs above the package (Python raises ImportError there, which a `try`
              can hide: the old trainer/evaluate.py validated with a fallback NMS for as long as it did)
  layers      a module imports its own layer and the layers below it (LAYERS, top to bottom), never one above
  trainer     only the commands that train (TRAINER_USERS) import the trainer
  torch       the torch-free modules (NO_TORCH, less TORCH_OK) never import torch, not even inside a function,
              and import nothing at module level that imports torch at module level
  placed      every module of the package is in exactly one layer, and is torch-free or not by a rule above

Read from the source with `ast` (nothing is imported), so it runs without torch or the native module. An edge
goes to the module an import names: `from ..errors import fail` -> yolov6_edge.errors, `from .. import ops`
-> yolov6_edge.ops. The package __init__ only hands names on (FACADE_NAMES): `from .. import __version__` is no
edge, `from yolov6_edge import Detector` is an edge to runtime.detector, where the name lives. The parents a
submodule import runs implicitly (each package __init__ on the way) are not edges of the graph (nobody wrote
that dependency, and counting it would make every lazy re-export in an __init__ a cycle); the torch contract
does follow them, since they run.
"""
import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "yolov6_edge"
# compiled modules: leaves of the graph (they import nothing of ours)
NATIVE = ("yolov6_edge._C",)

# The layers, top to bottom: (name, module prefixes). Modules of one layer may import each other (the cycle
# contract still holds); an import of a layer above is a violation. Derived from the code (every edge of the
# tree at the time it was written goes down or sideways) and written down in docs/ARCHITECTURE.md.
LAYERS = (
    ("cli", ("yolov6_edge", "yolov6_edge.__main__", "yolov6_edge.cli")),  # the package __init__ is the facade
    ("trainer", ("yolov6_edge.trainer",)),
    ("serve", ("yolov6_edge.serve",)),
    ("quant", ("yolov6_edge.quant",)),
    ("eval", ("yolov6_edge.eval", "yolov6_edge.bench", "yolov6_edge.system_info")),
    ("runtime", ("yolov6_edge.runtime",)),
    ("track", ("yolov6_edge.track",)),
    ("backends", ("yolov6_edge.backends",)),
    ("export", ("yolov6_edge.export",)),
    ("weights", ("yolov6_edge.weights",)),
    ("losses", ("yolov6_edge.losses",)),
    ("models", ("yolov6_edge.models",)),
    ("datasets", ("yolov6_edge.datasets",)),
    ("ops", ("yolov6_edge.ops", "yolov6_edge._C")),
    ("base", ("yolov6_edge.errors", "yolov6_edge.atomic", "yolov6_edge.onnx_contract", "yolov6_edge.host",
              "yolov6_edge.palette", "yolov6_edge.cuda_memory", "yolov6_edge.arguments", "yolov6_edge.files")),
)
# what `from yolov6_edge import NAME` reaches (yolov6_edge/__init__.py's __getattr__); None: no module of ours
FACADE_NAMES = {"Detector": "yolov6_edge.runtime.detector", "Yolov6EdgeError": "yolov6_edge.errors",
                "__version__": None}
# the only modules outside the trainer that may import it: the commands that train
TRAINER = "yolov6_edge.trainer"
TRAINER_USERS = ("yolov6_edge.cli.train", "yolov6_edge.cli.demo")
# the base install runs without torch: these never import it (prefixes; TORCH_OK is carved out of them)
NO_TORCH = ("yolov6_edge.runtime", "yolov6_edge.backends", "yolov6_edge.ops", "yolov6_edge.serve",
            "yolov6_edge.track", "yolov6_edge.eval", "yolov6_edge.bench", "yolov6_edge.system_info",
            # the ONNX half of quant/ (choose_target exports a torch model it is handed, through a function-level
            # import of quant.interface: it never imports torch itself)
            "yolov6_edge.quant.reference", "yolov6_edge.quant.targets", "yolov6_edge.quant.runtime_compare",
            "yolov6_edge.quant.recipe", "yolov6_edge.quant.choose_target",
            "yolov6_edge.errors", "yolov6_edge.atomic", "yolov6_edge.onnx_contract", "yolov6_edge.host",
            "yolov6_edge.arguments", "yolov6_edge.files",
            "yolov6_edge.palette", "yolov6_edge.cuda_memory")
TORCH_OK = ("yolov6_edge.backends.torch",)
TORCH = ("torch", "torchvision")


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


@dataclass(frozen=True)
class Import:
    target: str  # a package module, or the top-level name of an outside one ("torch")
    line: int
    toplevel: bool  # runs when the module is imported (not inside a function)
    ours: bool


def import_records(module: str, path: Path, known: dict) -> list:
    """Every import in `module`'s source, as Import records; raises EscapingImport for a relative import that
    climbs above the package (the trainer's `from ...ops import` did, inside a try, for as long as it lived
    outside the package folder)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out = []

    def ours(name, line, top):
        # the longest known prefix: `import yolov6_edge.ops.x` where x is an attribute counts as yolov6_edge.ops
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            out.append(Import(name, line, top, True))

    def visit(node, top):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    ours(alias.name, node.lineno, top)
                else:
                    out.append(Import(alias.name.split(".")[0], node.lineno, top, False))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            if target is None:
                raise EscapingImport(f"{path}:{node.lineno}: `from {'.' * node.level}{node.module or ''} import "
                                     f"...` climbs above the {PACKAGE} package")
            if target.split(".")[0] != PACKAGE:
                out.append(Import(target.split(".")[0], node.lineno, top, False))
            for alias in node.names if target.split(".")[0] == PACKAGE else ():
                sub = f"{target}.{alias.name}"
                if sub in known:  # `from pkg import submodule`
                    ours(sub, node.lineno, top)
                elif target == PACKAGE and alias.name in FACADE_NAMES:
                    if FACADE_NAMES[alias.name]:
                        ours(FACADE_NAMES[alias.name], node.lineno, top)
                else:
                    ours(target, node.lineno, top)
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return out


def imports_of(module: str, path: Path, known: dict) -> set:
    """The package modules `module` imports anywhere in its source."""
    return {r.target for r in import_records(module, path, known) if r.ours}


def all_records(root: Path = ROOT, package: str = PACKAGE) -> dict:
    """{module: [Import, ...]} for every module of the package."""
    known = module_files(root, package)
    return {m: import_records(m, p, known) if p else [] for m, p in known.items()}


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict:
    """{module: set of package modules it imports}."""
    return {m: {r.target for r in recs if r.ours} for m, recs in all_records(root, package).items()}


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


def _under(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer_of(module: str):
    """(index, name) of the layer `module` belongs to (the longest matching prefix), or None."""
    best = None
    for i, (name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            # the package itself (the facade) is one module, not the prefix of every module
            inside = module == p or (p != PACKAGE and module.startswith(p + "."))
            if inside and (best is None or len(p) > best[2]):
                best = (i, name, len(p))
    return best[:2] if best else None


def torch_free(module: str) -> bool:
    return _under(module, NO_TORCH) and not _under(module, TORCH_OK)


def _parents(module: str, known) -> list:
    """The package __init__s importing `module` runs first (yolov6_edge.a.b: yolov6_edge, yolov6_edge.a)."""
    parts = module.split(".")
    return [p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in known]


def violations(records: dict, root: Path = ROOT) -> list:
    """One line per broken contract (cycles aside: see cycles())."""
    out = []

    def where(module, line):
        parts = module.split(".")
        path = Path(*parts) / "__init__.py" if (root / Path(*parts)).is_dir() else Path(*parts).with_suffix(".py")
        return f"{path}:{line}"

    for m in sorted(records):
        if layer_of(m) is None:
            out.append(f"placed: {m} is in no layer (add it to LAYERS in scripts/import_graph.py and to "
                       f"docs/ARCHITECTURE.md)")
    for m, recs in sorted(records.items()):
        mine = layer_of(m)
        for r in recs:
            if not r.ours:
                if r.target in TORCH and torch_free(m):
                    out.append(f"torch: {where(m, r.line)}: {m} imports {r.target} (it is in the torch-free part)")
                continue
            theirs = layer_of(r.target)
            if mine and theirs and theirs[0] < mine[0]:
                out.append(f"layers: {where(m, r.line)}: {m} ({mine[1]}) imports {r.target} ({theirs[1]}), a "
                           f"layer above it")
            if _under(r.target, (TRAINER,)) and not _under(m, (TRAINER,)) and m not in TRAINER_USERS:
                out.append(f"trainer: {where(m, r.line)}: {m} imports {r.target}; only "
                           f"{', '.join(TRAINER_USERS)} may")
    # torch through module-level imports: what importing a torch-free module runs must not import torch
    known = set(records)
    runs = {m: {r.target for r in recs if r.ours and r.toplevel} | set(_parents(m, known))
            for m, recs in records.items()}
    direct = {m for m, recs in records.items() if any(not r.ours and r.toplevel and r.target in TORCH for r in recs)}
    for m in sorted(x for x in records if torch_free(x)):
        seen, stack, via = {m}, [m], {m: None}
        while stack:
            v = stack.pop()
            for w in sorted(runs.get(v, ())):
                if w not in seen:
                    seen.add(w)
                    via[w] = v
                    stack.append(w)
        hit = sorted(seen & direct - {m})
        if hit:
            chain = [hit[0]]
            while via[chain[-1]] is not None:
                chain.append(via[chain[-1]])
            out.append(f"torch: importing {m} imports torch: {' -> '.join(reversed(chain))} -> torch")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=ROOT, help="the repository root (default: this checkout)")
    p.add_argument("--edges", action="store_true", help="print every edge")
    args = p.parse_args(argv)
    try:
        records = all_records(args.root)
    except EscapingImport as e:
        print(f"escape: {e}")
        return 1
    graph = {m: {r.target for r in recs if r.ours} for m, recs in records.items()}
    if args.edges:
        for m in sorted(graph):
            for t in sorted(graph[m]):
                print(f"{m} -> {t}")
    found = cycles(graph)
    for comp in found:
        print("cycles: " + " -> ".join(cycle_path(graph, comp)))
    broken = violations(records, args.root)
    for line in broken:
        print(line)
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(found)} cycles, "
          f"{len(broken)} other violations ({len(LAYERS)} layers)")
    return 1 if found or broken else 0


if __name__ == "__main__":
    sys.exit(main())
