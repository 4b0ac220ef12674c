#!/usr/bin/env bash
# Builds, on this machine, the two base images the Dockerfile names, for a Docker engine
# that cannot pull from an image registry (a machine that can pull does not need this):
#
#   debian:<suite>-slim   a minimal Debian root file system made with debootstrap from the
#                         Debian mirror this machine's apt uses, then `docker import`ed
#   rust:<...>-<suite>    that image plus gcc, libc6-dev, pkg-config, ca-certificates and
#                         this machine's Rust toolchain (rustup layout, as in the official image)
#
# The tags are read from the Dockerfile's FROM lines. An image that already exists is left
# alone, so a second run takes a second; --rebuild builds both again. Needs root (debootstrap).
# CA certificates added locally on this machine (/usr/local/share/ca-certificates) go into
# the Rust image too, so cargo inside `docker build` trusts what cargo here trusts.
#
#   scripts/docker-base-images.sh [--rebuild]
set -euo pipefail
cd "$(dirname "$0")/.."

rebuild=false
case "${1:-}" in
  "") ;;
  --rebuild) rebuild=true ;;
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
esac

say() { echo "base images: $*"; }
die() { echo "base images: error: $*" >&2; exit 1; }

# The tags the Dockerfile builds from: the stage named "build" and the one named "runtime".
from_of() { sed -n "s/^FROM[[:space:]]\{1,\}\([^[:space:]]\{1,\}\)[[:space:]]\{1,\}AS[[:space:]]\{1,\}$1[[:space:]]*\$/\1/Ip" Dockerfile | head -n1; }
rust_tag=$(from_of build)
slim_tag=$(from_of runtime)
{ [ -n "$rust_tag" ] && [ -n "$slim_tag" ]; } || die "no 'FROM <image> AS build' and 'FROM <image> AS runtime' lines in Dockerfile"
suite=${slim_tag#debian:}
suite=${suite%-slim}
case "$suite" in ''|*[!a-z]*) die "cannot tell the Debian suite from '$slim_tag' (expected debian:<suite>-slim)" ;; esac
case "$rust_tag" in *"-$suite") ;; *) die "'$rust_tag' is not based on Debian $suite like '$slim_tag'" ;; esac

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable"

exists() { docker image inspect "$1" >/dev/null 2>&1; }
if $rebuild; then
  docker image rm "$rust_tag" "$slim_tag" >/dev/null 2>&1 || true
fi
if exists "$slim_tag" && exists "$rust_tag"; then
  say "$slim_tag and $rust_tag already exist"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root: debootstrap needs it"

work=$(mktemp -d "${TMPDIR:-/tmp}/chainpost-base-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# ---- debian:<suite>-slim ------------------------------------------------------------------
# The Debian mirrors this machine's apt uses (one-line and deb822 sources); debootstrap's own
# default when there are none. DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR override them.
apt_uris() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
  cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
}
mirror=${DEBIAN_MIRROR:-$(apt_uris | grep -E '/debian/?$' | head -n1 || true)}
security=${DEBIAN_SECURITY_MIRROR:-$(apt_uris | grep -E '/debian-security/?$' | head -n1 || true)}

if ! exists "$slim_tag"; then
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  say "debootstrap --variant=minbase $suite ${mirror:-from the default mirror}"
  rootfs=$work/rootfs
  if ! debootstrap --variant=minbase "$suite" "$rootfs" ${mirror:+"$mirror"} >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed"
  fi

  # Slim like the official image: apt sources for the suite, its updates and security
  # fixes; no documentation, manuals or translations; no package lists or caches.
  if [ -n "$mirror" ]; then
    rm -f "$rootfs/etc/apt/sources.list"
    {
      printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" "$suite" "$suite"
      [ -z "$security" ] ||
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
          "$security" "$suite"
    } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  fi
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log "$rootfs"/tmp/*
  : >"$rootfs/etc/resolv.conf"
  : >"$rootfs/etc/hostname"

  say "importing $slim_tag"
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase, built locally by scripts/docker-base-images.sh\"" \
    - "$slim_tag" >/dev/null
  rm -rf "$rootfs"
fi

# ---- rust:<...>-<suite> -------------------------------------------------------------------
if ! exists "$rust_tag"; then
  command -v rustup >/dev/null || die "rustup is not installed: it brings the Rust toolchain the image gets"
  sysroot=$(rustc --print sysroot)
  toolchain=$(basename "$sysroot")
  [ -x "$sysroot/bin/cargo" ] || die "no cargo in the active toolchain ($sysroot)"
  say "$rust_tag from $slim_tag and the toolchain $toolchain ($(rustc --version))"

  ctx=$work/rust
  mkdir -p "$ctx/toolchain" "$ctx/ca"
  cp "$(command -v rustup)" "$ctx/rustup"
  # Everything but the HTML documentation (half the size). Hard links when possible.
  for part in "$sysroot"/*; do
    [ "$(basename "$part")" = share ] && continue
    cp -al "$part" "$ctx/toolchain/" 2>/dev/null || cp -a "$part" "$ctx/toolchain/"
  done
  if [ -d "$sysroot/share" ]; then
    mkdir -p "$ctx/toolchain/share"
    for part in "$sysroot"/share/*; do
      [ "$(basename "$part")" = doc ] && continue
      cp -a "$part" "$ctx/toolchain/share/"
    done
  fi
  for cert in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$cert" ] && cp "$cert" "$ctx/ca/"
  done
  : >"$ctx/ca/.keep"
  cat >"$ctx/Dockerfile" <<EOF
FROM $slim_tag
ENV RUSTUP_HOME=/usr/local/rustup \\
    CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      ca-certificates curl gcc libc6-dev make pkg-config \\
 && rm -rf /var/lib/apt/lists/* /usr/local/share/ca-certificates/.keep
COPY rustup /usr/local/cargo/bin/rustup
COPY toolchain/ /usr/local/rustup/toolchains/$toolchain/
RUN set -e; cd /usr/local/cargo/bin; \\
    for tool in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt rust-gdb rust-lldb; do \\
      ln -f rustup "\$tool"; \\
    done; \\
    rustup set auto-self-update disable >/dev/null 2>&1 || true; \\
    rustup default $toolchain; \\
    cargo --version; rustc --version
LABEL org.opencontainers.image.description="$(rustc --version) on Debian $suite, built locally by scripts/docker-base-images.sh"
EOF
  if ! docker build -q -t "$rust_tag" "$ctx" >"$work/rust-build.log" 2>&1; then
    tail -n 30 "$work/rust-build.log" >&2
    die "building $rust_tag failed"
  fi
fi

size_of() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }
say "ready in $((SECONDS - started))s: $slim_tag $(size_of "$slim_tag"), $rust_tag $(size_of "$rust_tag")"
