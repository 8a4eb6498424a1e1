#!/bin/bash
# vision-probe [PATH]: asks the vision process in this container for PATH (default /ready) and
# exits 0 when it answers HTTP 200, 1 otherwise. Needs only bash (its /dev/tcp redirection), so
# the image carries no curl. Used by the image's HEALTHCHECK and by deploy/docker-compose.yml.
#
# The port is the one of VISION_ADDR (0.0.0.0:8080 in the image); VISION_PROBE_HOST and
# VISION_PROBE_PORT override host and port.
set -u

path="${1:-/ready}"
host="${VISION_PROBE_HOST:-127.0.0.1}"
addr="${VISION_ADDR:-0.0.0.0:8080}"
port="${VISION_PROBE_PORT:-${addr##*:}}"
timeout_s="${VISION_PROBE_TIMEOUT:-4}"

if ! exec 3<>"/dev/tcp/${host}/${port}"; then
    echo "vision-probe: cannot connect to ${host}:${port}" >&2
    exit 1
fi
printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: vision-probe\r\nConnection: close\r\n\r\n' \
    "$path" >&3
if ! IFS= read -r -t "$timeout_s" status <&3; then
    echo "vision-probe: no answer from ${host}:${port}${path} within ${timeout_s}s" >&2
    exit 1
fi
exec 3<&-
status="${status%$'\r'}"
case "$status" in
    "HTTP/1."[01]" 200"*) exit 0 ;;
    *)
        echo "vision-probe: ${path}: ${status}" >&2
        exit 1
        ;;
esac
