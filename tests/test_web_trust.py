"""Issue 10 in the back office and /metrics: the ETSI validation report download, the signature
quality on the reject page, and the warning for trusted lists past their NextUpdate."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_web_support import (  # noqa: F401
    add_submission,
    app,
    client_for,
    db,
    staff,
    web_settings,
)

UTC = dt.timezone.utc


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # the route and the templates do not depend on the backend


def _snapshot(pki, settings, tmp_path, *, stale: bool) -> None:
    from verify.trust import import_lists

    issued = dt.datetime.now(UTC) - dt.timedelta(days=200 if stale else 1)
    source = pki.publish_trust_lists(tmp_path / "src", issued=issued, next_update=issued + dt.timedelta(days=180))
    import_lists(source, settings.data_dir / "trust-lists", lotl_signer=str(pki.lotl_signer_path))


def test_validation_report_download_and_quality(app, staff, db, signed_form, trust_policy):  # noqa: F811
    from verify.decision import decide

    report = decide(signed_form(variant="not_qualified"), trust_policy)
    sub = add_submission(db, reason="not_qualified")
    sub.report = report.to_json()
    sub.validation_report = report.etsi_report
    other = add_submission(db, reason="unsigned")  # decided before schema 0007: no report
    db.commit()
    client = client_for(app, staff["clerk"])
    page = client.get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "Qualified signature" in page and "EU trusted list" in page
    assert f"/backoffice/submissions/{sub.id}/validation-report.xml" in page
    response = client.get(f"/backoffice/submissions/{sub.id}/validation-report.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert "attachment" in response.headers["Content-Disposition"]
    assert b"urn:cef:dss:signatureQualification:AdESig" in response.data
    assert client.get(f"/backoffice/submissions/{other.id}/validation-report.xml").status_code == 404
    assert "validation-report.xml" not in client.get(f"/backoffice/submissions/{other.id}").get_data(as_text=True)
    assert app.test_client().get(f"/backoffice/submissions/{sub.id}/validation-report.xml").status_code in (302, 401)


@pytest.mark.parametrize("stale", [False, True])
def test_stale_lists_warn_on_the_dashboard_and_in_metrics(app, staff, web_settings, pki, tmp_path, stale):  # noqa: F811
    from intake.metrics import exposition

    _snapshot(pki, web_settings, tmp_path, stale=stale)
    body = client_for(app, staff["clerk"]).get("/backoffice/").get_data(as_text=True)
    assert ("Trusted lists out of date" in body) is stale
    metrics = exposition(web_settings)[0].decode()
    assert f'docintake_trust_list_stale{{list="LV"}} {1.0 if stale else 0.0}' in metrics
    assert 'docintake_trust_list_next_update_seconds{list="EU"}' in metrics
