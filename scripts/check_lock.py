"""Check that requirements/*.txt (make lock) still match pyproject.toml.

    python3 scripts/check_lock.py

Every dependency of pyproject.toml is pinned in requirements/runtime.txt, every one of it
and of the `dev` extra in requirements/dev.txt, and both files pin a package shared by them
to the same version (the image runs what the tests ran). Exit 1 with the differences,
telling to run `make lock`. Standard library only.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "requirements" / "runtime.txt"
DEV = ROOT / "requirements" / "dev.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {normalize(name): version for name, version in _PIN.findall(path.read_text())}


def declared(pyproject: Path, extra: str | None = None) -> set[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    names: set[str] = set()
    for spec in specs:
        match = _NAME.match(spec)
        if match:
            names.add(normalize(match.group(1)))
    return names


def problems(
    pyproject: Path = ROOT / "pyproject.toml", runtime_lock: Path = RUNTIME, dev_lock: Path = DEV
) -> list[str]:
    runtime, dev = pins(runtime_lock), pins(dev_lock)
    base, extra = declared(pyproject), declared(pyproject, "dev")
    found: list[str] = []
    for name in sorted(base - set(runtime)):
        found.append(f"{name}: em pyproject.toml, fora de {runtime_lock.name} (runtime)")
    for name in sorted((base | extra) - set(dev)):
        found.append(f"{name}: em pyproject.toml, fora de {dev_lock.name} (dev)")
    for name in sorted(set(runtime) & set(dev)):
        if runtime[name] != dev[name]:
            found.append(f"{name}: {runtime[name]} no runtime, {dev[name]} no dev")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(f"lock desatualizado: {line}", file=sys.stderr)
    if found:
        print("rode `make lock` e faça commit de requirements/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
