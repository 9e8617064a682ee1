#!/usr/bin/env bash
# Pakat's front door on a Debian/Ubuntu machine.
#
#   ./dev.sh start    set up, then run the dev PKI, Redis, the web app and a worker
#   ./dev.sh test     set up, then ruff, mypy and the whole pytest suite
#   ./dev.sh stop     stop what `start` started
#   ./dev.sh status   show what is running
#   ./dev.sh setup    only set up (system packages, .venv, dev PKI)
#
# Setup is idempotent: system packages are installed only when missing, .venv is
# created only when absent, pip runs only when pyproject.toml changed since the
# last install, and the dev PKI is initialised only once.
#
# Environment: PAKAT_HOME (default ./var), and the ports `start` listens on, so that
# two checkouts can run side by side (each with its own PAKAT_HOME, as ./var is):
#   PAKAT_PORT        the web service (default 8000)
#   PAKAT_REDIS_PORT  our own Redis (default 6390; used only when REDIS_URL is unset)
#   PAKAT_PKI_PORT    the dev PKI's OCSP/CRL/TSA responders (default 8390, or the port
#                     PAKAT_HOME's PKI was made for: the port is inside its certificates)
# `start` refuses a port another program holds, and reports ready only once the
# process listening on each port is the one it started.
set -Eeuo pipefail
# Everything this script creates under PAKAT_HOME (logs, pid files, Redis's dump, the dev PKI) is the
# owner's only, as the state Pakat itself writes; code (system packages, .venv) is installed under 022.
umask 077

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

export PAKAT_HOME="${PAKAT_HOME:-$ROOT/var}"
VENV="$ROOT/.venv"
RUN_DIR="$PAKAT_HOME/run"
LOG_DIR="$PAKAT_HOME/log"
STAMP="$PAKAT_HOME/.install-stamp"
HOST=127.0.0.1
WEB_PORT="${PAKAT_PORT:-8000}"
SYSTEM_PACKAGES=(softhsm2 redis-server poppler-utils libnss3-tools python3-venv python3-dev build-essential curl ca-certificates)
# Only the tests need a real browser (the /validate page is checked in headless Chromium) and
# PostgreSQL's binaries (they start a throwaway cluster of their own; Debian's on 5432 goes unused).
# Pakat Signer's window tests run under Xvfb, typed into with xdotool; ImageMagick's `import` takes screenshots.
# systemd-analyze checks the production units under packaging/systemd.
# iproute2: `ip netns` makes the hosts of the multi-host test.
TEST_SYSTEM_PACKAGES=(chromium chromium-driver postgresql xvfb xdotool imagemagick systemd iproute2)

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
die() { printf '\ndev.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- setup ----

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        # Without a terminal (CI) sudo must not wait for a password nobody will type.
        if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
    else
        die "need root to run: $* (install sudo or run as root)"
    fi
}

missing_system_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$pkg"
    done
}

apt_install() {
    step "Installing system packages: $*"
    (
        umask 022  # packages' own scripts create files other users read
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
    )
}

# $@: extra packages beyond SYSTEM_PACKAGES.
ensure_system_packages() {
    local wanted=("${SYSTEM_PACKAGES[@]}" "$@")
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "Not a Debian/Ubuntu system: install ${wanted[*]} yourself."
        return
    fi
    local missing
    mapfile -t missing < <(missing_system_packages "${wanted[@]}")
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
}

# The newest python3.x >= 3.11 on PATH.
find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        return
    fi
    local python
    if ! python=$(find_python); then
        command -v apt-get >/dev/null 2>&1 || die "Python 3.11 or newer is needed"
        apt_install python3.11 python3.11-venv python3.11-dev
        python=$(find_python) || die "Python 3.11 or newer is needed"
    fi
    # Debian splits ensurepip out of the interpreter: venv needs python3.X-venv.
    if ! "$python" -c 'import ensurepip' 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
        apt_install "$(basename "$python" | grep -Eo 'python3(\.[0-9]+)?')-venv"
    fi
    step "Creating .venv with $python"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    rm -f "$STAMP"
}

install_stamp() {
    { sha256sum pyproject.toml; "$VENV/bin/python" -VV; } | sha256sum | cut -d' ' -f1
}

ensure_python_packages() {
    mkdir -p "$PAKAT_HOME"
    local want
    want=$(install_stamp)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/pakat" ]; then
        return
    fi
    step "Installing Pakat and its test tools into .venv"
    (
        umask 022  # code, not state
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[test]'
    )
    printf '%s\n' "$want" >"$STAMP"
}

ensure_dev_pki() {
    step "Dev PKI and SoftHSM tokens (pakat devpki init)"
    local port_option=()
    [ -z "${PAKAT_PKI_PORT:-}" ] || port_option=(--port "$PAKAT_PKI_PORT")
    "$VENV/bin/pakat" devpki init --dir "$PAKAT_HOME" "${port_option[@]}"
}

