"""Every word a page shows exists in Chinese and in English."""

from __future__ import annotations

import re
from pathlib import Path

from api.http.web.labels import LABELS
from domain.cases.fold import Status
from domain.cases.programmes import STANDARD_PARAMETERS, Programme

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "http" / "web" / "templates"
USED = re.compile(r"\bt\.(?!get\b)([a-z_]+)\b|\bt\['([a-z_.-]+)'\]")


def test_chinese_and_english_have_the_same_labels() -> None:
    assert set(LABELS["zh"]) == set(LABELS["en"])


def test_every_label_a_template_names_exists() -> None:
    named = {
        plain or quoted
        for template in TEMPLATES.glob("*.html")
        for plain, quoted in USED.findall(template.read_text(encoding="utf-8"))
    }
    assert named, "no labels found: the pattern no longer matches the templates"
    assert named - set(LABELS["zh"]) == set()


def test_every_programme_status_and_standards_parameter_has_a_label() -> None:
    names = {f"programme.{p.value}" for p in Programme} | {f"status.{s.value}" for s in Status}
    names |= {f"param.{name}" for names in STANDARD_PARAMETERS.values() for name in names}
    assert names - set(LABELS["zh"]) == set()
