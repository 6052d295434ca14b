"""The decade generator, the decisions-file import and the demo, at a small scale."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner
from eventsourcing.persistence import Recording

from api.cli import main
from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.demo.decade import decade_paid, decisions_file
from api.demo.decade import run as run_demo
from api.demo.generator import LAST, generate
from api.services import importing as importer
from api.services.importing import BadFileError, import_file
from api.services.payment_files import payment_file
from domain.cases.case import Case
from projections.engine.projector import Projector
from projections.engine.rebuild import compare, replay
from projections.reads.period_accounts import Accounts
from projections.storage.opening import open_views
from tests.integration.test_parallel_replay import table_digests

SCALE = 0.005


def digest_of(seed: int, scale: float) -> str:
    lines = (json.dumps(d, sort_keys=True) for d in generate(seed, scale))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_the_generator_is_deterministic_for_a_seed() -> None:
    assert digest_of(7, SCALE) == digest_of(7, SCALE)
    assert digest_of(7, SCALE) != digest_of(8, SCALE)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with opened(Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")) as runtime:
        yield runtime


def test_the_demo_verifies_and_its_views_and_totals_equal_a_replay(
    runtime: Runtime, tmp_path: Path
) -> None:
    result = run_demo(runtime, 1, SCALE, lambda _: None)
    assert result.verified  # the audit chain, every digest, and every closed month balances
    assert result.paid["elderly-allowance"] > 0
    # About 0.5 % of the lines came back from the bank and were reissued the next month.
    months = Accounts(runtime.views).closed_months(result.events)
    assert all(month.balances for month in months)
    returned = sum(month.returned for month in months)
    assert returned > 0
    assert sum(month.reissued for month in months) >= returned
    assert sum(month.held for month in months) == 0
    assert sum(month.outstanding for month in months if month.month < LAST) == 0
    # Every case has a payee: each period has its payment file for the bank.
    file = payment_file(runtime.ledger, runtime.views, "dibao-urban", "410611", LAST, result.events)
    assert file.count == Accounts(runtime.views).line_count("dibao-urban", "410611", LAST)
    assert file.control_sum > 0
    scratch = open_views(runtime.ledger.env, schema="ledger_rebuild")
    try:
        assert (
            replay(runtime.ledger.recorder, runtime.ledger.mapper, scratch, result.events)
            == result.events
        )
        # Projected while importing, batch by batch between period closes, the live views
        # hold the same rows as one replay of the decade's events.
        assert compare(runtime.views, scratch, result.events) == []
        rebuilt = Accounts(scratch).closed_months(result.events)
        assert decade_paid(rebuilt) == result.paid
    finally:
        scratch.close()
    again = run_demo(runtime, 1, SCALE, lambda _: None)
    assert again.events == result.events  # a second run reuses what is loaded


def test_the_views_of_an_import_are_row_for_row_those_of_a_rebuild(
    runtime: Runtime, tmp_path: Path
) -> None:
    result = run_demo(runtime, 2, SCALE, lambda _: None)
    assert result.verified
    live = table_digests(runtime.views)
    assert all(live[table][0] > 0 for table in ("segments", "periods", "payroll_items"))
    rebuilt = CliRunner().invoke(
        main,
        ["rebuild", "--replace"],
        env={"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"},
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert table_digests(runtime.views) == live


def test_the_events_an_import_hands_its_projector_are_those_it_would_read_back(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[Recording[UUID]] = []
    offer = Projector.offer

    def offered(projector: Projector, recordings: Sequence[Recording[UUID]]) -> None:
        handed.extend(recordings)
        offer(projector, recordings)

    monkeypatch.setattr(Projector, "offer", offered)
    result = run_demo(runtime, 3, SCALE, lambda _: None)
    assert [r.notification.id for r in handed] == list(range(1, result.events + 1))
    mapper = runtime.ledger.mapper
    for recording in handed:
        # Equal field by field, a list never in place of a tuple: the handlers cannot tell
        # an event handed over from one decoded.
        assert mapper.to_domain_event(recording.notification) == recording.domain_event


def test_a_file_with_bad_lines_names_them_and_stores_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    with decisions_file(1, SCALE) as generated:
        good = generated.read_text(encoding="utf-8").splitlines()
    lines = good[:300]
    lines[10] = lines[10].replace('"set_standard"', '"set_standards"')
    grant = next(n for n, text in enumerate(lines) if '"decision": "grant"' in text)
    lines[grant] = lines[grant].replace('"effective": "2012-10"', '"effective": "2012-13"')
    lines.insert(50, "{not json")
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BadFileError) as refusal:
        import_file(runtime.ledger, runtime.views, path)
    assert [bad.number for bad in refusal.value.bad] == sorted({11, 51, grant + 1 + (grant >= 50)})
    assert runtime.ledger.position == 0
    result = CliRunner().invoke(
        main, ["import", str(path)], env={"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    )
    assert result.exit_code == 1
    assert "line 11: " in result.output
    assert "nothing was stored" in result.output


def test_an_interrupted_import_resumes_without_duplicates(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    original = importer.apply

    def dying_apply(*args: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 5_000:
            raise KeyboardInterrupt
        original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(importer, "apply", dying_apply)
    with decisions_file(1, SCALE) as path, pytest.raises(KeyboardInterrupt):
        import_file(runtime.ledger, runtime.views, path)
    interrupted_at = runtime.ledger.position
    assert interrupted_at > 0
    monkeypatch.setattr(importer, "apply", original)
    # The file is gone; generated again for the same seed and scale, it is the same file.
    with decisions_file(1, SCALE) as path:
        grants = path.read_text(encoding="utf-8").count('"decision": "grant"')
        result = import_file(runtime.ledger, runtime.views, path)
    assert result.already_imported > 0
    assert result.already_imported + result.imported == result.lines
    topic = f"{Case.__module__}:{Case.Granted.__qualname__}"
    stored = sum(
        1
        for n in runtime.ledger.recorder.select_notifications(start=1, limit=10_000_000)
        if n.topic == topic
    )
    assert stored == grants


def test_the_demo_on_a_ledger_holding_another_demo_refuses_in_one_line_saying_what_to_do(
    tmp_path: Path,
) -> None:
    ledger_file = tmp_path / "var" / "ledger.db"
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{ledger_file}"}
    with decisions_file(1, SCALE) as path:
        small = path.read_text(encoding="utf-8").splitlines()
    first_months = tmp_path / "small.jsonl"
    first_months.write_text("\n".join(small[:300]) + "\n", encoding="utf-8")
    runner = CliRunner()
    imported = runner.invoke(main, ["import", str(first_months)], env=env)
    assert imported.exit_code == 0, imported.output
    position = int(imported.stdout.split()[-1])
    result = runner.invoke(main, ["demo", "--scale", "0.002"], env=env)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (refusal,) = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert f"the ledger sqlite {ledger_file} already holds " in refusal
    assert "not the demo at scale 0.002 and seed 1" in refusal
    assert "another ledger (LEDGER_DATABASE_URL=" in refusal
    assert f"remove {ledger_file} and {tmp_path / 'var' / 'ledger-views.db'}" in refusal
    assert "bad lines" not in result.output
    with opened(Settings(database_url=env["LEDGER_DATABASE_URL"]), create=False) as runtime:
        assert runtime.ledger.position == position


def test_an_import_refused_for_many_bad_lines_lists_them_and_says_there_may_be_more(
    tmp_path: Path,
) -> None:
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    with decisions_file(1, SCALE) as path:
        small = path.read_text(encoding="utf-8").splitlines()
    runner = CliRunner()
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(small[:300]) + "\n", encoding="utf-8")
    assert runner.invoke(main, ["import", str(first)], env=env).exit_code == 0
    again = tmp_path / "again.jsonl"  # 80 lines, every one earlier than the ledger's latest
    again.write_text("\n".join(small[:80]) + "\n", encoding="utf-8")
    result = runner.invoke(main, ["import", str(again)], env=env)
    assert result.exit_code == 1
    listed = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert listed[0].startswith("line 1: its time is before the latest stored decision")
    assert len(listed) == importer.MAX_REPORTED
    assert (
        f"Error: {importer.MAX_REPORTED} bad lines are listed and the check stopped there, so "
        "there may be more; nothing was stored"
    ) in result.stderr


def test_the_demo_leaves_no_identity_number_or_name_in_the_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the ledger's default place: var/ here
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    result = CliRunner().invoke(
        main, ["demo", "--scale", "0.002"], env={"LEDGER_DATABASE_URL": None}
    )
    assert result.exit_code == 0, result.output
    people = [
        person
        for decision in generate(1, 0.002)
        for person in [*decision.get("persons", []), decision.get("person", {})]
        if person
    ]
    secrets = {p["identity_number"].encode() for p in people} | {p["name"].encode() for p in people}
    assert len(secrets) > 20
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {path.parent.name for path in written} == {"var"}
    for path in written:
        content = path.read_bytes()
        assert [s.decode() for s in secrets if s in content] == [], path.name
