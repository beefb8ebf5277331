#!/usr/bin/env bash
# Container tests, run by hand (too slow and too heavy for CI): build the Dockerfile with podman and
# run the image as the README's recipe does (a read-only configuration with a root-owned private key
# readable by group 1000, a writable DKIM key directory and `dkim keygen` in the container, the spool
# volume, the HEALTHCHECK on a non-default metrics port, a real submission, SIGHUP, `podman stop`),
# then run systemd/smarthost.service under a real systemd in a container as docs/operations.md
# installs it (Node.js outside /usr/bin with the documented drop-in; readiness with Type=notify, the
# unit's hardening in force, binding 587/465 with only CAP_NET_BIND_SERVICE; journal priorities and
# the documented journalctl and jq commands; the queue commands' lines in the journal; reload,
# restarts, a clean stop).
#
#   test/container/run.sh            both parts
#   test/container/run.sh image      the image only
#   test/container/run.sh systemd    the systemd unit only (builds the image first if missing)
#   CONTAINER_PREFIX=NAME ...        name the images and containers NAME-… (default smarthost)
#
# Needs podman and runc (installed by the base-image script below), swaks on the host, root.
# The containers share the host's network: everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TOOLS=${CONTAINER_TOOLS:-$ROOT/../shared/tools/container-images}
PART=${1:-all}
PREFIX=${CONTAINER_PREFIX:-smarthost}
IMAGE=$PREFIX-test
SD_IMAGE=$PREFIX-systemd-test
NAME=$PREFIX-ct
SD_NAME=$PREFIX-sd

R=$("$TOOLS" --print runtime)
B=$("$TOOLS" --print build)
RUN=$("$TOOLS" --print run)
pod() { podman $R "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }

WORK=$(mktemp -d)
cleanup() {
  podman rm -f --ignore "$NAME" "$NAME-rootkey" >/dev/null 2>&1 || true
  podman rm -f --ignore "$SD_NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    echo "ok   - $what"
    passed=$((passed + 1))
  else
    echo "FAIL - $what"
    failed=$((failed + 1))
  fi
}

free_port() { ! ss -ltnH "sport = :$1" | grep -q .; }

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

submit() { # submit PORT USER PASSWORD -> prints the last server reply
  swaks --server "127.0.0.1:$1" --tls --auth PLAIN --auth-user "$2" --auth-password "$3" \
    --from app@example.com --to someone@example.net --header 'Subject: container test' \
    --hide-all --output-file-stderr /dev/null >/dev/null 2>&1
}

write_config() { # write_config DIR SUBMISSION SUBMISSIONS METRICS
  mkdir -p "$1/tls" "$1/dkim"
  cp test/fixtures/tls/cert.pem "$1/tls/cert.pem"
  cp test/fixtures/tls/key.pem "$1/tls/key.pem"
  cat >"$1/smarthost.yaml" <<EOF
hostname: relay.test
tls: { cert: /etc/smarthost/tls/cert.pem, key: /etc/smarthost/tls/key.pem }
listen: { submission: ["127.0.0.1:$2"], submissions: ["127.0.0.1:$3"] }
delivery: { routes: { "*": "127.0.0.1:1" } }
dkim:
  keyDir: /etc/smarthost/dkim
  keys: []
metrics: { listen: "127.0.0.1:$4" }
EOF
}

# The README's recipe: configuration and key root-owned, readable by group 1000; the DKIM key
# directory and the spool owned by uid 1000.
recipe_modes() { # recipe_modes ETC SPOOL
  chown root:root "$1" "$1/tls" && chmod 0755 "$1" "$1/tls"
  chown root:1000 "$1/smarthost.yaml" "$1/tls/key.pem" && chmod 0640 "$1/smarthost.yaml" "$1/tls/key.pem"
  chmod 0644 "$1/tls/cert.pem"
  chown 1000:1000 "$1/dkim" "$2" && chmod 0700 "$1/dkim" "$2"
}

build_image() {
  "$TOOLS" --node 24 >/dev/null
  local start=$SECONDS
  pod build $B -t "$IMAGE" . >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; return 1; }
  echo "# image built in $((SECONDS - start)) s; size $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}')"
}

first_free() { # first_free PORT... -> the first port nothing listens on
  local port
  for port in "$@"; do free_port "$port" && { echo "$port"; return 0; }; done
  return 1
}

keygen_in_container() { pod exec "$NAME" smarthost dkim keygen example.com --selector ct1 --algorithm ed25519 >"$WORK/keygen.log"; }

