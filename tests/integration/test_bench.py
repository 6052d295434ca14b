"""``./scripts/bench --quick`` runs on both stores and reports well-formed figures."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.benchmarks.run import SECTIONS as SHORT_NAMES
from scripts.benchmarks.run import chosen_sections
from scripts.dev import main

SECTIONS = {
    "single decisions",
    "bulk import",
    "full rebuild",
    "verify",
    "HTTP",
    "signatures",
    "outbox",
}


@pytest.mark.postgres
def test_quick_bench_compares_every_section_on_both_stores_with_a_raw_baseline(
    tmp_path: Path, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_BENCH_POSTGRES_URL", postgres_admin_url)
    figures, table = tmp_path / "bench.json", tmp_path / "bench.md"
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--quick",
            "--scale",
            "0.001",
            "--http-seconds",
            "0.5",
            "--folder",
            str(tmp_path),
            "--json",
            str(figures),
            "--markdown",
            str(table),
        ],
    )
    assert result.exit_code == 0, result.output

    report = json.loads(figures.read_text())
    assert report["quick"] is True and report["machine"]["cpus"] >= 1
    compared = {(c["section"], c["store"]) for c in report["comparisons"]}
    assert compared == {(s, store) for s in SECTIONS for store in ("sqlite", "postgresql")}
    baselines = {c["baseline"] for c in report["comparisons"] if c["section"] == "bulk import"}
    assert baselines == {"executemany", "COPY"}
    for store, write in (("sqlite", "executemany"), ("postgresql", "COPY")):
        rebuilds = {
            c["baseline"]
            for c in report["comparisons"]
            if c["section"] == "full rebuild" and c["store"] == store
        }
        assert {
            "cursor read + JSON decode",
            f"read + decode, and write the final view rows ({write})",
        } <= rebuilds, rebuilds
        vouched = [
            c
            for c in report["comparisons"]
            if c["section"] == "full rebuild"
            and c["store"] == store
            and c["work"].endswith("signatures vouched for by a checkpoint")
        ]
        assert len(vouched) == 1, vouched
    for comparison in report["comparisons"]:
        assert comparison["ours"] > 0 and comparison["raw"] > 0, comparison
        assert math.isclose(comparison["ratio"], comparison["ours"] / comparison["raw"])
        if comparison["target"] is None:
            assert comparison["met"] is None
        else:
            assert comparison["met"] == (comparison["ratio"] >= comparison["target"])
    for measure in report["measures"]:
        assert measure["value"] >= 0 and math.isfinite(measure["value"]), measure
    measured = {(m["section"], m["store"]) for m in report["measures"]}
    assert ("lookups", "postgresql") in measured and ("full rebuild", "sqlite") in measured

    markdown = table.read_text()
    assert markdown.strip() in result.output
    assert "| section | store | work | ledger | raw baseline | ratio | target | met |" in markdown
    assert markdown.count("\n| single decisions |") == 2
    costs = [c for c in report["comparisons"] if c["section"] == "signatures"]
    assert {c["baseline"] for c in costs} == {
        "the same grants unsigned",
        "the same replay, signatures not checked",
    }
    assert {m["name"] for m in report["measures"] if m["section"] == "signatures"} == {
        "sign one event (Ed25519)",
        "check one event's signature",
    }
    for comparison in report["comparisons"]:  # the service answered, and not with refusals
        if comparison["section"] == "HTTP":
            statuses = re.findall(r"(\d{3}): [\d,]+", comparison["note"])
            assert statuses and all(s in {"200", "201"} for s in statuses), comparison["note"]
    announcing = [c for c in report["comparisons"] if c["section"] == "outbox"]
    assert {c["baseline"] for c in announcing} == {"the same grants, no subscription"}
    for comparison in announcing:  # the subscribers were delivered to during the rounds
        delivered = re.search(r"; (\d+) deliveries made", comparison["note"])
        assert delivered is not None and int(delivered.group(1)) > 0, comparison["note"]


def test_bench_refuses_a_store_it_cannot_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_BENCH_POSTGRES_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(
        main, ["bench", "--quick", "--store", "postgresql", "--folder", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "PostgreSQL is not reachable" in result.output


def test_bench_measures_only_the_sections_chosen(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--quick",
            "--store",
            "sqlite",
            "--scale",
            "0.001",
            "--section",
            "single decisions",
            "--section",
            "lookups",
            "--folder",
            str(tmp_path),
            "--json",
            str(figures),
        ],
    )
    assert result.exit_code == 0, result.output

    report = json.loads(figures.read_text())
    assert {c["section"] for c in report["comparisons"]} == {"single decisions"}
    assert {m["section"] for m in report["measures"]} == {"lookups"}
    assert "importing the decade (not measured)" in result.output


def test_bench_refuses_a_section_it_does_not_have(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["bench", "--quick", "--section", "everything", "--folder", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "Invalid value for '--section'" in result.output


def test_a_section_named_as_the_table_names_it_chooses_every_part_reported_there() -> None:
    assert chosen_sections(["full rebuild", "http"]) == {"rebuild", "parallel", "http"}
    assert chosen_sections([]) == set(SHORT_NAMES)
