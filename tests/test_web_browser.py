"""A real headless Chromium against a live server: the customer's download and a clerk's day.

Screenshots of the main pages go to docs/screenshots/ (committed; look at them after UI changes).
"""

from __future__ import annotations

import datetime as dt
import io
import random
from pathlib import Path

import pytest

from tests.test_web_support import (
    CUSTOMER_FIELDS,
    HOSTILE,
    PASSWORD,
    add_profile,
    add_submission,
    add_user,
    filled_pdf,
)

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def _seed(settings) -> int:
    """Thirty days of traffic with a signer_mismatch spike; returns the id of the reject to work on."""
    from intake.store.db import session_scope

    rng = random.Random(2026)
    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    placeholder = b"%PDF-1.7\n% placeholder for a chart row\n"
    with session_scope(settings) as session:
        add_user(session, "clara", "clerk")
        for days_ago in range(29, -1, -1):
            day = now - dt.timedelta(days=days_ago)
            for _ in range(rng.randint(8, 16)):
                add_submission(session, status="applied", reason=None, content=placeholder,
                               received_at=day - dt.timedelta(minutes=rng.randint(0, 600)))
            mix = [("field_invalid", "phone"), ("field_missing", "tax_id"), ("unsigned", None),
                   ("unknown_form", None), ("certificate_expired", None)]
            for _ in range(rng.randint(1, 4)):
                reason, field = rng.choice(mix)
                add_submission(session, reason=reason, field=field, content=placeholder,
                               status="cleared" if days_ago > 7 else "rejected",
                               sender="Jānis Ozols <janis.ozols@example.lv>", signer_name="JĀNIS OZOLS",
                               national_id="LV-32111154321",
                               received_at=day - dt.timedelta(minutes=rng.randint(0, 600)))
            if 2 <= days_ago <= 4:  # the spike the dashboard must make obvious
                for _ in range(rng.randint(9, 13)):
                    add_submission(session, reason="signer_mismatch", content=placeholder,
                                   sender="Ēriks Kalniņš <eriks.k@example.lv>", signer_name="ĒRIKS KALNIŅŠ",
                                   national_id="LV-32000012345",
                                   received_at=day - dt.timedelta(minutes=rng.randint(0, 600)))
        add_submission(session, reason="field_invalid", field="phone", subject=HOSTILE,
                       received_at=now - dt.timedelta(hours=3))
        changed = {"phone": "+37126000999", "email": "anna.new@example.lv"}
        target = add_submission(
            session, reason="signer_mismatch", subject="Datu anketa / customer data form",
            sender="Anna Bērziņa <anna.berzina@example.lv>", signer_name="ĒRIKS KALNIŅŠ",
            signer_id="LV-32101187654", received_at=now - dt.timedelta(minutes=20),
            fields={**CUSTOMER_FIELDS, **changed}, content=filled_pdf(**changed),
        )
        add_profile(session)
        return target.id


@pytest.mark.browser
def test_customer_download_and_clerk_clears_a_reject(make_settings, live_server, browser_page):
    from pypdf import PdfReader

    from intake.web import create_app

    settings = make_settings("postgresql", redis=True)
    target = _seed(settings)
    server = live_server(create_app(settings))
    page = browser_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    # the customer: the public page and the blank form
    page.goto(server.url + "/")
    assert "Klienta datu anketa" in page.title()
    page.screenshot(path=str(SCREENSHOTS / "public-home.png"), full_page=True)
    with page.expect_download() as info:
        page.click("text=Download the form (English first)")
    data = Path(info.value.path()).read_bytes()
    assert data.startswith(b"%PDF")
    assert "customer_signature" in PdfReader(io.BytesIO(data)).get_fields()
    assert info.value.suggested_filename == "customer-data-update-2026.1-en.pdf"

    # the clerk signs in
    page.goto(server.url + "/backoffice/")
    assert "/backoffice/login" in page.url
    page.screenshot(path=str(SCREENSHOTS / "login.png"))
    page.fill("#name", "clara")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(server.url + "/backoffice/")
    assert page.locator(".chart rect").count() > 30
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    # the queue, filtered to the spike
    page.click("nav >> text=Submissions")
    page.select_option("#f-reason", "signer_mismatch")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**reason=signer_mismatch**")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() > 20
    assert {page.locator("table.queue tbody td.reason-cell").nth(i).get_attribute("data-reason")
            for i in range(rows.count())} == {"signer_mismatch"}
    assert set(page.locator("table.queue tbody td.reason-cell").all_inner_texts()) == {"Signed by someone else"}
    assert page.locator(f'a[href="/backoffice/submissions/{target}"]').count() == 2
    page.screenshot(path=str(SCREENSHOTS / "rejects-queue.png"), full_page=True)

    # one reject: the page image, the reason, the changed fields
    page.click(f'table.queue a.btn[href="/backoffice/submissions/{target}"]')
    page.wait_for_url(f"**/backoffice/submissions/{target}")
    image = page.locator(".page-image img").first
    image.wait_for()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert image.evaluate("img => img.naturalWidth") > 500
    assert page.locator(".reason-main").inner_text().startswith("Signed by someone else")
    assert "The person who signed is not the customer named on the form." in page.locator(".reasons").inner_text()
    assert page.locator("tr.changed").count() == 2
    assert page.locator("dd.mismatch").count() == 2  # the signer is not the customer on the form
    page.screenshot(path=str(SCREENSHOTS / "reject-detail.png"), full_page=True)

    # clear it with a note: it leaves the open queue
    page.select_option("#outcome", "customer_contacted")
    page.fill("#note", "Called Anna Bērziņa: her husband signed by mistake; she will send it again herself.")
    page.click("button:has-text('Clear this reject')")
    page.wait_for_url(server.url + "/backoffice/rejects")
    assert f"Submission {target} cleared" in page.locator(".flash").inner_text()
    assert page.locator(f'a[href="/backoffice/submissions/{target}"]').count() == 0
    page.goto(server.url + "/backoffice/rejects?status=cleared&reason=signer_mismatch")
    assert page.locator(f'a[href="/backoffice/submissions/{target}"]').count() == 2

    # the hostile subject stayed text
    page.goto(server.url + "/backoffice/rejects?reason=field_invalid")
    assert page.locator("td.clip", has_text="<script>alert(1)</script>").count() == 1
    assert problems == []
