# Sourced by the scripts that install what is missing from Debian's archive.

apt_install() { # apt_install WHY PACKAGE...
  local why=$1 sudo_cmd=""
  shift
  echo "==> installing $* from Debian ($why)"
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
