"""The mutation score of each money-rule module, from mutmut's results in mutants/.

python -m scripts.mutation_report [--threshold 97] [--equivalents FILE] [MODULE ...]

A mutant is detected when a test fails (killed) or runs out of time on it (timeout). The
score of a module is detected / (mutants - equivalent), where the equivalent mutants are
those listed in scripts/mutation_equivalents.txt: changes that no test could notice because
the program behaves the same. An entry is only left out while its mutant still makes the
change the entry records; after an edit renumbers a module's mutants, a stale entry is
named and its mutant counts again until the list is brought up to date.

Prints each module's score and every survivor (see one with ``mutmut show NAME``), and
exits 1 when a module is under the threshold or a run is incomplete.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "scripts" / "mutation_equivalents.txt"
DEFAULT_THRESHOLD = 97.0

# mutmut's exit codes (mutmut.stats.status_by_exit_code), reduced to what the score needs.
KILLED = {1: "killed", 3: "killed"}
TIMEOUT = {36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}


@dataclass(frozen=True)
class Equivalent:
    name: str
    mutated_line: str  # the line the mutant adds, as ``mutmut show`` prints it after "+"
    why: str


@dataclass
class ModuleScore:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)
    equivalent: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.statuses.values())

    @property
    def detected(self) -> int:
        return self.counts["killed"] + self.counts["timeout"]

    @property
    def considered(self) -> int:
        return len(self.statuses) - len(self.equivalent)

    @property
    def score(self) -> float:
        return 100.0 * self.detected / self.considered if self.considered else 100.0

    @property
    def raw_score(self) -> float:
        total = len(self.statuses)
        return 100.0 * self.detected / total if total else 100.0

    @property
    def survivors(self) -> list[str]:
        return [
            name
            for name, status in self.statuses.items()
            if status not in ("killed", "timeout") and name not in self.equivalent
        ]


def configured_modules() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config = tomllib.load(file)
    modules: list[str] = config["tool"]["mutmut"]["only_mutate"]
    return modules


def dotted(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def read_equivalents(path: Path) -> list[Equivalent]:
    """Entries: the mutant's name at the start of a line, then indented: ``+ `` and the line
    the mutant adds, and the reason it changes nothing. ``#`` starts a comment line."""
    entries: list[Equivalent] = []
    name, mutated = "", ""
    why: list[str] = []

    def flush() -> None:
        if name:
            if not mutated or not why:
                raise SystemExit(f"{path}: {name} needs its mutated line and a reason")
            entries.append(Equivalent(name, mutated, " ".join(why)))

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.rstrip()
        if not line or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            flush()
            name, mutated, why = line.strip(), "", []
        elif line.strip().startswith("+ "):
            mutated = line.strip()[2:].strip()
        else:
            why.append(line.strip())
    flush()
    return entries


def mutated_lines(name: str, module: str) -> list[str]:
    """The lines the mutant adds, from the mutated file mutmut wrote."""
    diff_apply = importlib.import_module("mutmut.mutation.diff_apply")
    diff: str = diff_apply.get_diff_for_mutant(name, path=module)
    return [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]


def score_of(module: str, equivalents: dict[str, Equivalent], notes: list[str]) -> ModuleScore:
    meta = ROOT / "mutants" / f"{module}.meta"
    result = ModuleScore(module)
    if not meta.exists():
        notes.append(f"{module}: no results; run scripts/mutation {module}")
        return result
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    for name, code in codes.items():
        if code is None:
            result.statuses[name] = "not checked"
        else:
            result.statuses[name] = (KILLED | TIMEOUT | SURVIVED).get(code, "suspicious")
    prefix = dotted(module) + "."
    for name, entry in equivalents.items():
        if not name.startswith(prefix):
            continue
        status = result.statuses.get(name)
        if status is None:
            notes.append(f"stale equivalent {name}: no such mutant now")
        elif entry.mutated_line not in mutated_lines(name, module):
            notes.append(f"stale equivalent {name}: it no longer adds `{entry.mutated_line}`")
        elif status in ("killed", "timeout"):
            notes.append(f"listed as equivalent but {status}: {name} (remove it from the list)")
        else:
            result.equivalent.append(name)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to report (default: all configured)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--equivalents", type=Path, default=EQUIVALENTS)
    args = parser.parse_args(argv)
    configured = configured_modules()
    modules: list[str] = args.modules or configured
    unknown = [m for m in modules if m not in configured]
    if unknown:
        parser.error(f"not configured in [tool.mutmut] only_mutate: {', '.join(unknown)}")
    equivalents = {e.name: e for e in read_equivalents(args.equivalents)}

    notes: list[str] = []
    scores = [score_of(module, equivalents, notes) for module in modules]
    width = max(len(m) for m in modules)
    print(f"\n{'module':<{width}}  mutants  killed  timeout  equivalent  survived  score (raw)")
    for s in scores:
        print(
            f"{s.module:<{width}}  {len(s.statuses):>7}  {s.counts['killed']:>6}"
            f"  {s.counts['timeout']:>7}  {len(s.equivalent):>10}  {len(s.survivors):>8}"
            f"  {s.score:5.1f} % ({s.raw_score:.1f} %)"
        )
    if len(scores) > 1:
        total = sum(len(s.statuses) for s in scores)
        detected = sum(s.detected for s in scores)
        considered = sum(s.considered for s in scores)
        print(
            f"{'all':<{width}}  {total:>7}  {sum(s.counts['killed'] for s in scores):>6}"
            f"  {sum(s.counts['timeout'] for s in scores):>7}"
            f"  {sum(len(s.equivalent) for s in scores):>10}"
            f"  {sum(len(s.survivors) for s in scores):>8}"
            f"  {100.0 * detected / max(considered, 1):5.1f} %"
            f" ({100.0 * detected / max(total, 1):.1f} %)"
        )

    survivors = [(s.statuses[n], n) for s in scores for n in s.survivors]
    if survivors:
        print("\nSurvivors (mutmut show NAME prints the change):")
        for status, name in survivors:
            print(f"  {name}: {status}")
    if notes:
        print("\nNotes:")
        for note in notes:
            print(f"  {note}")

    failed = [s for s in scores if s.score < args.threshold or not s.statuses]
    incomplete = [s for s in scores if s.counts["not checked"]]
    if incomplete:
        print(f"\nincomplete run: {', '.join(s.module for s in incomplete)}")
    if failed:
        print(
            f"\nunder {args.threshold:g} %: {', '.join(s.module for s in failed)}",
            file=sys.stderr,
        )
    return 1 if failed or incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