ensure_sample_pdf() {
    [ -f "$PAKAT_HOME/sample.pdf" ] && return
    "$VENV/bin/python" - "$PAKAT_HOME/sample.pdf" <<'PY'
import sys

import pikepdf

pdf = pikepdf.new()
page = pdf.add_blank_page(page_size=(595, 842))
page.Resources = pikepdf.Dictionary(
    Font=pikepdf.Dictionary(F1=pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                   BaseFont=pikepdf.Name.Helvetica)))
page.Contents = pdf.make_stream(b"BT /F1 24 Tf 72 760 Td (Pakat sample envelope) Tj ET")
pdf.save(sys.argv[1])
PY
}

# $@: extra system packages (the tests' browser).
setup() {
    ensure_system_packages "$@"
    (umask 022; ensure_venv)  # code, not state
    ensure_python_packages
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    # Folders a dev.sh older than the umask above made 0755: closing them closes what they hold.
    chmod go= "$PAKAT_HOME" "$RUN_DIR" "$LOG_DIR"
    ensure_dev_pki
    ensure_sample_pdf
}

# ------------------------------------------------------------- services ----

# A pid file is trusted only while its process still runs what we started
# (pids are reused); $2 is a word its command line must contain.
running_pid() {
    local name=$1 marker=$2 pid
    [ -f "$RUN_DIR/$name.pid" ] || return 1
    pid=$(cat "$RUN_DIR/$name.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$marker" || return 1
    printf '%s\n' "$pid"
}

start_service() {
    local name=$1 marker=$2
    shift 2
    local pid
    if pid=$(running_pid "$name" "$marker"); then
        say "$name: already running (pid $pid)"
        return
    fi
    # setsid: the service outlives this script and a Ctrl-C in this terminal.
    setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$RUN_DIR/$name.pid"
    say "$name: started (pid $!, log ${LOG_DIR#"$ROOT"/}/$name.log)"
}

stop_service() {
    local name=$1 marker=$2 pid
    if ! pid=$(running_pid "$name" "$marker"); then
        rm -f "$RUN_DIR/$name.pid"
        return
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name: did not stop in 10 s, killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$name.pid"
    say "$name: stopped"
}

port_busy() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Whether process $1 holds the socket listening on TCP port $2 (read from /proc:
# another program's answer on the port must not pass for our service's).
owns_listener() {
    "$VENV/bin/python" - "$1" "$2" <<'PY'
import os
import sys

pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        fields = row.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            inodes.add(f"socket:[{fields[9]}]")
held = set()
try:
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            held.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
except OSError:
    sys.exit(1)
sys.exit(0 if inodes & held else 1)
PY
}

# $1 the service, $2 the port it is to listen on, $3 the variable that moves that port.
refuse_taken_port() {
    port_busy "$2" || return 0
    die "port $2 ($1) is taken by another program; stop it, or give this checkout another port: $3=<free port> ./dev.sh start"
}

# Ready when $url answers and the process we started ($name's pid file) is the one
# listening on $port: a 200 from another program on that port does not count.
wait_for_url() {
    local name=$1 url=$2 marker=$3 port=$4 variable=$5 pid
    for _ in $(seq 1 120); do
        if ! pid=$(running_pid "$name" "$marker"); then
            tail -n 30 "$LOG_DIR/$name.log" >&2 || true
            die "$name exited while starting (is port $port taken? $variable moves it); see ${LOG_DIR#"$ROOT"/}/$name.log"
        fi
        if curl -fsS -o /dev/null "$url" 2>/dev/null && owns_listener "$pid" "$port"; then
            return 0
        fi
        sleep 0.5
    done
    tail -n 30 "$LOG_DIR/$name.log" >&2 || true
    die "$name (pid $pid) did not answer $url on its own port $port within 60 s; $variable moves it"
}

# The port in a URL (http://host:port/…).
url_port() {
    "$VENV/bin/python" -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).port)' "$1"
}

start_redis() {
    if [ -n "${REDIS_URL:-}" ]; then
        say "redis: using REDIS_URL from the environment"
        return
    fi
    local port pid
    if ! running_pid redis redis-server >/dev/null; then
        port=${PAKAT_REDIS_PORT:-6390}
        refuse_taken_port redis "$port" PAKAT_REDIS_PORT
        mkdir -p "$PAKAT_HOME/redis"
        printf '%s\n' "$port" >"$RUN_DIR/redis.port"
        start_service redis redis-server redis-server --bind "$HOST" --port "$port" \
            --dir "$PAKAT_HOME/redis" --save 60 1 --appendonly no --daemonize no
    else
        say "redis: already running (port $(cat "$RUN_DIR/redis.port"))"
    fi
    port=$(cat "$RUN_DIR/redis.port")
    export REDIS_URL="redis://$HOST:$port/0"
    for _ in $(seq 1 100); do
        pid=$(running_pid redis redis-server) ||
            die "redis exited while starting (is port $port taken? PAKAT_REDIS_PORT moves it); see ${LOG_DIR#"$ROOT"/}/redis.log"
        owns_listener "$pid" "$port" && return 0
        sleep 0.1
    done
    die "redis (pid $pid) did not listen on its port $port; see ${LOG_DIR#"$ROOT"/}/redis.log"
}

