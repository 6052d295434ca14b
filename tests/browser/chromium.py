"""Debian's Chromium, driven by Playwright, with every request off this machine refused.

No browser can be downloaded here, so Playwright is pointed at the system's Chromium
(`apt-get install chromium`, which ./scripts/test does where it is missing). Pages are
checked as an offline intranet sees them: a request to any host but loopback is aborted
and remembered, so a test can assert that none was made.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, sync_playwright

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    raise RuntimeError("no Chromium on this machine: apt-get install chromium")


@dataclass
class OfflinePage:
    page: Page
    refused: list[str] = field(default_factory=list)


@contextmanager
def offline_page() -> Iterator[OfflinePage]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(locale="zh-CN")
            offline = OfflinePage(page)

            def only_loopback(route: Route) -> None:
                if urlsplit(route.request.url).hostname in LOOPBACK:
                    route.continue_()
                else:
                    offline.refused.append(route.request.url)
                    route.abort("internetdisconnected")

            page.route("**/*", only_loopback)
            yield offline
        finally:
            browser.close()
