"""The real server in production mode refuses to start without its keys: one line says
which, and does not repeat the other settings (the database URL may hold a password)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.processes import free_port


def test_ledger_serve_in_production_without_keys_exits_naming_them() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env |= {
        "LEDGER_ENVIRONMENT": "production",
        "LEDGER_DATABASE_URL": "postgresql://ledger:s3cret@127.0.0.1:9/ledger",
    }
    ledger = Path(sys.executable).with_name("ledger")
    finished = subprocess.run(
        [str(ledger), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode != 0
    for name in ("LEDGER_PERSONAL_DATA_KEY", "LEDGER_PERSON_REF_KEY", "LEDGER_JWT_SECRET"):
        assert name in finished.stderr
    assert "must be set in production" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert "s3cret" not in finished.stderr
