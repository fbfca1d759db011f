#!/usr/bin/env bash
# The test command (README, CI): installs what the tests need, then runs pytest.
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`) and Redis on
# 127.0.0.1:6379; dovecot and Chromium are installed here when missing and
# started by the test fixtures. A missing service fails the run, never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/sbin/dovecot ] || need_apt+=(dovecot-imapd)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v pg_isready >/dev/null || need_apt+=(postgresql-client)
# Real PDF form fillers whose output the template-conformance tests sign and accept (tests/fillers.py).
command -v qpdf >/dev/null || need_apt+=(qpdf)
command -v pdftk >/dev/null || need_apt+=(pdftk-java)
/usr/bin/python3 -c 'import gi; gi.require_version("Poppler", "0.18")' 2>/dev/null \
    || need_apt+=(python3-gi gir1.2-poppler-0.18)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
        echo "missing Debian packages: ${need_apt[*]} (run as root or install them)" >&2
        exit 1
    fi
fi

python -m pip install -q --disable-pip-version-check -e '.[test,bench]'

pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
python - <<'PY' || { echo "Redis is not answering on 127.0.0.1:6379" >&2; exit 1; }
import redis; redis.Redis(host="127.0.0.1", port=6379, socket_timeout=3).ping()
PY

exec python -m pytest "$@"
