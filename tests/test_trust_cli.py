"""``docintake trust update/import/status`` end to end: a loopback HTTP server serves the test
LOTL and LV list of the demo PKI (update), the files themselves (import), the Estonian test
list of ../shared/realworld/trust (import with a pinned LOTL signer)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from intake.config import Settings

REALWORLD_TRUST = Path(__file__).resolve().parents[1] / ".." / "shared" / "realworld" / "trust"
UTC = dt.timezone.utc


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - keep the test output clean
        pass


@pytest.fixture
def tl_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields (base URL, directory)."""
    www = tmp_path / "www"
    www.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()


def _settings(tmp_path: Path, **kw) -> Settings:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return Settings(data_dir=data, secret_key="x", **kw)


def test_update_from_a_loopback_lotl_server_then_status(pki, tl_server, tmp_path, run_cli, signed_form):
    base, www = tl_server
    pki.publish_trust_lists(www, base_url=base, sequence=3)
    settings = _settings(tmp_path, trust_lotl_url=f"{base}/LOTL.xml", trust_lotl_signer=pki.lotl_signer_path)
    proc = run_cli(settings, "trust", "update", check=True)
    assert "LV" in proc.stdout and "sequence 3" in proc.stdout
    status = run_cli(settings, "trust", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = json.loads(status.stdout)["lists"]
    assert [(r["territory"], r["sequence"], r["stale"]) for r in rows] == [("EU", 3, False), ("LV", 3, False)]
    assert rows[1]["url"] == f"{base}/LV.xml"

    # the pipeline's verify (settings from the data directory) trusts the fetched lists
    form = tmp_path / "form.pdf"
    form.write_bytes(signed_form())
    verdict = run_cli(settings, "verify", "--json", str(form))
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert json.loads(verdict.stdout)["trust_source"] == "trusted_list"

    # a list past its NextUpdate: status says so and fails (monitoring), the snapshot is still used
    issued = dt.datetime.now(UTC) - dt.timedelta(days=10)
    pki.publish_trust_lists(www, base_url=base, sequence=4, issued=issued, next_update=issued + dt.timedelta(days=1))
    run_cli(settings, "trust", "update", check=True)
    status = run_cli(settings, "trust", "status")
    assert status.returncode == 1 and "STALE" in status.stdout
    assert run_cli(settings, "verify", "--json", str(form)).returncode == 0

    # the server is down: the update fails, the previous snapshot stays
    (www / "LOTL.xml").unlink()
    failed = run_cli(settings, "trust", "update")
    assert failed.returncode == 1 and "previous snapshot is kept" in failed.stderr
    assert json.loads(run_cli(settings, "trust", "status", "--json").stdout)["lists"][0]["sequence"] == 4


def test_update_refuses_a_lotl_the_pinned_signer_did_not_sign(pki, tl_server, tmp_path, run_cli):
    base, www = tl_server
    pki.publish_trust_lists(www, base_url=base)
    settings = _settings(tmp_path, trust_lotl_url=f"{base}/LOTL.xml")  # EU signers pinned by default
    proc = run_cli(settings, "trust", "update")
    assert proc.returncode == 1 and "pinned signers" in proc.stderr
    assert run_cli(settings, "trust", "status").returncode == 1  # nothing stored


def test_import_the_estonian_test_list_offline(tmp_path, run_cli):
    settings = _settings(tmp_path, trust_countries=("EE",))
    proc = run_cli(settings, "trust", "import", str(REALWORLD_TRUST / "libdigidocpp__TSL.xml"),
                   "--lotl-signer", str(REALWORLD_TRUST / "libdigidocpp__TSL.crt"), check=True)
    assert "EE_T" in proc.stdout and "sequence 34" in proc.stdout
    rows = json.loads(run_cli(settings, "trust", "status", "--json").stdout)["lists"]
    assert {r["territory"] for r in rows} == {"EE", "EE_T"}
    # without the pinned test signer the list of lists does not verify
    other = _settings(tmp_path / "other", trust_countries=("EE",)) if (tmp_path / "other").mkdir() is None else None
    refused = run_cli(other, "trust", "import", str(REALWORLD_TRUST / "libdigidocpp__TSL.xml"))
    assert refused.returncode == 1


def test_import_a_directory(pki, tmp_path, run_cli):
    source = pki.publish_trust_lists(tmp_path / "mirror")
    settings = _settings(tmp_path, trust_lotl_signer=pki.lotl_signer_path)
    run_cli(settings, "trust", "import", str(source), check=True)
    assert (settings.data_dir / "trust-lists" / "lists" / "LV.xml").is_file()
