"""The API's documentation pages render on an intranet with no internet: every asset they
load comes from the service itself."""

from __future__ import annotations

from pathlib import Path

from tests.browser.chromium import offline_page
from tests.processes import serving

TITLE = "Social assistance ledger"


def test_swagger_ui_and_redoc_render_with_the_network_unplugged(
    sqlite_url: str, tmp_path: Path
) -> None:
    with serving(sqlite_url, tmp_path / "server.log") as server, offline_page() as offline:
        page = offline.page
        page.goto(f"{server.url}/docs")
        page.locator(".swagger-ui .info .title").filter(has_text=TITLE).wait_for()
        page.locator(".opblock-summary-path").filter(has_text="/totals").first.wait_for()

        page.goto(f"{server.url}/redoc")
        page.locator("h1").filter(has_text=TITLE).wait_for()
        page.get_by_text("/entitlements/search").first.wait_for(state="attached")
    assert offline.refused == []