test_image() {
  echo "# the image, run as the README's recipe says"
  local etc=$WORK/etc spool=$WORK/spool metrics
  # Not the default 9587: the HEALTHCHECK must follow metrics.listen.
  metrics=$(first_free 19587 19588 19589) || { echo "no free metrics port"; return 1; }
  write_config "$etc" 12587 12465 "$metrics"
  mkdir -p "$spool"

  # A private key that only root may read: the daemon (uid 1000) cannot, and says so.
  recipe_modes "$etc" "$spool"
  chown root:root "$etc/tls/key.pem" && chmod 0600 "$etc/tls/key.pem"
  pod run --name "$NAME-rootkey" $RUN -v "$etc:/etc/smarthost:ro" -v "$spool:/var/lib/smarthost" "$IMAGE" >"$WORK/rootkey.log" 2>&1
  check "a 0600 root-owned key: exit 78, naming tls.key (permission denied)" sh -c \
    "test \"\$(podman inspect $NAME-rootkey --format '{{.State.ExitCode}}')\" = 78 && grep -q 'tls.key.*permission denied' '$WORK/rootkey.log'"
  pod rm -f "$NAME-rootkey" >/dev/null

  recipe_modes "$etc" "$spool"
  pod run -d --name "$NAME" $RUN -v "$etc:/etc/smarthost:ro" -v "$etc/dkim:/etc/smarthost/dkim" -v "$spool:/var/lib/smarthost" "$IMAGE" >/dev/null
  check "HEALTHCHECK (smarthost healthcheck) turns healthy, metrics on port $metrics" wait_for 30 pod healthcheck run "$NAME"
  check "runs as the unprivileged node user" test "$(pod exec "$NAME" id -u)" = 1000
  echo 'pw-container-test' | pod exec -i "$NAME" smarthost user add app --allow @example.com --password-stdin >/dev/null
  check "a message submitted on the mapped port is accepted" submit 12587 app pw-container-test
  check "smarthost status inside the container sees the daemon" pod exec "$NAME" smarthost status
  check "dkim keygen inside the container writes to the DKIM directory (config read-only)" keygen_in_container
  check "the key is on the host, owned by uid 1000, mode 0600" test "$(stat -c '%u %a' "$etc/dkim/example.com.ct1.key" 2>/dev/null)" = "1000 600"
  # The entry keygen printed, added on the host as the README says, then a reload.
  sed -i 's|^  keys: \[\]$|  keys: [{ domain: example.com, selector: ct1, algorithm: ed25519, privateKey: /etc/smarthost/dkim/example.com.ct1.key }]|' "$etc/smarthost.yaml"
  pod kill --signal HUP "$NAME" >/dev/null
  check "SIGHUP reloads the configuration" wait_for 10 sh -c "podman logs $NAME 2>&1 | grep -q '\"configuration reloaded\"'"
  check "the new key is in use after the reload" sh -c "podman $R exec $NAME smarthost dkim list | grep -q 'example.com	ct1	ed25519	.*active'"
  local start=$SECONDS
  pod stop -t 20 "$NAME" >/dev/null
  local took=$((SECONDS - start)) code
  code=$(podman inspect "$NAME" --format '{{.State.ExitCode}}')
  echo "# podman stop took ${took} s, exit status $code"
  check "podman stop: the daemon exits by itself, status 0" test "$code" = 0 -a "$took" -lt 15
  check "the spool is on the volume" test -s "$spool/spool.db"
  pod rm -f "$NAME" >/dev/null
}

