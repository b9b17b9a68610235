#!/usr/bin/env bash
# Debian packages the tests need beyond Python: installed only when missing, so on a
# prepared machine this costs two `command -v` checks.
#   chromium    the sessions dashboard's browser tests (Playwright drives /usr/bin/chromium;
#               Playwright's own browser download is never used)
#   postgresql  the sessions API's PostgreSQL tests start a throwaway server from its binaries
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    sudo_=""
    [[ $(id -u) -ne 0 ]] && sudo_="sudo"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
