# Shared by the scripts: install Debian packages when a command is missing.

# need_package COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is not on PATH.
need_package() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "==> Installing $2 (for $1)"
    apt_install "$2"
}

# apt_install PACKAGE: installs PACKAGE with apt-get (as root, or through sudo).
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null
}
