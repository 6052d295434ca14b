"""Hand-made mutants of what mutmut leaves alone: module-level constants.

python -m scripts.mutation_constants [--list FILE]

mutmut 3 mutates inside functions only, so a changed age band, cap or multiple would go
unseen by it. Each line of scripts/mutation_constants.txt names a file, a line of it and
the line to put in its place; this copies the tree to var/mutation-constants/, makes each
change in turn, runs the fast tests (the selection configured for mutmut) and says whether
a test failed. Exits 1 when a change survives, unless the line is marked as equivalent.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "scripts" / "mutation_constants.txt"
SCRATCH = ROOT / "var" / "mutation-constants"
COPIED = ("domain", "projections", "api", "tests", "pyproject.toml")


@dataclass(frozen=True)
class ConstantMutant:
    path: str
    original: str
    mutated: str
    equivalent: str  # why it changes nothing, or "" for a mutant a test must notice


def read_list(path: Path) -> list[ConstantMutant]:
    """Lines ``file | original line | mutated line``, optionally ``| equivalent: why``."""
    mutants = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(" | ")]
        marked = len(parts) == 4 and parts[3].startswith("equivalent:")
        if len(parts) != 3 and not marked:
            raise SystemExit(
                f"{path}:{number}: expected 'file | original | mutated [| equivalent: why]'"
            )
        why = parts[3].removeprefix("equivalent:").strip() if len(parts) == 4 else ""
        mutants.append(ConstantMutant(parts[0], parts[1], parts[2], why))
    return mutants


def pytest_arguments() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        mutmut = tomllib.load(file)["tool"]["mutmut"]
    selection: list[str] = mutmut["pytest_add_cli_args_test_selection"]
    extra: list[str] = mutmut["pytest_add_cli_args"]
    return [*selection, *extra]


def fast_tests_fail() -> bool:
    """Run the fast tests in the scratch tree; True when one fails."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "--no-header", *pytest_arguments()],
        cwd=SCRATCH,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"the fast tests could not run (exit {done.returncode}):\n{done.stdout}")
    return done.returncode == 1


def copy_tree() -> None:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, SCRATCH / name, ignore=ignore)
        else:
            shutil.copy2(source, SCRATCH / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", type=Path, default=LIST)
    args = parser.parse_args(argv)
    mutants = read_list(args.list)
    copy_tree()
    if fast_tests_fail():
        raise SystemExit("the fast tests fail on the unchanged tree")
    survived = []
    for mutant in mutants:
        target = SCRATCH / mutant.path
        source = target.read_text(encoding="utf-8")
        lines = source.splitlines(keepends=True)
        matches = [n for n, line in enumerate(lines) if line.strip() == mutant.original]
        if len(matches) != 1:
            raise SystemExit(
                f"{mutant.path}: `{mutant.original}` is on {len(matches)} lines, not one"
            )
        [at] = matches
        indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
        lines[at] = f"{indent}{mutant.mutated}\n"
        target.write_text("".join(lines), encoding="utf-8")
        try:
            killed = fast_tests_fail()
        finally:
            target.write_text(source, encoding="utf-8")
        if killed:
            status = "killed"
        elif mutant.equivalent:
            status = f"equivalent ({mutant.equivalent})"
        else:
            status = "SURVIVED"
            survived.append(mutant)
        print(f"{status:>9}  {mutant.path}: {mutant.original}  ->  {mutant.mutated}", flush=True)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    caught = len(mutants) - len(survived)
    print(f"\n{caught} of {len(mutants)} constant mutants killed or equivalent")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