# One field of `pakat devpki info --json`, by its keys: dev_info services healthz
dev_info() {
    "$VENV/bin/pakat" devpki info --dir "$PAKAT_HOME" --json | "$VENV/bin/python" -c '
import functools, json, sys
print(functools.reduce(lambda node, key: node[key], sys.argv[1:], json.load(sys.stdin)))' "$@"
}

print_next_steps() {
    local url="http://$HOST:$WEB_PORT" org=demo-co api_key home env_prefix=""
    api_key=$(dev_info organisations "$org" api_key)
    home=${PAKAT_HOME#"$ROOT"/}
    # `pakat` finds ./var by itself; any other home has to be named.
    [ "$home" = var ] || env_prefix="PAKAT_HOME=$PAKAT_HOME "
    cat <<EOF

پاکت آماده است / Pakat is ready: $url/

مهر کردن یک PDF نمونه با API / Seal a sample PDF through the API:
  curl -fsS -H "Authorization: Bearer $api_key" -F pdf=@$home/sample.pdf -F level=B-LTA -o $home/sample-sealed.pdf $url/api/v1/seal

همان کار از خط فرمان / The same from the command line:
  ${env_prefix}.venv/bin/pakat seal $home/sample.pdf -o $home/sample-sealed-cli.pdf --org $org --level B-LTA

دیدن امضا / Look at the signature:   pdfsig $home/sample-sealed.pdf
گزارش‌ها / Logs:                      $home/log/
توقف / Stop:                          ${env_prefix}./dev.sh stop
EOF
}

start() {
    setup
    step "Starting services"
    local pki_healthz pki_port
    pki_healthz=$(dev_info services healthz)
    pki_port=$(url_port "$pki_healthz")  # the port PAKAT_HOME's certificates name
    running_pid pki "devpki serve" >/dev/null || refuse_taken_port "dev PKI responders" "$pki_port" PAKAT_PKI_PORT
    start_service pki "devpki serve" "$VENV/bin/pakat" devpki serve --dir "$PAKAT_HOME"
    wait_for_url pki "$pki_healthz" "devpki serve" "$pki_port" PAKAT_PKI_PORT
    start_redis
    running_pid web "pakat serve" >/dev/null || refuse_taken_port web "$WEB_PORT" PAKAT_PORT
    # The dev PKI's demo-expired seal is expired on purpose: /readyz shows it without failing on it.
    export PAKAT_READY_OPTIONAL="${PAKAT_READY_OPTIONAL-demo-expired}"
    start_service web "pakat serve" "$VENV/bin/pakat" serve --host "$HOST" --port "$WEB_PORT"
    start_service worker "pakat worker" env REDIS_URL="$REDIS_URL" "$VENV/bin/pakat" worker
    wait_for_url web "http://$HOST:$WEB_PORT/healthz" "pakat serve" "$WEB_PORT" PAKAT_PORT
    print_next_steps
}

stop() {
    stop_service worker "pakat worker"
    stop_service web "pakat serve"
    stop_service redis redis-server
    stop_service pki "devpki serve"
}

status() {
    local entry name marker pid
    for entry in "pki:devpki serve" "redis:redis-server" "web:pakat serve" "worker:pakat worker"; do
        name=${entry%%:*}
        marker=${entry#*:}
        if pid=$(running_pid "$name" "$marker"); then
            say "$name: running (pid $pid)"
        else
            say "$name: stopped"
        fi
    done
}

# ---------------------------------------------------------------- tests ----

run_tests() {
    setup "${TEST_SYSTEM_PACKAGES[@]}"
    local failed=() rc
    step "ruff check"
    "$VENV/bin/ruff" check . || failed+=(ruff)
    step "mypy"
    "$VENV/bin/mypy" || failed+=(mypy)
    step "pytest"
    rc=0
    # Two processes (PAKAT_TEST_PROCESSES), each taking whole test files: most tests wait on servers,
    # subprocesses and browsers, so two cores hold two of them; a file's module fixtures stay in one process.
    "$VENV/bin/pytest" -n "${PAKAT_TEST_PROCESSES:-2}" --dist loadfile "$@" || rc=$?
    case $rc in
        0) ;;
        5) say "pytest collected no test: that is a failure here"; failed+=("pytest (no tests)") ;;
        *) failed+=(pytest) ;;
    esac
    if [ "${#failed[@]}" -gt 0 ]; then
        printf '\nFAILED: %s\n' "${failed[*]}" >&2
        exit 1
    fi
    printf '\nAll checks passed: ruff, mypy, pytest.\n'
}

usage() {
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
}

command=${1:-}
[ $# -gt 0 ] && shift
case $command in
    start) start ;;
    stop) stop ;;
    status) status ;;
    setup) setup ;;
    test) run_tests "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
