#!/usr/bin/env bash
# Installs what the tests need and this machine lacks (the first step of scripts/test.sh, so the
# README's test command is the whole set-up on a fresh Debian machine):
#   Debian packages: build tools, PostgreSQL, Redis, Python's venv, Node.js with npm, Chromium;
#   crates.io: tansu 0.6.0, the Kafka-compatible broker of the distributed end-to-end test
#   (built once, ~15 minutes on 2 cores).
# What is already there is left alone. Packages need root (or sudo).
set -euo pipefail

SUDO=
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi
missing=()
need() { command -v "$1" >/dev/null || missing+=("$2"); }
need cc build-essential
need make build-essential
need pkg-config pkg-config
need curl curl
need pg_isready postgresql
need redis-server redis-server
need chromium chromium
need node nodejs
need npm npm
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)

fresh_postgres=no
if [ ${#missing[@]} -gt 0 ]; then
    # One package at a time: Debian's chromium and nodejs may not install in one transaction on
    # every machine (held packages), and each failure then names its package.
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "install-test-deps.sh: installing ${missing[*]} from Debian" >&2
    $SUDO apt-get update -qq
    for package in "${missing[@]}"; do
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
        [ "$package" = postgresql ] && fresh_postgres=yes
    done
fi

# A PostgreSQL cluster installed just now: the tests connect as postgres over TCP without a
# password (VISION_TEST_POSTGRES_URL overrides it) and use the database `test`.
if [ "$fresh_postgres" = yes ]; then
    scripts_dir=$(dirname "$0")
    "$scripts_dir/services.sh" >/dev/null 2>&1 || true
    version=$(ls /etc/postgresql | sort -n | tail -n 1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    if ! $SUDO grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        $SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload ||
            $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
    $SUDO runuser -u postgres -- psql -q -tc "SELECT 1 FROM pg_database WHERE datname = 'test'" |
        grep -q 1 || $SUDO runuser -u postgres -- createdb test
fi

node_version=$(node -p 'process.versions.node')
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "install-test-deps.sh: Node.js $node_version is too old for the dashboard (Vite needs >= 20.19);" >&2
    echo "install Debian 13's nodejs or NodeSource's nodejs 20/22 and run again." >&2
    exit 1
fi

if ! command -v tansu >/dev/null && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
    echo "install-test-deps.sh: building tansu 0.6.0 from crates.io (once, ~15 min)" >&2
    cargo install tansu --version 0.6.0 --locked --features dynostore
fi
