"""The pages in a real browser (Debian's Chromium), with the network unplugged, on SQLite and
PostgreSQL: an approver approves what another requested and cannot approve their own, a
roll as known on a past date shows what changed since, a verification is started and
watched to its end, and a viewer cannot reach the approvals.

With ``LEDGER_UI_SCREENSHOTS=docs/ui`` (``./scripts/screenshots``) the tour of every page
also saves a screenshot of each, with its Chinese labels, into that folder.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from api.app import create_app
from api.core.bootstrap import Runtime
from api.core.identities import Role, mint_token
from api.core.settings import Settings
from api.http.web.labels import LABELS
from api.services.verification import Verification, verify
from api.services.verification_jobs import VerificationJobs
from tests.browser.chromium import OfflinePage, offline_page
from tests.browser.ledger_pages import (
    KNOWN_THEN,
    REQUESTER,
    ROLL_MONTH,
    Served,
    relief_above_cap,
    served_history,
    store,
)
from tests.processes import free_port
from tests.support import QIBIN

SCREENSHOTS = os.environ.get("LEDGER_UI_SCREENSHOTS")
WAIT_MS = 30_000
ZH = LABELS["zh"]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"pages-{request.param}")
    admin = request.getfixturevalue("postgres_admin_url") if request.param != "sqlite" else None
    with store(request.param, folder, admin) as url, served_history(url, folder) as served:
        yield served


@pytest.fixture
def browser() -> Iterator[OfflinePage]:
    """A page in Chromium, offline; at the end, no request left the machine and nothing
    was refused by the pages' Content-Security-Policy (Chromium reports a refused script or
    style as a console error)."""
    errors: list[str] = []
    with offline_page() as offline:
        offline.page.set_default_timeout(WAIT_MS)
        offline.page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
        yield offline
    assert offline.refused == [], "the pages asked for something off this machine"
    assert [e for e in errors if "Content Security Policy" in e] == []


def request_relief(served: Served, serial: int) -> str:
    recorded = served.api("POST", "/reliefs", REQUESTER, "caseworker", relief_above_cap(serial))
    relief_id: str = recorded["id"]
    return relief_id


def approve_on_the_page(page: Page, relief_id: str, reason: str) -> None:
    card = page.locator(f'[data-subject="{relief_id}"]')
    card.get_by_label("理由").fill(reason)
    card.get_by_role("button", name="批准").click()


def test_an_approver_approves_a_relief_another_requested_but_never_their_own(
    served: Served, browser: OfflinePage
) -> None:
    page = browser.page
    relief_id = request_relief(served, 61)

    served.sign_in(page, REQUESTER, "approver")
    page.get_by_role("link", name="待审批").first.click()
    card = page.locator(f'[data-subject="{relief_id}"]')
    expect(card.locator(".requester")).to_have_text(REQUESTER)
    approve_on_the_page(page, relief_id, "我自己批准")
    expect(page.get_by_role("alert")).to_contain_text(f"{REQUESTER} requested this relief")
    page.get_by_role("button", name="退出").click()

    served.sign_in(page, "bob", "approver")
    page.goto(f"{served.url}/web/approvals")
    approve_on_the_page(page, relief_id, "核实无误")
    expect(page.get_by_role("status")).to_contain_text("已记录")
    expect(page.locator(f'[data-subject="{relief_id}"]')).to_have_count(0)
    relief = served.api("GET", f"/reliefs/{relief_id}", "li.audit", "auditor")
    assert (relief["state"], relief["approved_by"]) == ("granted", "bob")


def test_the_roll_as_known_on_a_past_date_marks_what_changed_since(
    served: Served, browser: OfflinePage
) -> None:
    page = browser.page
    served.sign_in(page, "zhao.viewer", "viewer")
    page.get_by_role("link", name="救助名册").first.click()
    page.get_by_label("救助项目").select_option("dibao-urban")
    page.get_by_label("辖区").select_option(QIBIN)
    page.get_by_label("月份").fill(ROLL_MONTH)
    page.get_by_label(ZH["known_at"]).fill(KNOWN_THEN)
    page.get_by_role("button", name="查询").click()

    rows = page.locator("table.roll tbody tr")
    expect(rows).to_have_count(4)
    marked = {
        kind: page.locator(f'tr[data-difference="{kind}"]')
        for kind in ("amount_changed", "joined_late", "rescinded", "left_late")
    }
    for row in marked.values():
        expect(row).to_have_count(1)
    expect(marked["amount_changed"]).to_contain_text("800.00")
    expect(marked["amount_changed"]).to_contain_text("1,000.00")
    expect(marked["amount_changed"]).to_contain_text("金额变更")
    expect(marked["joined_late"]).to_contain_text("补录加入")
    expect(marked["rescinded"]).to_contain_text("已撤销")
    expect(marked["left_late"]).to_contain_text("补录退出")
    expect(page.locator(".summary")).to_contain_text("2,000.00")  # as known then
    expect(page.locator(".summary")).to_contain_text("1,400.00")  # as known now


def test_an_auditor_starts_a_verification_and_watches_it_finish(
    served: Served, browser: OfflinePage
) -> None:
    page = browser.page
    served.sign_in(page, "li.audit", "auditor")
    page.get_by_role("link", name="核验").first.click()
    page.wait_for_url("**/web/verification", wait_until="load")
    assert page.evaluate("typeof htmx") == "object"  # loaded from the service, under CSP
    page.get_by_role("button", name="开始核验").click()
    job = page.locator("#job")
    expect(job).to_have_attribute("data-state", "finished")
    expect(job.get_by_role("status")).to_contain_text("核验通过")
    expect(job.locator("progress")).to_have_attribute("value", "100")


def test_a_viewer_cannot_reach_the_approvals(served: Served, browser: OfflinePage) -> None:
    page = browser.page
    served.sign_in(page, "zhao.viewer", "viewer")
    expect(page.get_by_role("link", name="救助名册").first).to_be_visible()
    expect(page.get_by_role("link", name="待审批")).to_have_count(0)
    answer = page.goto(f"{served.url}/web/approvals")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("this needs the role approver, auditor")


def test_every_page_shows_its_chinese_labels(served: Served, browser: OfflinePage) -> None:
    page = browser.page
    page.set_viewport_size({"width": 1280, "height": 900})
    request_relief(served, 71)
    tour: list[tuple[str, str, str]] = []

    def snap(name: str) -> None:
        if SCREENSHOTS and served.on_sqlite:
            folder = Path(SCREENSHOTS)
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    def visit(name: str, path: str, heading: str) -> None:
        answer = page.goto(f"{served.url}{path}")
        assert answer is not None and answer.status == 200, path
        expect(page.locator("h1")).to_contain_text(heading)
        tour.append((name, path, heading))
        snap(name)

    page.goto(f"{served.url}/")
    expect(page.locator("h1")).to_contain_text("登录")
    snap("login")

    served.sign_in(page, "li.audit", "auditor")
    roll = f"/web/rolls?programme=dibao-urban&region={QIBIN}&as_of={ROLL_MONTH}"
    visit("home", "/web/", "社会救助台账")
    visit("roll", f"{roll}&known_at={KNOWN_THEN}", "救助名册")
    case_link = page.locator('tr[data-difference="amount_changed"] a').first
    case_path = case_link.get_attribute("href")
    assert case_path is not None
    visit("case", case_path, "个案")
    expect(page.locator("tr.late").first).to_contain_text("追溯")
    visit("totals", "/web/totals?year=2019", "年度汇总")
    expect(page.locator("svg.chart text").first).to_be_visible()
    visit("standards", f"/web/standards?programme=dibao-urban&region={QIBIN}", "保障标准")
    visit("periods", f"/web/periods?programme=dibao-urban&region={QIBIN}", "发放期")
    visit("period", f"/web/periods/dibao-urban/{QIBIN}/2019-08", "发放期")
    expect(page.locator(".mark.ok")).to_contain_text("摘要一致")
    visit("verification", "/web/verification", "核验")
    expect(page.locator("dl.facts").first).to_contain_text("最近签名检查点")
    page.get_by_role("button", name="开始核验").click()
    expect(page.locator("#job")).to_have_attribute("data-state", "finished")
    snap("verification")
    page.get_by_role("button", name="退出").click()

    served.sign_in(page, "bob", "approver")
    visit("approvals", "/web/approvals", "待审批")
    assert [name for name, _, _ in tour][-1] == "approvals"


def test_signing_in_and_approving_work_from_the_keyboard_alone(
    served: Served, browser: OfflinePage
) -> None:
    page = browser.page
    relief_id = request_relief(served, 81)
    page.goto(f"{served.url}/web/login")
    focus_on(page, "#token")
    page.keyboard.insert_text(served.server.token("bob", "approver"))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".user")).to_contain_text("bob")

    page.goto(f"{served.url}/web/approvals")
    focus_on(page, f"#reason-{relief_id}")
    page.keyboard.insert_text("核实无误")
    page.keyboard.press("Enter")  # the form's first button: approve
    expect(page.get_by_role("status")).to_contain_text("已记录")
    relief = served.api("GET", f"/reliefs/{relief_id}", "li.audit", "auditor")
    assert (relief["state"], relief["approved_by"]) == ("granted", "bob")


def focus_on(page: Page, selector: str, most_tabs: int = 60) -> None:
    """Tab through the page until ``selector`` has the focus."""
    target = page.locator(selector)
    for _ in range(most_tabs):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


@pytest.mark.parametrize("width", [768, 1024, 1366])
def test_the_pages_fit_a_tablet_and_a_laptop_without_sideways_scrolling(
    served: Served, browser: OfflinePage, width: int
) -> None:
    page = browser.page
    page.set_viewport_size({"width": width, "height": 1000})
    served.sign_in(page, "li.audit", "auditor")
    roll = f"/web/rolls?programme=dibao-urban&region={QIBIN}&as_of={ROLL_MONTH}"
    for path in ("/web/", f"{roll}&known_at={KNOWN_THEN}", "/web/totals?year=2019"):
        page.goto(f"{served.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than a {width} px screen"


@contextmanager
def in_process(database_url: str) -> Iterator[tuple[str, FastAPI, Settings]]:
    """The service in a thread of this process, so that a test may hold a verification
    running while the browser watches it."""
    settings = Settings(database_url=database_url)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the service did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}", app, settings
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.mark.parametrize(
    "store_fixture", ["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)]
)
def test_a_running_verification_updates_in_place_until_it_ends(
    request: pytest.FixtureRequest, store_fixture: str, browser: OfflinePage
) -> None:
    with in_process(request.getfixturevalue(store_fixture)) as (url, app, settings):
        jobs: VerificationJobs = app.state.verifications
        runtime: Runtime = app.state.runtime
        started, finish = threading.Event(), threading.Event()

        def run(progress: Callable[[int], None]) -> Verification:
            progress(1)
            started.set()
            finish.wait(timeout=60)
            return verify(runtime.ledger, runtime.views, runtime.read_side.position)

        job = jobs.start("li.audit", 4, run)
        assert started.wait(timeout=10)
        page = browser.page
        secret = settings.jwt_secret
        assert secret is not None
        page.goto(f"{url}/web/login")
        page.get_by_label("令牌").fill(
            mint_token(secret.get_secret_value(), "li.audit", Role.AUDITOR, 60)
        )
        page.get_by_role("button", name="登录").click()
        page.goto(f"{url}/web/verification?job={job.id}")
        expect(page.locator("#job")).to_have_attribute("data-state", "running")
        expect(page.locator("#job progress")).to_have_attribute("value", "25")
        page.evaluate("window.stillTheSamePage = true")

        finish.set()
        expect(page.locator("#job")).to_have_attribute("data-state", "finished")
        expect(page.locator("#job").get_by_role("status")).to_contain_text("核验通过")
        assert page.evaluate("window.stillTheSamePage") is True  # polled, not reloaded
