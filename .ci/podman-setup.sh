#!/usr/bin/env bash
# Start podman's Docker-compatible API service and a small registry-free image for the docker
# sandbox backend's tests. Idempotent: a second run reuses the running service and the image.
#
#   apt-get install -y podman runc        # done by .ci/run, not here
#   eval "$(.ci/podman-setup.sh /tmp/srft-podman)"
#   pytest tests/sandbox                  # the docker tests now run for real
#   .ci/podman-setup.sh /tmp/srft-podman --stop   # when done: stop the service, remove
#                                                 # sandbox containers, unmount the storage
#
# Everything podman keeps (config, image storage, socket, logs) lives under the given folder.
# Only `export` lines go to stdout; progress goes to stderr.
set -euo pipefail

DIR="$(mkdir -p "${1:-/tmp/srft-podman}" && cd "${1:-/tmp/srft-podman}" && pwd)"
IMAGE="${SRFT_DOCKER_IMAGE_NAME:-srft-sandbox:local}"
# Host Debian packages copied into the image (with their dependency closure).
PACKAGES="${SRFT_IMAGE_PACKAGES:-bash dash coreutils python3 git grep sed findutils diffutils patch tar gzip procps}"
# Pure-Python distributions copied from this Python (the project venv) so `python3 -m pytest`
# works in the image; Debian's python3 is the same minor version.
PYTHON_FOR_PACKAGES="${SRFT_IMAGE_PYTHON:-$(command -v python || command -v python3)}"
PY_DISTS="${SRFT_IMAGE_PY_DISTS:-pytest pluggy iniconfig packaging pygments}"
log() { echo "[podman-setup] $*" >&2; }

command -v podman >/dev/null || { log "podman is not installed (apt-get install -y podman runc)"; exit 1; }
command -v runc >/dev/null || { log "runc is not installed (apt-get install -y runc)"; exit 1; }

# --- configuration (FACTS.md: runc, cgroupfs, file events, explicit ulimits, short exit delay) ---
mkdir -p "$DIR/storage" "$DIR/run" "$DIR/tmp"
NOFILE="$(ulimit -Hn)"
[ "$NOFILE" = unlimited ] && NOFILE=1048576
PID_MAX="$(cat /proc/sys/kernel/pid_max)"
NPROC=$(( PID_MAX < 32768 ? PID_MAX : 32768 ))
cat > "$DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$DIR/events.log"
exit_command_delay = 5
tmp_dir = "$DIR/tmp"
EOF
cat > "$DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$DIR/storage"
runroot = "$DIR/run"
EOF
cat > "$DIR/registries.conf" <<EOF
unqualified-search-registries = []
EOF
export CONTAINERS_CONF="$DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$DIR/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$DIR/registries.conf"

if [ "${2:-}" = "--stop" ]; then
  podman ps -aq --filter label=srft.sandbox=1 | xargs -r podman rm -f >/dev/null 2>&1 || true
  if [ -f "$DIR/podman.pid" ]; then
    PID="$(cat "$DIR/podman.pid")"
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    rm -f "$DIR/podman.pid" "$DIR/podman.sock"
    log "stopped podman service pid $PID"
  fi
  # podman's overlay driver bind-mounts its own folder; unmount it so the folder can be deleted
  if mountpoint -q "$DIR/storage/overlay" 2>/dev/null; then umount "$DIR/storage/overlay" || true; fi
  exit 0
fi

# --- the API service ---
SOCK="$DIR/podman.sock"
PID=""
service_alive() {  # the recorded pid is still our podman service (pids get reused)
  [ -f "$DIR/podman.pid" ] && [ -S "$SOCK" ] &&
    tr '\0' ' ' < "/proc/$(cat "$DIR/podman.pid")/cmdline" 2>/dev/null | grep -q "podman system service"
}
if service_alive; then
  PID="$(cat "$DIR/podman.pid")"
  log "reusing podman service pid $PID on $SOCK"
else
  rm -f "$SOCK"
  # Started from $DIR: conmon drops an `oom` marker file into its working directory when a
  # container is OOM-killed, which would otherwise land in the caller's checkout.
  (cd "$DIR" && exec nohup podman system service --time=0 "unix://$SOCK" >"$DIR/service.log" 2>&1) &
  PID=$!
  echo "$PID" > "$DIR/podman.pid"
  for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
  [ -S "$SOCK" ] || { log "podman service did not create $SOCK; see $DIR/service.log"; exit 1; }
  log "started podman service pid $PID on $SOCK"
fi

# --- the image: a rootfs tarball of host packages, imported without any registry ---
if podman image exists "$IMAGE"; then
  log "image $IMAGE already present"
else
  log "building $IMAGE from host packages: $PACKAGES"
  start=$(date +%s)
  SRFT_PY="$PYTHON_FOR_PACKAGES" SRFT_PY_DISTS="$PY_DISTS" python3 - "$DIR/rootfs.tar" $PACKAGES <<'PY'
