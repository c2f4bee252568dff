"""The POSIX shell header of an installer made by ``ophis constructor``.

It needs only what every Linux and macOS machine has (sh, tail, wc, tar, gzip, and one of
sha256sum, shasum or openssl): it checks the payload's size and SHA-256, shows the licence
and asks (unless ``-b``), unpacks the payload into ``PREFIX/.ophis-installer``, unpacks
the bootstrap (python and Ophis) there and runs ``python -m ophis.distribution.install``
from it, which links the packages into the prefix; then the post-install script and,
when asked, ``ophis shell init``.

The header's own length is written into it (``HEADER_SIZE``), padded with spaces so that
filling it in does not change the length it states.
"""

from __future__ import annotations

import re

from ophis.distribution.construct import Construct

_SIZE_FIELD = "@HEADER_SIZE@"
_SIZE_WIDTH = 12

_TEMPLATE = r"""#!/bin/sh
# @NAME@ @VERSION@ installer for @PLATFORM@, made by 'ophis constructor'.
# Run 'sh <this file> -h' for help. What follows the header is a tar archive (the payload).
set -u
INSTALLER_NAME='@NAME@'
INSTALLER_VER='@VERSION@'
INSTALLER_PLAT='@PLATFORM@'
HEADER_SIZE=@HEADER_SIZE@
PAYLOAD_SIZE=@PAYLOAD_SIZE@
PAYLOAD_SHA256='@PAYLOAD_SHA256@'
INIT_DEFAULT=@INIT_DEFAULT@
DEFAULT_PREFIX="@DEFAULT_PREFIX@"
THIS="$0"

die() {
    printf 'ERROR: %s\n' "$1" >&2
    if [ $# -gt 1 ]; then printf '%s\n' "$2" >&2; fi
    exit 1
}

usage() {
    cat <<EOF
usage: $THIS [-b] [-p PREFIX] [-u] [-i|-n] [-t] [-h]

Installs $INSTALLER_NAME $INSTALLER_VER ($INSTALLER_PLAT) into PREFIX, without a network.

  -b          batch mode: no questions (accepts the licence)
  -p PREFIX   install into PREFIX (default: $DEFAULT_PREFIX)
  -u          update the existing installation in PREFIX
  -i          then run 'ophis shell init' for your shell
  -n          do not run 'ophis shell init'
  -t          only check the installer's checksum
  -h          show this help

Uninstall: 'PREFIX/bin/ophis shell init --reverse' (takes Ophis's block out of your
shell's start-up file), then 'rm -rf PREFIX'.
EOF
}

show_license() {
    cat <<'__OPHIS_LICENSE_END__'
@LICENSE@__OPHIS_LICENSE_END__
}

BATCH=0
PREFIX=""
UPDATE=0
INIT=""
TEST_ONLY=0
while getopts "bp:uinth" opt; do
    case "$opt" in
        b) BATCH=1 ;;
        p) PREFIX="$OPTARG" ;;
        u) UPDATE=1 ;;
        i) INIT=1 ;;
        n) INIT=0 ;;
        t) TEST_ONLY=1 ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

payload() {
    tail -c +$((HEADER_SIZE + 1)) "$THIS"
}

payload_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        payload | sha256sum | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        payload | shasum -a 256 | cut -d' ' -f1
    elif command -v openssl >/dev/null 2>&1; then
        payload | openssl dgst -sha256 | sed 's/^.* //'
    else
        echo "none"
    fi
}

size=$(wc -c < "$THIS" | tr -d ' ')
if [ "$size" -ne $((HEADER_SIZE + PAYLOAD_SIZE)) ]; then
    die "The installer is damaged: it has $size bytes, not $((HEADER_SIZE + PAYLOAD_SIZE))." \
        "Download it again; nothing was installed."
fi
actual=$(payload_sha256)
if [ "$actual" = "none" ]; then
    die "Cannot check the installer: none of sha256sum, shasum or openssl is installed." \
        "Install one of them (coreutils has sha256sum) and run the installer again."
fi
if [ "$actual" != "$PAYLOAD_SHA256" ]; then
    die "The installer's payload does not match its checksum (expected $PAYLOAD_SHA256, \
got $actual): it was damaged or altered." \
        "Download the installer again from where you got it; nothing was installed."
fi
if [ "$TEST_ONLY" = 1 ]; then
    echo "The installer's checksum is correct."
    exit 0
fi

ask() {
    printf '%s\n>>> ' "$1"
    read -r answer || answer=""
}

if [ "$BATCH" = 0 ]; then
    printf '\nWelcome to %s %s\n\n' "$INSTALLER_NAME" "$INSTALLER_VER"
@WELCOME@    if [ -n "$(show_license)" ]; then
        printf 'Please read the licence agreement:\n\n'
        show_license
        printf '\n'
        ask "Do you accept the licence terms? [yes|no]"
        case "$answer" in
            [Yy]|[Yy][Ee][Ss]) ;;
            *) die "The licence terms were not accepted: nothing was installed." \
                   "Run the installer again and answer yes to install." ;;
        esac
    fi
    if [ -z "$PREFIX" ]; then
        ask "$INSTALLER_NAME will be installed into this location (ENTER to confirm, \
or type another): [$DEFAULT_PREFIX]"
        PREFIX="${answer:-$DEFAULT_PREFIX}"
    fi
    if [ -z "$INIT" ]; then
        if [ "$INIT_DEFAULT" = 1 ]; then default=yes; else default=no; fi
        ask "Run 'ophis shell init' so that your shell knows 'ophis activate'? [yes|no] [$default]"
        case "${answer:-$default}" in
            [Yy]|[Yy][Ee][Ss]) INIT=1 ;;
            *) INIT=0 ;;
        esac
    fi
fi
if [ -z "$PREFIX" ]; then PREFIX="$DEFAULT_PREFIX"; fi
if [ -z "$INIT" ]; then INIT=0; fi
case "$PREFIX" in
    "~") PREFIX="$HOME" ;;
    "~/"*) PREFIX="$HOME/${PREFIX#"~/"}" ;;
esac
case "$PREFIX" in
    /*) ;;
    *) PREFIX="$(pwd)/$PREFIX" ;;
esac
case "$PREFIX" in
    *" "*) die "The prefix '$PREFIX' contains a space, which breaks the scripts installed there." \
               "Choose a path without spaces with -p." ;;
esac

if [ -e "$PREFIX" ] && [ ! -d "$PREFIX" ]; then
    die "'$PREFIX' exists and is not a folder." "Choose another prefix with -p."
fi
if [ "$UPDATE" = 0 ] && [ -d "$PREFIX" ] && [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ]; then
    die "'$PREFIX' already exists and is not empty." \
        "Choose another prefix with -p, or pass -u to update the installation in it."
fi
if [ "$UPDATE" = 1 ] && [ -d "$PREFIX" ] && [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ] \
        && [ ! -d "$PREFIX/conda-meta" ]; then
    die "'$PREFIX' is not an environment (it has no conda-meta folder): -u cannot update it." \
        "Choose an installation made by this kind of installer, or an empty or new folder."
fi
mkdir -p "$PREFIX" || die "Cannot create '$PREFIX'." "Choose a prefix you can write to with -p."
PREFIX=$(cd "$PREFIX" && pwd -P)
WORK="$PREFIX/.ophis-installer"
rm -rf "$WORK"
mkdir -p "$WORK/boot" || die "Cannot write into '$PREFIX'." "Choose a prefix you can write to."
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM HUP

echo "Unpacking the payload into $PREFIX ..."
payload | (cd "$WORK" && tar -xf -) || die "Unpacking the payload failed." \
    "Check that $PREFIX has enough free space, then run the installer again."
gzip -dc "$WORK/bootstrap.tar.gz" | (cd "$WORK/boot" && tar -xf -) || die \
    "Unpacking the bootstrap failed." "Check the free space in $PREFIX."
rm -f "$WORK/bootstrap.tar.gz"

unset PYTHONPATH PYTHONHOME PYTHONSTARTUP
PYTHONNOUSERSITE=1
PYTHONDONTWRITEBYTECODE=1
export PYTHONNOUSERSITE PYTHONDONTWRITEBYTECODE
if [ "$UPDATE" = 1 ]; then set -- --update; else set --; fi
"$WORK/boot/bin/python" -m ophis.distribution.install --payload "$WORK" --prefix "$PREFIX" "$@" \
    || die "Installing the packages into $PREFIX failed (see above)." \
           "Remove $PREFIX (when it is a new installation) and run the installer again."

if [ -f "$WORK/post_install.sh" ]; then
    echo "Running the post-install script ..."
    PREFIX="$PREFIX" INSTALLER_NAME="$INSTALLER_NAME" INSTALLER_VER="$INSTALLER_VER" \
        INSTALLER_PLAT="$INSTALLER_PLAT" /bin/sh "$WORK/post_install.sh" \
        || die "The post-install script failed." "Its output is above; the packages are installed."
fi
if [ "$INIT" = 1 ]; then
    "$PREFIX/bin/ophis" shell init || echo "WARNING: 'ophis shell init' failed; run it later." >&2
fi

printf '\n%s %s is installed in %s.\n' "$INSTALLER_NAME" "$INSTALLER_VER" "$PREFIX"
printf 'Uninstall: %s/bin/ophis shell init --reverse, then rm -rf %s\n' "$PREFIX" "$PREFIX"
exit 0
"""


