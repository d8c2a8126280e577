#!/usr/bin/env bash
# Install the Debian packages the project needs, only when missing (idempotent, quiet when done).
#   base:    python3-venv (Debian's python3 lacks ensurepip without it),
#            fonts-ipaexfont-gothic: the report pack's PDF embeds IPAex Gothic and its charts are drawn with it
#            (one TrueType file; fpdf2 cannot embed the .ttc collections of fonts-noto-cjk)
#   browser: chromium + fonts-noto-cjk for the end-to-end tests (Japanese glyphs in screenshots),
#            nginx + openssl for the reverse-proxy test (the app under /tsunagari/ behind TLS),
#            systemd for `systemd-analyze verify` of deploy/systemd/tsunagari.service,
#            poppler-utils (pdftoppm) to render a report-pack PDF page to an image in the browser test,
#            nodejs + npm to install axe-core (pinned in tools/axe/package-lock.json) for the
#            accessibility test, by `npm ci` from the npm registry
#   deploy:  systemd and poppler-utils (make test-fast runs tests/test_deploy.py and renders a report-pack
#            PDF page with pdftoppm in tests/test_report_pack.py, not the browser suite)
set -euo pipefail
want=()
if [ "${1:-base}" = "browser" ]; then
  for pkg in chromium fonts-noto-cjk nginx openssl systemd poppler-utils nodejs; do
    dpkg -s "$pkg" >/dev/null 2>&1 || want+=("$pkg")
  done
  # Debian's npm is its own package; some nodejs builds carry npm themselves.
  command -v npm >/dev/null 2>&1 || want+=(npm)
elif [ "${1:-base}" = "deploy" ]; then
  for pkg in systemd poppler-utils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || want+=("$pkg")
  done
else
  python3 -c "import ensurepip" 2>/dev/null || want+=(python3-venv)
  dpkg -s fonts-ipaexfont-gothic >/dev/null 2>&1 || want+=(fonts-ipaexfont-gothic)
fi
if [ ${#want[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${want[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
if [ "${1:-base}" = "browser" ]; then
  # axe-core as the lock file pins it; npm ci only when the installed copy is missing or differs.
  axe="$(dirname "$0")/axe"
  if ! cmp -s "$axe/package-lock.json" "$axe/node_modules/.installed-lock.json" 2>/dev/null \
    || [ ! -f "$axe/node_modules/axe-core/axe.min.js" ]; then
    echo "installing axe-core (npm ci in tools/axe)"
    (cd "$axe" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && cp package-lock.json node_modules/.installed-lock.json)
  fi
fi