"""Write a rootfs tarball holding the given installed Debian packages and their dependencies."""
import json, os, subprocess, sys, tarfile

out, wanted = sys.argv[1], sys.argv[2:]
fmt = "${Package}\t${Status}\t${Provides}\t${Depends}, ${Pre-Depends}\n"
rows = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True)
installed, provides, deps = set(), {}, {}
for line in rows.stdout.splitlines():
    name, status, prov, dep = line.split("\t")
    if not status.endswith(" installed"):
        continue
    installed.add(name)
    deps[name] = dep
    for p in filter(None, (x.strip().split(" ")[0] for x in prov.split(","))):
        provides.setdefault(p, name)

def resolve(alternatives):
    for alt in alternatives.split("|"):
        name = alt.strip().split(" ")[0].split(":")[0]
        if name in installed:
            return name
        if name in provides:
            return provides[name]
    return None

closure, todo = set(), [w for w in wanted]
while todo:
    pkg = todo.pop()
    if pkg in closure:
        continue
    if pkg not in installed:
        sys.exit(f"package {pkg} is not installed on this host")
    closure.add(pkg)
    for group in filter(None, (g.strip() for g in deps[pkg].split(","))):
        found = resolve(group)
        if found and found not in closure:
            todo.append(found)

merged = {f"/{d}": f"/usr/{d}" for d in ("bin", "sbin", "lib", "lib32", "lib64", "libx32")}
def in_usr(path):
    for old, new in merged.items():
        if path == old or path.startswith(old + "/"):
            return new + path[len(old):]
    return path

paths = set()
for pkg in sorted(closure):
    listed = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=True)
    for path in listed.stdout.splitlines():
        if path.startswith("/") and path not in ("/", "/.") and os.path.lexists(in_usr(path)):
            paths.add(in_usr(path))
for path in list(paths):  # the alternatives symlinks that maintainer scripts made
    if os.path.islink(path) and os.readlink(path).startswith("/etc/alternatives/"):
        paths.add(os.readlink(path))
paths |= {"/etc/ld.so.cache", "/etc/nsswitch.conf"}
for path in list(paths):  # every parent directory, once
    parent = os.path.dirname(path)
    while parent not in ("/", ""):
        paths.add(parent)
        parent = os.path.dirname(parent)

ours = {"etc/passwd", "etc/group", "usr/bin/python", "tmp", "root", "testbed", "proc", "sys",
        "dev", "run", "var/tmp", "bin", "sbin", "lib", "lib32", "lib64", "libx32"}
with tarfile.open(out, "w") as tar:
    for path in sorted(paths):
        if os.path.lexists(path) and path.lstrip("/") not in ours:
            tar.add(path, arcname=path.lstrip("/"), recursive=False)
    def extra(name, kind, mode=0o755, link="", data=b""):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
        import io
        tar.addfile(info, io.BytesIO(data) if data else None)
    for d, target in merged.items():
        if os.path.isdir(target):
            extra(d.lstrip("/"), tarfile.SYMTYPE, link=target.lstrip("/"))
    extra("usr/bin/python", tarfile.SYMTYPE, link="python3")
    if "/var" not in paths:
        extra("var", tarfile.DIRTYPE)
    for d, mode in (("tmp", 0o1777), ("root", 0o700), ("testbed", 0o755), ("proc", 0o555),
                    ("sys", 0o555), ("dev", 0o755), ("run", 0o755), ("var/tmp", 0o1777)):
        extra(d, tarfile.DIRTYPE, mode)
    extra("etc/passwd", tarfile.REGTYPE, 0o644,
          data=b"root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    extra("etc/group", tarfile.REGTYPE, 0o644, data=b"root:x:0:\nnogroup:x:65534:\n")
    lister = (
        "import importlib.metadata as m, json, sys\n"
        "out = []\n"
        "for name in sys.argv[1:]:\n"
        "    d = m.distribution(name)\n"
        "    out += [(str(d.locate_file('')), str(f)) for f in d.files or []]\n"
        "print(json.dumps(out))"
    )
    dists = os.environ.get("SRFT_PY_DISTS", "").split()
    if dists:
        listed = subprocess.run([os.environ["SRFT_PY"], "-c", lister, *dists],
                                capture_output=True, text=True, check=True)
        site = "usr/lib/python3/dist-packages"
        for root, rel in json.loads(listed.stdout):
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".so"):
                continue
            tar.add(os.path.join(root, rel), arcname=f"{site}/{rel}", recursive=False)
print(f"{len(closure)} packages, {len(paths)} paths", file=sys.stderr)
PY
  podman import --change 'CMD ["/bin/sleep", "infinity"]' --change 'WORKDIR /testbed' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$DIR/rootfs.tar" "$IMAGE" >&2
  rm -f "$DIR/rootfs.tar"
  log "imported $IMAGE in $(( $(date +%s) - start )) s"
fi

echo "export DOCKER_HOST=unix://$SOCK"
echo "export SRFT_DOCKER_IMAGE=$IMAGE"
echo "export SRFT_PODMAN_PID=$PID"