build_systemd_image() {
  local ctx=$WORK/sd
  mkdir -p "$ctx"
  cp systemd/smarthost.service "$ctx/"
  if free_port 587 && free_port 465; then SD_PORTS=(587 465); else SD_PORTS=(13587 13465); fi
  SD_METRICS=$(first_free 9587 19597 19598) || { echo "no free metrics port"; return 1; }
  write_config "$ctx/etc" "${SD_PORTS[0]}" "${SD_PORTS[1]}" "$SD_METRICS"
  # Node.js is at /usr/local/bin/node here, as with the official tarball: the drop-in from
  # docs/operations.md points the unit at it (no /usr/bin/node).
  mkdir -p "$ctx/smarthost.service.d"
  cat >"$ctx/smarthost.service.d/node.conf" <<EOF
[Service]
ExecStart=
ExecStart=/usr/local/bin/node /opt/smarthost/bin/smarthost.js serve --config /etc/smarthost/smarthost.yaml
EOF
  cat >"$ctx/Dockerfile" <<EOF
FROM localhost/$IMAGE AS app
FROM node:24-bookworm-slim
# procps: /bin/kill, for ExecReload (every Debian host has it; the slim image does not); jq for the
# documented journalctl | jq example.
RUN apt-get update && apt-get install -y --no-install-recommends systemd systemd-sysv procps jq && rm -rf /var/lib/apt/lists/*
COPY --from=app /opt/smarthost /opt/smarthost
COPY smarthost.service /etc/systemd/system/smarthost.service
COPY smarthost.service.d /etc/systemd/system/smarthost.service.d
COPY etc /etc/smarthost
RUN ln -s /opt/smarthost/bin/smarthost.js /usr/local/bin/smarthost \\
 && useradd --system --home-dir /var/lib/smarthost --shell /usr/sbin/nologin smarthost \\
 && chgrp smarthost /etc/smarthost/tls/key.pem && chmod 0640 /etc/smarthost/tls/key.pem \\
 && systemctl enable smarthost.service
CMD ["/sbin/init"]
EOF
  pod build $B -t "$SD_IMAGE" "$ctx" >"$WORK/sd-build.log" 2>&1 || { tail -30 "$WORK/sd-build.log"; return 1; }
}

sd() { pod exec -i "$SD_NAME" "$@"; }

journal_has() { # journal_has PATTERN [JOURNALCTL-ARGS...]: a line of the unit's journal matches
  local pattern=$1
  shift
  podman $R exec "$SD_NAME" journalctl -u smarthost -o cat --no-pager "$@" | grep -q -- "$pattern"
}

jq_finds_accepted() { # docs/operations.md's jq example, as printed there, finds the accepted line
  podman $R exec "$SD_NAME" sh -c "journalctl -u smarthost -o cat | jq -cR 'fromjson? | select(.msg == \"accepted\")'" |
    grep -q '"user":"app"'
}

no_info_at_err() { ! journal_has '"level":"info"' -p err; }

test_systemd() {
  echo "# systemd/smarthost.service under systemd as PID 1"
  podman image exists "$IMAGE" || build_image
  build_systemd_image
  pod run -d --privileged --systemd=always $RUN --name "$SD_NAME" "$SD_IMAGE" >/dev/null
  check "Type=notify: the unit becomes active (READY=1 from the daemon)" wait_for 60 sh -c "podman $R exec $SD_NAME systemctl is-active smarthost | grep -qx active"
  sd systemctl show smarthost -p MainPID -p User -p NRestarts -p StatusText | sed 's/^/# /'
  local pid
  pid=$(sd systemctl show smarthost -p MainPID --value)
  check "the daemon runs as the smarthost user" test "$(sd stat -c %U "/proc/$pid")" = smarthost
  check "with CAP_NET_BIND_SERVICE only" sh -c "podman $R exec $SD_NAME grep -E '^CapEff' /proc/$pid/status | grep -q '0000000000000400'"
  check "state and configuration directories were created" sd test -d /var/lib/smarthost -a -f /var/lib/smarthost/spool.db
  echo 'pw-systemd-test' | sd runuser -u smarthost -- smarthost user add app --allow @example.com --password-stdin >/dev/null
  check "bound ${SD_PORTS[0]} with CAP_NET_BIND_SERVICE only; a message is accepted" submit "${SD_PORTS[0]}" app pw-systemd-test
  check "journald has the daemon's log line for it" sh -c "podman $R exec $SD_NAME journalctl -u smarthost -o cat | grep -q accepted"
  check "under the identifier smarthost (SyslogIdentifier), at priority info" \
    journal_has '"msg":"accepted"' -t smarthost -p info..info
  check "the documented jq example works (systemd's own lines skipped)" jq_finds_accepted
  # A queue command's change, in the daemon's log with the Unix user who ran it.
  sd runuser -u smarthost -- smarthost queue hold --all >/dev/null
  check "queue hold --all: an 'admin hold' line in the journal, by the user smarthost" \
    wait_for 10 journal_has '"by":"smarthost","uid":[0-9]*,"at":"[^"]*","msg":"admin hold"'
  # An error the daemon writes: a reload of a broken configuration is refused (level error).
  sd cp /etc/smarthost/smarthost.yaml /etc/smarthost/smarthost.yaml.good
  sd sh -c 'echo "limits: { maxMesageSize: 1 }" >> /etc/smarthost/smarthost.yaml'
  sd systemctl reload smarthost
  check "journalctl -p err finds the daemon's error line (reload refused)" wait_for 10 journal_has 'reload refused' -p err
  check "and only errors: no info line at -p err" no_info_at_err
  sd mv /etc/smarthost/smarthost.yaml.good /etc/smarthost/smarthost.yaml
  sd systemctl reload smarthost
  check "systemctl reload (SIGHUP) reloads the configuration" wait_for 10 sh -c "podman $R exec $SD_NAME journalctl -u smarthost -o cat | grep -q 'configuration reloaded'"
  check "still active after the reload" sh -c "podman $R exec $SD_NAME systemctl is-active smarthost | grep -qx active"
  local i ok=0
  for i in 1 2 3 4 5; do
    # reset-failed: five restarts in a few seconds would otherwise hit systemd's start rate limit
    sd systemctl reset-failed smarthost
    sd systemctl restart smarthost && sd systemctl is-active --quiet smarthost && ok=$((ok + 1))
  done
  check "5 restarts, each reached active (systemctl waits for READY=1): $ok/5" test "$ok" = 5
  sd systemd-analyze security smarthost --no-pager | tail -1 | sed 's/^/# /'
  sd systemctl stop smarthost
  check "systemctl stop: a clean exit (status 0, Result=success)" sh -c "podman $R exec $SD_NAME systemctl show smarthost -p Result -p ExecMainStatus | tr '\n' ' ' | grep -q 'Result=success ExecMainStatus=0'"
  sd journalctl -u smarthost -o cat --no-pager | grep -E '"msg":"(ready|shutting down|stopped)"' | tail -3 | cut -c1-160 | sed 's/^/# /'
  pod rm -f "$SD_NAME" >/dev/null
}

case $PART in
  image) build_image && test_image ;;
  systemd) test_systemd ;;
  all) build_image && test_image && test_systemd ;;
  *) echo "usage: $0 [all|image|systemd]" >&2; exit 2 ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
