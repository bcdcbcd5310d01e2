"""The tests' own layout: a test module (tests/test_*.py) imports helpers (tests/*.py that are not test modules:
fake_tensorrt, qdq_graphs, reference_ops, standin_models, ...) and conftest, never another test module; nor do
the helpers, the benchmarks or the scripts. A test module imported by another runs its module-level code twice
under two names, and its tests get collected through the importer's namespace by anyone reading it."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_names(path: Path) -> list:
    """(line, top-level module name) of every import in `path`, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def imports_of_test_modules(root: Path) -> list:
    """One line per import of a test module, by any .py file under tests/, benchmarks/ or scripts/ of `root`."""
    tests = {p.stem for p in (root / "tests").glob("test_*.py")}
    out = []
    for folder in ("tests", "benchmarks", "scripts"):
        for path in sorted((root / folder).rglob("*.py")):
            for line, name in imported_names(path):
                if name in tests:
                    out.append(f"{path.relative_to(root)}:{line}: imports the test module {name}")
    return out


def test_no_file_imports_a_test_module():
    assert imports_of_test_modules(ROOT) == []


def test_the_helpers_are_not_test_modules_and_are_used():
    helpers = sorted(p.stem for p in (ROOT / "tests").glob("*.py")
                     if not p.name.startswith("test_") and p.name != "conftest.py")
    assert {"fake_tensorrt", "qdq_graphs", "reference_ops", "reliability_common", "serve_common",
            "standin_models", "official_standins"} <= set(helpers)
    used = {name for p in (ROOT / "tests").glob("test_*.py") for _, name in imported_names(p)}
    # a helper that runs in a subprocess of its own (an ISA cap set before it starts) is used by its file name
    texts = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    used |= {h for h in helpers if f'"{h}.py"' in texts}
    assert not set(helpers) - used, f"helpers no test imports: {sorted(set(helpers) - used)}"


def test_a_planted_test_module_import_is_found(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "tests" / "helper.py").write_text("X = 1\n")
    (tmp_path / "tests" / "test_b.py").write_text("from helper import X\n\n\ndef test_b():\n"
                                                  "    from test_a import test_a\n")
    (tmp_path / "benchmarks" / "run.py").write_text("import test_a.sub\n")
    assert imports_of_test_modules(tmp_path) == ["tests/test_b.py:5: imports the test module test_a",
                                                 "benchmarks/run.py:1: imports the test module test_a"]
