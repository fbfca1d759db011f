"""intake.config: precedence (defaults < TOML < environment < overrides), coercion, the secret key."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from intake.config import Settings, _persistent_secret, load_settings


def _toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults(tmp_path):
    settings = load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)})
    assert settings.data_dir == tmp_path
    assert settings.web_port == 8080 and settings.imap_folder == "INBOX" and settings.trust_roots == ()
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'docintake.sqlite3').resolve()}"
    assert settings.resolved_maildir == tmp_path / "mail"


def test_precedence_defaults_toml_env_overrides(tmp_path):
    config = _toml(tmp_path / "c.toml", 'web_port = 9000\nimap_host = "toml.example"\nqueue_name = "toml"\n'
                                        "poll_interval = 5\nallow_fetching = true\n")
    env = {"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_CONFIG": str(config),
           "DOCINTAKE_IMAP_HOST": "env.example", "DOCINTAKE_QUEUE_NAME": "env"}
    settings = load_settings(env=env, queue_name="option", web_host=None)
    assert settings.log_level == "INFO"  # default
    assert settings.web_port == 9000 and settings.poll_interval == 5.0 and settings.allow_fetching is True  # TOML
    assert settings.imap_host == "env.example"  # env over TOML
    assert settings.queue_name == "option"  # override over env and TOML
    assert settings.web_host == "127.0.0.1"  # a None override leaves the value alone


def test_toml_in_the_data_directory_is_read(tmp_path):
    _toml(tmp_path / "docintake.toml", "max_pages = 7\n")
    assert load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)}).max_pages == 7
    # an override of data_dir locates the TOML too (overrides win over the environment)
    other = tmp_path / "other"
    other.mkdir()
    _toml(other / "docintake.toml", "max_pages = 9\n")
    settings = load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)}, data_dir=str(other))
    assert settings.data_dir == other and settings.max_pages == 9


def test_unknown_setting_is_refused(tmp_path):
    config = _toml(tmp_path / "c.toml", "web_prot = 1\n")
    with pytest.raises(ValueError, match="unknown setting 'web_prot'"):
        load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_CONFIG": str(config)})
    with pytest.raises(ValueError, match="unknown setting"):
        load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)}, no_such_thing=1)


def test_bad_value_names_the_setting(tmp_path):
    with pytest.raises(ValueError, match="DOCINTAKE_WEB_PORT: web_port = 'eighty'"):
        load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_WEB_PORT": "eighty"})


def test_path_lists_use_os_pathsep(tmp_path):
    env = {"DOCINTAKE_DATA_DIR": str(tmp_path),
           "DOCINTAKE_TRUST_ROOTS": os.pathsep.join([str(tmp_path / "a.pem"), "", str(tmp_path / "roots")])}
    assert load_settings(env=env).trust_roots == (tmp_path / "a.pem", tmp_path / "roots")
    config = _toml(tmp_path / "c.toml", f'trust_roots = ["{tmp_path / "x.pem"}", "{tmp_path / "y"}"]\n')
    settings = load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_CONFIG": str(config)})
    assert settings.trust_roots == (tmp_path / "x.pem", tmp_path / "y")
    assert load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)}, trust_roots=["p.pem"]).trust_roots == (
        Path("p.pem"),)


@pytest.mark.parametrize("raw, expected", [("1", True), ("true", True), ("Yes", True), ("on", True),
                                           ("0", False), ("false", False), ("", False), ("no", False)])
def test_booleans(tmp_path, raw, expected):
    env = {"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_SECURE_COOKIES": raw}
    assert load_settings(env=env).secure_cookies is expected


def test_empty_maildir_means_default(tmp_path):
    settings = load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_MAILDIR": ""})
    assert settings.maildir is None and settings.resolved_maildir == tmp_path / "mail"


def test_secret_key_persists_privately(tmp_path):
    first = load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)})
    second = load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)})
    assert len(first.secret_key) == 64 and first.secret_key == second.secret_key
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left
    assert load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_SECRET_KEY": "k"}).secret_key == "k"


def test_empty_secret_file_is_an_error(tmp_path):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="is empty"):
        _persistent_secret(tmp_path)


def _secret_in_child(args):
    data_dir, barrier = args
    barrier.wait()
    return _persistent_secret(Path(data_dir))


def test_secret_key_race_between_processes(tmp_path):
    """Many processes starting at once on a new data directory all end up with the same key."""
    ctx = multiprocessing.get_context("fork")
    for attempt in range(5):
        data_dir = tmp_path / f"d{attempt}"
        with ctx.Manager() as manager:
            barrier = manager.Barrier(8)
            with ctx.Pool(8) as pool:
                keys = pool.map(_secret_in_child, [(str(data_dir), barrier)] * 8)
        assert len(set(keys)) == 1 and len(keys[0]) == 64
        assert keys[0] == (data_dir / "secret_key").read_text()


def test_settings_with_(tmp_path):
    s = Settings(data_dir=tmp_path)
    assert s.with_(web_port=1).web_port == 1 and s.web_port == 8080


def test_retry_backoff_from_environment_and_toml(tmp_path):
    assert load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)}).retry_backoff == (5, 30, 120, 600, 1800)
    env = {"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_RETRY_BACKOFF": "1, 2,60"}
    assert load_settings(env=env).retry_backoff == (1, 2, 60)
    _toml(tmp_path / "docintake.toml", "retry_backoff = [3, 4]\n")
    assert load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path)}).retry_backoff == (3, 4)
    for bad in ("", "1,soon", "-1"):
        with pytest.raises(ValueError, match="DOCINTAKE_RETRY_BACKOFF"):
            load_settings(env={**env, "DOCINTAKE_RETRY_BACKOFF": bad})


def test_structural_limits_reach_the_workers_policy(tmp_path, pki):
    """The settings' limits default to the Policy's and a changed one is what the worker decides with."""
    from verify.policy import Policy
    from worker.decide import POLICY_LIMITS, policy_for

    defaults = Settings()
    assert {name: getattr(defaults, name) for name in POLICY_LIMITS} == {name: getattr(Policy(), name)
                                                                          for name in POLICY_LIMITS}
    settings = load_settings(env={"DOCINTAKE_DATA_DIR": str(tmp_path), "DOCINTAKE_MAX_FIELDS": "40",
                                  "DOCINTAKE_MAX_MEMORY_MB": "0"}, trust_lists=pki.trust_lists_path)
    policy = policy_for(settings)
    assert (policy.max_fields, policy.max_memory_mb, policy.max_objects) == (40, 0, 20_000)
