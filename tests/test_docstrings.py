"""Every public function, class, method and property of the library has a docstring (its own, or the one of the
base-class member it overrides), as scikit-learn's contract asks; no model is trained."""

import importlib
import inspect
import pkgutil

import stealguard


def _public_members():
    for info in pkgutil.walk_packages(stealguard.__path__, "stealguard."):
        if ".scenarios" in info.name or info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{mod.__name__}.{name}", obj.__doc__
            elif inspect.isclass(obj):
                auto = obj.__doc__ is not None and obj.__doc__.startswith(f"{name}(")  # a dataclass's generated one
                yield f"{mod.__name__}.{name}", None if auto else obj.__doc__
                for member, f in vars(obj).items():
                    if member.startswith("_") or not (inspect.isfunction(f) or isinstance(f, property)):
                        continue
                    inherited = [getattr(getattr(b, member, None), "__doc__", None) for b in obj.__mro__[1:] if b is not object]
                    yield f"{mod.__name__}.{name}.{member}", f.__doc__ or next((d for d in inherited if d), None)


def test_every_public_member_has_a_docstring():
    missing = [name for name, doc in _public_members() if not (doc or "").strip()]
    assert not missing, f"{len(missing)} public members without a docstring: {missing[:20]}"


def test_the_measurements_the_library_cites_exist():
    """Docstrings, caveats and blind spots cite the benchmark and probe pages their figures come from; each cited
    path is in the repository (a page renamed or removed would leave a verdict pointing nowhere)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    missing = set()
    for f in sorted((root / "src" / "stealguard").rglob("*.py")):
        for m in re.finditer(r"(?:benchmarks|docs)/[\w./*\-]+", f.read_text()):
            ref = m.group(0).rstrip(".,;:)")
            if not list(root.glob(ref)) and not list(root.glob(ref + "*")):
                missing.add(f"{f.name}: {ref}")
    assert not missing, sorted(missing)
