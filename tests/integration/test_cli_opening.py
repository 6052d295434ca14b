"""Which ledger a command opens: it says so, reads create nothing, and a database that cannot
be used is one line naming the setting and the cause, never a traceback or a password."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from api.cli import main
from domain.application.recording import SaveAt
from tests.integration.test_read_side import record_a_small_history
from tests.support import QIBIN, at, identity_number, ledger_at, set_reference_standards

READS = [
    ["roll", "dibao-urban", QIBIN, "--as-of", "2020-07"],
    ["entitlements", identity_number(date(1980, 1, 1)), "--as-of", "2020-07"],
    ["totals", "--as-of", "2020-07"],
    ["payroll", "dibao-urban", QIBIN, "2020-07"],
    ["reconcile"],
    ["report", "--year", "2020"],
    ["verify"],
    ["rebuild"],
    ["project"],
    ["account", "0" * 32, "--as-of", "2020-07"],
    ["standards", "dibao-urban", QIBIN],
    ["approvals"],
    ["close-period", "dibao-urban", QIBIN, "2020-07", "--actor", "finance-1"],
]
# Where there is a ledger, ``deliver`` runs until stopped.
DELIVERY = [["deliver"], ["deliveries"], ["redeliver", "0" * 32]]


def one_error_line(result: Result) -> str:
    """The refusal: exit 1 or 2, no traceback, and one line after the ledger's name."""
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("ledger: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", READS + DELIVERY, ids=lambda c: c[0])
def test_a_read_where_there_is_no_ledger_refuses_naming_it_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, command)
    line = one_error_line(result)
    assert "there is no ledger at sqlite var/ledger.db" in line
    assert str(tmp_path) in line
    assert "LEDGER_DATABASE_URL" in line
    assert list(tmp_path.iterdir()) == []


def test_a_misspelt_ledger_path_creates_no_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/legder/ledger.db")
    result = CliRunner().invoke(main, ["verify"])
    assert f"there is no ledger at sqlite {tmp_path}/legder/ledger.db" in one_error_line(result)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    record_a_small_history(ledger)
    ledger.close()
    return path


@pytest.mark.parametrize("command", [*READS[:-1], ["deliveries"]], ids=lambda c: c[0])
def test_every_command_says_on_stderr_which_ledger_it_opened(
    ledger_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, command)
    assert result.stderr.splitlines()[0] == f"ledger: sqlite {ledger_file}", result.output
    assert "ledger: " not in result.stdout


def test_an_import_creates_the_ledger_and_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text(
        '{"decision": "set_standard", "at": "2019-01-02T09:00:00+08:00", "actor": "f",'
        ' "programme": "disability-living", "region": "410611", "effective": "2019-01",'
        ' "parameters": {"standard": "500"}, "reason": "notice"}\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["import", str(decisions)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "ledger: sqlite var/ledger.db"
    assert (tmp_path / "var" / "ledger.db").is_file()
    assert CliRunner().invoke(main, ["verify"]).exit_code == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://ledger:s3cret@db.example/ledger", "unsupported database URL scheme 'mysql'"),
        ("sqlite:///", "a sqlite URL names a file"),
        ("postgresql://ledger:s3cret@127.0.0.1:99999/ledger", "is not a port number"),
    ],
)
def test_an_unusable_database_url_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, url: str, reason: str
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    line = one_error_line(CliRunner().invoke(main, ["totals", "--as-of", "2020-07"]))
    assert "LEDGER_DATABASE_URL" in line
    assert reason in line
    assert "s3cret" not in line


def test_an_unreachable_postgresql_is_one_line_naming_the_setting_and_the_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://ledger:s3cret@127.0.0.1:1/ledger")
    for command in (
        ["verify"],
        ["import", __file__],
        ["totals", "--as-of", "2020-07"],
        ["serve", "--port", "1"],
    ):
        result = CliRunner().invoke(main, command)
        line = one_error_line(result)
        assert line.startswith("Error: LEDGER_DATABASE_URL: postgresql 127.0.0.1:1/ledger "), line
        assert "Connection refused" in line
        assert "s3cret" not in result.output


@pytest.mark.parametrize(
    ("admin_url", "option", "words"),
    [
        ("mysql://admin:s3cret@db.example/ledger", "--admin-url", "not a PostgreSQL URL"),
        ("postgresql://admin:s3cret@127.0.0.1:1/ledger", "--admin-url", "Connection refused"),
        ("host=127.0.0.1 port=1 password=s3cret", "--admin-url", "Connection refused"),
    ],
)
def test_protect_with_an_unusable_url_is_one_line_naming_the_option(
    admin_url: str, option: str, words: str
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "protect",
            "--admin-url",
            admin_url,
            "--owner-url",
            "postgresql://owner@127.0.0.1:1/ledger",
            "--service-role",
            "ledger_service",
        ],
    )
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    assert option in result.output
    assert words in result.output
    assert "s3cret" not in result.output


@pytest.mark.postgres
def test_a_read_of_an_empty_postgresql_database_refuses_and_creates_no_table(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", postgres_url)
    line = one_error_line(CliRunner().invoke(main, ["verify"]))
    assert "there is no ledger at postgresql " in line
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        schemas = connection.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'ledger%'"
        ).fetchone()
    assert (tables, schemas) == ((0,), (0,))
