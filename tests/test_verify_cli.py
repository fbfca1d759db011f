"""``docintake verify``: exit codes, JSON, human summary, trust roots from options and environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from verify.cli import verify_command


@pytest.fixture
def files(tmp_path, signed_form, pki):
    good = tmp_path / "good.pdf"
    good.write_bytes(signed_form())
    expired = tmp_path / "expired.pdf"
    expired.write_bytes(signed_form(variant="expired"))
    return {"good": good, "expired": expired, "root": pki.root_pem_path, "lists": pki.trust_lists_path}


def run(*args, env=None):
    return CliRunner().invoke(verify_command, [str(a) for a in args], env=env)


def test_accepted_json(files):
    result = run(files["good"], "--trust-lists", files["lists"], "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "accepted" and report["reasons"] == []
    assert report["signer"]["national_id"] == "LV-32000012345"
    assert (report["qualified"], report["trust_source"], report["indication"]) == (True, "trusted_list", "PASSED")


def test_explicit_roots_are_not_qualified(files):
    """A root configured by hand grants no qualification: not_qualified, unless the policy is off."""
    result = run(files["good"], "--trust-roots", files["root"], "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [r["code"] for r in report["reasons"]] == ["not_qualified"]
    assert (report["qualified"], report["trust_source"]) == (False, "trust_roots")
    result = run(files["good"], "--trust-roots", files["root"], "--no-require-qualified", "--json")
    assert result.exit_code == 0, result.output


def test_report_file_and_signature_only(files, tmp_path, pki):
    from lxml import etree

    out = tmp_path / "report.xml"
    result = run(files["good"], "--trust-lists", files["lists"], "--report", out, "--signature-only", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fields"] == {} and report["form"] == {"id": None, "version": None}
    root = etree.fromstring(out.read_bytes())
    text = etree.tostring(root).decode()
    assert root.tag.endswith("ValidationReport")
    assert "urn:etsi:019102:mainindication:total-passed" in text
    # any signed PDF, not only the form: a blank page signed by the customer
    import io

    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(100, 700, "not the form")
    c.showPage()
    c.save()
    other = tmp_path / "other.pdf"
    other.write_bytes(pki.sign_pdf(buf.getvalue(), pki.person("LV", "320000-12345", "Jānis", "Bērziņš")))
    assert run(other, "--trust-lists", files["lists"], "--signature-only").exit_code == 0
    assert run(other, "--trust-lists", files["lists"]).exit_code == 1  # as a form it is unknown_form


def test_rejected_json(files):
    result = run(files["expired"], "--trust-lists", files["lists"], "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["verdict"] == "rejected"
    assert report["reasons"][0]["code"] == "certificate_expired"


def test_human_summary_masks_the_code(files):
    result = run(files["good"], "--trust-lists", files["lists"])
    assert result.exit_code == 0
    assert result.stdout.startswith("ACCEPTED")
    assert "LV-32****-***45" in result.stdout
    assert "32000012345" not in result.stdout


def test_trust_roots_from_environment(files, tmp_path):
    env = {"DOCINTAKE_TRUST_ROOTS": os.pathsep.join([str(tmp_path / "nothing-here-is-used-if-missing"), ""])}
    # a configured but missing path is a usage error
    assert run(files["good"], env=env).exit_code == 2
    env = {"DOCINTAKE_TRUST_ROOTS": os.pathsep.join([str(files["root"].parent), str(files["root"])])}
    assert run(files["good"], "--json", "--no-require-qualified", env=env).exit_code == 0
    assert run(files["good"], "--json", env={"DOCINTAKE_TRUST_LISTS": str(files["lists"])}).exit_code == 0


def test_no_trust_roots_rejects(files):
    result = run(files["good"], "--json", env={"DOCINTAKE_TRUST_ROOTS": ""})
    assert result.exit_code == 1
    assert json.loads(result.stdout)["reasons"][0]["code"] == "untrusted_signer"


def test_usage_errors(files, tmp_path):
    assert run(tmp_path / "missing.pdf").exit_code == 2
    assert run(files["good"], "--trust-roots", tmp_path / "missing.pem").exit_code == 2
    assert run().exit_code == 2
    assert run(files["good"], "--min-level", "B-Z").exit_code == 2


def test_limits_options(files):
    result = run(files["good"], "--trust-lists", files["lists"], "--json", "--max-bytes", "100")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["reasons"][0]["code"] == "too_large"
    result = run(files["good"], "--trust-lists", files["lists"], "--json", "--min-level", "B-T")
    assert result.exit_code == 1


def test_real_command_via_subprocess(files):
    """The installed entry point, through intake's lazy command group."""
    cmd = [sys.executable, "-m", "intake.cli", "verify", "--json", str(files["good"]), "--trust-lists", str(files["lists"])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=files["good"].parent)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "accepted"
    assert "32000012345" not in proc.stderr and "320000-12345" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "intake.cli", "verify", str(files["expired"]), "--trust-lists", str(files["lists"])],
        capture_output=True, text=True, timeout=120, cwd=files["good"].parent,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("REJECTED")
    assert "320000-12345" not in proc.stderr + proc.stdout and "32000012345" not in proc.stderr + proc.stdout


def test_verify_reads_the_installations_toml(files, tmp_path):
    """Issue 12: `docintake verify` judges as the pipeline does, with the data directory's
    docintake.toml (here: its trusted lists), although verify itself never imports intake."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "docintake.toml").write_text(f'trust_lists = "{files["lists"]}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCINTAKE_")}
    env["DOCINTAKE_DATA_DIR"] = str(data)
    cmd = [sys.executable, "-m", "intake.cli", "verify", "--json", str(files["good"])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["trust_source"] == "trusted_list"
    assert not (data / "secret_key").exists()  # a verify writes nothing into the installation
    # the configuration's require_qualified = false reaches verify too
    (data / "docintake.toml").write_text(f'trust_roots = ["{files["root"]}"]\nrequire_qualified = false\n')
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["trust_source"] == "trust_roots"