def render_header(construct: Construct, platform: str, payload_size: int, sha256: str) -> bytes:
    license_text = construct.license_text
    if license_text and not license_text.endswith("\n"):
        license_text += "\n"
    welcome = "".join(
        f"    printf '%s\\n' {_sh_quote(line)}\n" for line in construct.welcome_text.splitlines()
    )
    values = {
        "@NAME@": construct.name,
        "@VERSION@": construct.version,
        "@PLATFORM@": platform,
        "@PAYLOAD_SIZE@": str(payload_size),
        "@PAYLOAD_SHA256@": sha256,
        "@INIT_DEFAULT@": "1" if construct.initialize_by_default else "0",
        "@DEFAULT_PREFIX@": _default_prefix(construct),
        "@WELCOME@": welcome,
        "@LICENSE@": license_text,
    }
    text = _TEMPLATE
    for key, value in values.items():
        text = text.replace(key, value)
    probe = text.replace(_SIZE_FIELD, " " * _SIZE_WIDTH).encode()
    size = str(len(probe)).ljust(_SIZE_WIDTH)
    header = text.replace(_SIZE_FIELD, size).encode()
    assert len(header) == len(probe)
    return header


def _default_prefix(construct: Construct) -> str:
    """construct.yaml's default_prefix (``$HOME`` and ``${HOME}`` expand), else
    ``$HOME/<name in lower case>``; quoted for a double-quoted shell string."""
    value = construct.default_prefix or f"${{HOME}}/{construct.name.lower()}"
    value = re.sub(r"\$HOME\b|\$\{HOME\}", "\x00", value)
    value = re.sub(r'(["`$\\])', r"\\\1", value)
    return value.replace("\x00", "${HOME}")


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
