# Sourced by cross/build and cross/test: what each target needs, installed when missing, and
# the cargo environment that builds (and runs) for it. Everything goes through the
# environment, so a plain native `cargo build` / `cargo test` is untouched.
# shellcheck shell=bash disable=SC2034  # the variables set here are for the callers

say() { printf 'cross: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

TARGETS="aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf x86_64-unknown-linux-musl"

# package_target ARCH|TRIPLE: sets TARGET and DEB_ARCH (Debian's name for it), for cross/deb
# and cross/tarball, which take either.
package_target() {
  case "$1" in
    arm64 | aarch64-unknown-linux-musl) TARGET=aarch64-unknown-linux-musl DEB_ARCH=arm64 ;;
    armhf | armv7-unknown-linux-gnueabihf) TARGET=armv7-unknown-linux-gnueabihf DEB_ARCH=armhf ;;
    amd64 | x86_64-unknown-linux-musl) TARGET=x86_64-unknown-linux-musl DEB_ARCH=amd64 ;;
    *) die "unknown arch or target '$1' (arm64, armhf, amd64, or one of: $TARGETS)" ;;
  esac
}

# pkg_assets DIR: the shell completions and man pages, generated from the CLI's clap
# definitions by examples/pkg-assets.rs (built for this machine), into DIR (emptied first).
pkg_assets() {
  say "completions and man pages (cargo run --example pkg-assets)"
  rm -rf "$1"
  cargo run --locked --quiet --example pkg-assets -- "$1" >/dev/null
}

# source_date_epoch: exports SOURCE_DATE_EPOCH, by default the last commit's time, so that the
# same commit gives the same package.
source_date_epoch() {
  if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
  fi
  export SOURCE_DATE_EPOCH
}

# setup_target TRIPLE: sets TRIPLE_UP, QEMU (empty for the host's arch), APT_PKGS, and exports
# the CARGO_TARGET_<T>_* variables.
setup_target() {
  local t=$1
  TRIPLE_UP=$(printf '%s' "$t" | tr 'a-z-' 'A-Z_')
  case "$t" in
    aarch64-unknown-linux-musl)
      # musl's libc, crt objects and libunwind come with Rust's target (self-contained
      # linking); the cross gcc only drives the link and brings libgcc.
      LINKER=aarch64-linux-gnu-gcc
      APT_PKGS="gcc-aarch64-linux-gnu"
      QEMU=qemu-aarch64-static BINFMT=qemu-aarch64
      RUSTFLAGS_T=""
      ;;
    armv7-unknown-linux-gnueabihf)
      # glibc, linked statically: the recorder's own libc (whatever the vendor shipped) is
      # never loaded. clipwarden does no NSS lookups (src/users.rs reads /etc/passwd itself),
      # which is what makes a static glibc binary safe to run on another system.
      # The libc crate's 32-bit glibc types (off_t, ino_t, time_t, fsblkcnt_t) are 32 bits
      # wide; src/fsx.rs therefore takes stat and statfs from rustix, whose raw syscalls
      # (statx, statfs64) give 64-bit sizes, inodes, times and block counts on every target.
      LINKER=arm-linux-gnueabihf-gcc
      APT_PKGS="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"
      QEMU=qemu-arm-static BINFMT=qemu-arm
      RUSTFLAGS_T="-C target-feature=+crt-static"
      ;;
    x86_64-unknown-linux-musl)
      # Self-contained musl; the host's cc drives the link. Runs natively, no emulator.
      LINKER=cc
      APT_PKGS="gcc"
      QEMU="" BINFMT=""
      RUSTFLAGS_T=""
      ;;
    *) die "unknown target '$t' (one of: $TARGETS)" ;;
  esac
  export "CARGO_TARGET_${TRIPLE_UP}_LINKER=$LINKER"
  if [ -n "$RUSTFLAGS_T" ]; then
    # Per-target flags reach only the target's artefacts, never build scripts or proc macros.
    export "CARGO_TARGET_${TRIPLE_UP}_RUSTFLAGS=$RUSTFLAGS_T"
  fi
}

apt_install() { # packages...
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  command -v apt-get >/dev/null || die "need Debian packages ${missing[*]}, and there is no apt-get"
  apt-get update -qq >&2 || die "apt-get update failed"
  local log
  log=$(mktemp)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; die "apt-get install ${missing[*]} failed"; }
  rm -f "$log"
}

# ensure_toolchain TRIPLE [qemu]: the Rust target, the linker, and (with qemu) the emulator.
ensure_toolchain() {
  local t=$1
  if ! rustup target list --installed 2>/dev/null | grep -qx "$t"; then
    say "rustup target add $t"
    rustup target add "$t" >&2
  fi
  # shellcheck disable=SC2086
  apt_install $APT_PKGS
  if [ "${2:-}" = qemu ] && [ -n "$QEMU" ]; then
    apt_install qemu-user-static
  fi
}

# check_static FILE: no program interpreter and no shared libraries.
check_static() {
  local f=$1 bad
  bad=$(readelf -lW "$f" | grep -i 'program interpreter' || true)
  bad+=$(readelf -dW "$f" | grep -E '\((NEEDED|INTERP)\)' || true)
  if [ -n "$bad" ]; then
    die "$f is not static: $bad"
  fi
}
