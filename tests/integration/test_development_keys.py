"""Development keys are random per installation, private to their owner, and shared by every
process on the same ledger; development listens on this machine only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner
from pydantic import ValidationError

from api.cli import main
from api.core.identities import Role, TokenReader
from api.core.keys import keep_keys
from api.core.settings import KEY_SETTINGS, Settings
from domain.people.person import PersonInput
from tests.support import QIBIN, identity_number, ledger_at, public_development_key

PUBLIC_KEYS = {
    public_development_key(purpose)
    for purpose in ("personal data", "person references", "token signing")
}


def keys_of(settings: Settings) -> dict[str, str]:
    found = {}
    for field in KEY_SETTINGS:
        secret = getattr(settings, field)
        assert secret is not None
        found[field] = secret.get_secret_value()
    return found


def test_a_new_installation_makes_random_keys_that_only_its_owner_may_read(
    tmp_path: Path,
) -> None:
    first = Settings(database_url=f"sqlite:///{tmp_path}/one/ledger.db")
    keys_file = tmp_path / "one" / "ledger.keys"
    assert not keys_file.parent.exists()  # reading settings creates nothing
    first.keep_development_keys()  # as creating the ledger does
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    keys = keys_of(first)
    assert not set(keys.values()) & PUBLIC_KEYS
    assert len(set(keys.values())) == 3
    again = Settings(database_url=f"sqlite:///{tmp_path}/one/ledger.db")
    assert keys_of(again) == keys
    other = Settings(database_url=f"sqlite:///{tmp_path}/two/ledger.db")
    assert not set(keys_of(other).values()) & set(keys.values())
    assert first.development_notice() == (
        f"development mode: keys from {keys_file}; not for personal data of real people"
    )


def test_postgresql_keeps_its_development_keys_in_the_folder_its_setting_names(
    tmp_path: Path,
) -> None:
    url = "postgresql://root@127.0.0.1:5432/ledger"
    settings = Settings(database_url=url, keys_folder=tmp_path / "keys")
    settings.keep_development_keys()
    assert (tmp_path / "keys" / "ledger.keys").exists()
    assert keys_of(Settings(database_url=url, keys_folder=tmp_path / "keys")) == keys_of(settings)


def test_processes_starting_at_once_agree_on_one_set_of_keys(tmp_path: Path) -> None:
    path = tmp_path / "ledger.keys"
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: keep_keys(path), range(16)))
    assert all(keys == found[0] for keys in found)
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.keys"]


def test_a_keys_file_that_others_may_read_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    Settings(database_url=url).keep_development_keys()
    os.chmod(tmp_path / "ledger.keys", 0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        Settings(database_url=url)


def test_names_written_at_one_start_are_read_at_the_next(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    ledger = ledger_at(url)
    ledger.set_standard(
        "disability-living", QIBIN, "2020-01", {"standard": "500"}, actor="f", reason="n"
    )
    case = ledger.grant(
        "disability-living",
        QIBIN,
        "2020-01",
        [PersonInput(identity_number(date(1970, 5, 6), 7), "王芳")],
        grade=1,
        actor="cw",
        reason="r",
    ).id
    ledger.close()
    again = ledger_at(url)
    assert [p["name"].reveal() for p in again.case(case).persons] == ["王芳"]
    again.close()


def test_ledger_token_in_another_process_signs_with_the_installation_key_and_warns(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    ledger = Path(sys.executable).with_name("ledger")
    made = subprocess.run(
        [str(ledger), "token", "ann", "auditor"],
        env={**env, "LEDGER_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert made.stderr.strip().splitlines() == [
        f"development mode: keys from {tmp_path}/ledger.keys; not for personal data of real people"
    ]
    secret = Settings(database_url=url).jwt_secret
    assert secret is not None
    user = TokenReader(secret.get_secret_value()).read(made.stdout.strip())
    assert (user.name, user.role) == ("ann", Role.AUDITOR)


def test_serve_in_development_refuses_an_address_others_can_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_, host, **__: started.append(host))
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    runner = CliRunner()
    for host in ("0.0.0.0", "192.0.2.7", "::"):
        refused = runner.invoke(main, ["serve", "--host", host])
        assert refused.exit_code == 2, refused.output
        assert "loopback" in refused.output
    assert started == []
    for host in ("127.0.0.1", "::1", "localhost"):
        assert runner.invoke(main, ["serve", "--host", host]).exit_code == 0
    monkeypatch.setenv("LEDGER_ENVIRONMENT", "production")
    for name in (*KEY_SETTINGS.values(), "LEDGER_SIGNING_KEY"):
        monkeypatch.setenv(name, public_development_key(f"production {name}"))
    served = runner.invoke(main, ["serve", "--host", "0.0.0.0"])
    assert served.exit_code == 0, served.output
    assert started == ["127.0.0.1", "::1", "localhost", "0.0.0.0"]
