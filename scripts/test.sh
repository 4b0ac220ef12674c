#!/usr/bin/env bash
# The test command: finds the browser the web app's tests drive (headless Chromium and its
# chromedriver), installs it from the system's packages if it is missing, then runs
# `cargo test --workspace` with any arguments given (`scripts/test.sh --locked`,
# `scripts/test.sh -p node`). CHROME_BIN and CHROMEDRIVER point the tests at a browser
# installed elsewhere; with both set, nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

have_browser() {
  if [ -n "${CHROME_BIN:-}" ] && [ -n "${CHROMEDRIVER:-}" ]; then return 0; fi
  command -v chromedriver >/dev/null &&
    { command -v chromium >/dev/null || command -v chromium-browser >/dev/null ||
      command -v google-chrome >/dev/null; }
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_browser() {
  local id=""
  # shellcheck disable=SC1091
  [ -r /etc/os-release ] && id="$(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}")"
  echo "== installing Chromium and chromedriver for the browser tests ($id)"
  case " $id " in
    *" ubuntu "*)
      # Ubuntu's chromium is a snap; chromium-chromedriver puts its driver on the PATH.
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-chromedriver ;;
    *" debian "*)
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver ;;
    *" fedora "* | *" rhel "*)
      as_root dnf install -y chromium chromedriver ;;
    *" arch "*)
      as_root pacman -S --noconfirm --needed chromium ;;
    *)
      if command -v brew >/dev/null; then
        brew install --cask chromium chromedriver
      else
        echo "Cannot install Chromium here: install Chromium and chromedriver, or set" \
          "CHROME_BIN and CHROMEDRIVER, and run this again." >&2
        exit 1
      fi ;;
  esac
}

have_browser || install_browser
cargo test --workspace "$@"
