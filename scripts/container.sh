# Sourced by scripts/image.sh and the container suite: finds a container engine and the base
# image the Dockerfile's final stage starts from.
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
#
# `container_engine` sets ENGINE (the command, with the global flags it needs), LIMITS (flags
# every build and run gets) and BUILD_FORMAT: Docker when its engine answers, else podman —
# installed from Debian when missing. Returns 1 when neither can be had. On these VMs podman needs runc (crun refuses
# cgroups in hybrid mode), cgroupfs, and explicit process and file limits (the sandbox cannot
# raise podman's defaults); they suit any other machine too.
container_engine() {
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    ENGINE=(docker)
    LIMITS=()
    BUILD_FORMAT=()
    return 0
  fi
  if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
    apt_install "the image and its tests" podman runc debootstrap || return 1
  fi
  ENGINE=(podman --runtime runc --cgroup-manager cgroupfs)
  LIMITS=(--ulimit nproc=1000:1000 --ulimit nofile=1024:1024)
  # Podman writes OCI images unless told otherwise, and OCI images drop HEALTHCHECK.
  BUILD_FORMAT=(--format docker)
}

# `base_image`: makes sure `debian:bookworm-slim` is there — pulled when a registry answers, else
# made from Debian's archive with debootstrap (about a minute, once: it stays in the engine's
# store).
base_image() {
  if "${ENGINE[@]}" image inspect debian:bookworm-slim >/dev/null 2>&1; then
    return 0
  fi
  if timeout 60 "${ENGINE[@]}" pull -q docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
    return 0
  fi
  echo "==> no registry answers: making debian:bookworm-slim with debootstrap"
  command -v debootstrap >/dev/null 2>&1 || return 1
  local root
  root=$(mktemp -d)
  if ! debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1; then
    tail -n 20 "$root.log" >&2
    rm -rf "$root" "$root.log"
    return 1
  fi
  # As slim as Debian's own image: no downloaded packages, lists or caches, and packages
  # installed later leave out their documentation too (the settings that image carries).
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  printf '%s\n' 'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' \
    >"$root/etc/apt/apt.conf.d/docker-clean"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/locale/*' >"$root/etc/dpkg/dpkg.cfg.d/docker"
  tar -C "$root" -c . | "${ENGINE[@]}" import - docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "$root" "$root.log"
}
