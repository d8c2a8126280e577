#!/usr/bin/env bash
# Install the Debian packages the project needs, only when missing (idempotent, quiet when done).
#   base:    python3-venv (Debian's python3 lacks ensurepip without it),
#            fonts-ipaexfont-gothic: the report pack's PDF embeds IPAex Gothic and its charts are drawn with it
#            (one TrueType file; fpdf2 cannot embed the .ttc collections of fonts-noto-cjk)
#   browser: chromium + fonts-noto-cjk for the end-to-end tests (Japanese glyphs in screenshots),
#            nginx + openssl for the reverse-proxy test (the app under /tsunagari/ behind TLS),
#            systemd for `systemd-analyze verify` of deploy/systemd/tsunagari.service,
#            poppler-utils (pdftoppm) to render a report-pack PDF page to an image in the browser test
#   deploy:  systemd only (make test-fast runs tests/test_deploy.py, not the browser suite)
set -euo pipefail
want=()
if [ "${1:-base}" = "browser" ]; then
  for pkg in chromium fonts-noto-cjk nginx openssl systemd poppler-utils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || want+=("$pkg")
  done
elif [ "${1:-base}" = "deploy" ]; then
  dpkg -s systemd >/dev/null 2>&1 || want+=(systemd)
else
  python3 -c "import ensurepip" 2>/dev/null || want+=(python3-venv)
  dpkg -s fonts-ipaexfont-gothic >/dev/null 2>&1 || want+=(fonts-ipaexfont-gothic)
fi
[ ${#want[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${want[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
