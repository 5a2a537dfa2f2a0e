"""The package layers import only downward: sam_core < sam_torch, sam_tf < weights_convert < dualsam.

Every import statement counts, at module level and inside functions (a lazy import is still a dependency). The one
allowed exception is sam_core's edge helper that turns numpy into the tensors ``return_tensors="pt"|"tf"`` asks for.
sam_core must also import no framework at all, and nothing outside numpy, pillow and the core dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Package -> layer rank; a module may import packages of a lower or equal rank only (the two backends share one).
RANK = {"sam_core": 0, "sam_torch": 1, "sam_tf": 1, "weights_convert": 2, "dualsam": 3}
FRAMEWORKS = {"torch", "tensorflow", "keras", "tf_keras", "jax"}
#: (module file, imported top-level package): the return_tensors edge of sam_core.
ALLOWED = {("sam_core/tensors.py", "torch"), ("sam_core/tensors.py", "tensorflow")}
#: What sam_core may import besides the standard library and itself.
CORE_THIRD_PARTY = {
    "numpy", "PIL", "scipy", "pycocotools", "safetensors", "h5py", "tqdm", "huggingface_hub", "ml_dtypes",
}  # fmt: skip


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``path``, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_every_package_has_modules():
    for package in RANK:
        assert modules(package), f"{package} has no modules"


@pytest.mark.parametrize("package", sorted(RANK))
def test_no_import_points_up_a_layer(package):
    upward = []
    for path in modules(package):
        relative = path.relative_to(ROOT).as_posix()
        for line, name in imports_of(path):
            if RANK.get(name, -1) > RANK[package] or (RANK.get(name) == RANK[package] and name != package
                                                       and package in ("sam_torch", "sam_tf")):
                upward.append(f"{relative}:{line} imports {name}")
    assert not upward, "\n".join(upward)


def test_sam_core_imports_no_framework_and_only_core_packages():
    import sys

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for path in modules("sam_core"):
        relative = path.relative_to(ROOT).as_posix()
        for line, name in imports_of(path):
            if (relative, name) in ALLOWED or name in stdlib or name == "sam_core":
                continue
            if name in FRAMEWORKS or name not in CORE_THIRD_PARTY:
                bad.append(f"{relative}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_lazy_imports(tmp_path):
    """The rule counts imports inside functions: a planted one is found."""
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from weights_convert import pipeline\n    import dualsam.cli\n")
    assert imports_of(module) == [(2, "weights_convert"), (3, "dualsam")]
