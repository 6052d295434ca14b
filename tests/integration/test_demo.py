"""The README's demo runs on the embedded SQLite store and prints the reference amounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import demo


def test_demo_prints_reference_cases_2_3_and_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    assert demo.main() == 0
    assert demo.main() == 0  # a second run starts again from the same decisions
    printed = capsys.readouterr().out.split("Reference case 2")[-1]
    lines = [" ".join(line.split()) for line in printed.splitlines()]
    assert "2020-03 1200.00 paying" in lines
    assert "2020-07 1350.00 paying" in lines
    assert "2021-06 1350.00 leaving" in lines
    assert "2021-07 0.00 closed" in lines
    assert "2022-05 100.00 paying" in lines
    assert "2022-06 200.00 paying" in lines
    assert "7200.00 (cap 7200.00): granted at once" in lines
    assert "7200.01 (cap 7200.00): waiting for a second approver" in lines
    assert (tmp_path / "var" / "demo.db").exists()
