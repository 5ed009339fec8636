#!/usr/bin/env bash
# Builds the PersonaLive OBS plugin (plugin/, CMake, Release) and installs it into the
# current user's OBS plugin folder, or removes it again.
#
#   installer/install-obs-plugin.sh                 build + install for this user
#   installer/install-obs-plugin.sh --uninstall     remove what it installed
#   options:
#     --prefix DIR      install into DIR instead of the user's plugin folder (DIR gets
#                       bin/64bit/personalive.so and data/); tests use a throwaway HOME:
#                       --prefix "$HOME/.config/obs-studio/plugins/personalive"
#     --config-dir DIR  OBS's configuration folder (the one holding global.ini, normally
#                       ~/.config/obs-studio): installs into DIR/plugins/personalive
#     --build-dir DIR   CMake build folder (default: plugin/build)
#     -h, --help        this text
#
# Where OBS looks for it (OBS 28+):
#   Linux:   ${XDG_CONFIG_HOME:-$HOME/.config}/obs-studio/plugins/personalive/bin/64bit/personalive.so
#            ${XDG_CONFIG_HOME:-$HOME/.config}/obs-studio/plugins/personalive/data/
#            (Flatpak OBS reads ~/.var/app/com.obsproject.Studio/config/obs-studio/plugins/ instead;
#            pass that folder with --prefix.)
#   Windows: %ProgramData%\obs-studio\plugins\personalive\bin\64bit\personalive.dll + data\
#   macOS:   ~/Library/Application Support/obs-studio/plugins/personalive.plugin (a bundle)
# This script handles Linux (and other POSIX systems with OBS's Linux layout). The Windows
# and macOS builds (see plugin/CMakeLists.txt and plugin/README.md) were NOT built or tested
# in this project.
#
# Needs: cmake, a C compiler, and the libobs development files
#   Debian/Ubuntu: sudo apt-get install cmake build-essential pkg-config libobs-dev
# Restart OBS after installing or removing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLUGIN_SRC="$REPO/plugin"
NAME=personalive
APT_HINT="sudo apt-get install cmake build-essential pkg-config libobs-dev"

prefix=""
config_dir=""
build_dir="$PLUGIN_SRC/build"
uninstall=false

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die() {
  echo "install-obs-plugin: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix)
      [ $# -ge 2 ] || die "--prefix needs a folder"
      prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --config-dir)
      [ $# -ge 2 ] || die "--config-dir needs a folder"
      config_dir="$2"; shift 2 ;;
    --config-dir=*) config_dir="${1#*=}"; shift ;;
    --build-dir)
      [ $# -ge 2 ] || die "--build-dir needs a folder"
      build_dir="$2"; shift 2 ;;
    --build-dir=*) build_dir="${1#*=}"; shift ;;
    --uninstall) uninstall=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

case "$(uname -s)" in
  Linux|FreeBSD|OpenBSD|NetBSD) ;;
  Darwin) die "macOS is not handled by this script (untested): build with cmake and copy the personalive.plugin bundle to ~/Library/Application Support/obs-studio/plugins/ (see plugin/README.md)" ;;
  MINGW*|MSYS*|CYGWIN*) die "Windows is not handled by this script (untested): build with CMake + MSVC and copy to %ProgramData%\\obs-studio\\plugins\\personalive (see plugin/README.md)" ;;
esac

if [ -n "$prefix" ] && [ -n "$config_dir" ]; then
  die "give --prefix or --config-dir, not both"
fi
if [ -n "$config_dir" ]; then
  prefix="$config_dir/plugins/$NAME"
elif [ -z "$prefix" ]; then
  [ -n "${HOME:-}" ] || die "HOME is not set; pass --prefix DIR"
  prefix="${XDG_CONFIG_HOME:-$HOME/.config}/obs-studio/plugins/$NAME"
fi
# Absolute, so the messages and cmake agree on it.
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
case "$build_dir" in /*) ;; *) build_dir="$PWD/$build_dir" ;; esac

INSTALLED_FILES=("bin/64bit/$NAME.so" "data/locale/en-US.ini")

if $uninstall; then
  removed=0
  for f in "${INSTALLED_FILES[@]}"; do
    if [ -e "$prefix/$f" ]; then
      rm -f "$prefix/$f"
      removed=$((removed + 1))
    fi
  done
  # Remove the folders only when empty: never delete what this script did not put there.
  for d in "$prefix/data/locale" "$prefix/data" "$prefix/bin/64bit" "$prefix/bin" "$prefix"; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
  done
  if [ "$removed" -eq 0 ]; then
    echo "install-obs-plugin: nothing to remove in $prefix"
  else
    echo "install-obs-plugin: removed $removed file(s) from $prefix"
    [ -d "$prefix" ] && echo "install-obs-plugin: $prefix still holds other files; left in place"
    echo "install-obs-plugin: restart OBS to unload the plugin"
  fi
  exit 0
fi

# --- prerequisites -------------------------------------------------------------------
command -v cmake >/dev/null 2>&1 || die "cmake is not installed. Debian/Ubuntu: $APT_HINT"
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1 && ! command -v clang >/dev/null 2>&1; then
  die "no C compiler (cc, gcc or clang). Debian/Ubuntu: $APT_HINT"
fi

have_libobs=false
if [ -n "${CMAKE_PREFIX_PATH:-}" ]; then
  have_libobs=true # a custom OBS build or SDK: let CMake look there
elif command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libobs 2>/dev/null; then
  have_libobs=true
else
  for header in /usr/include/obs/obs-module.h /usr/local/include/obs/obs-module.h; do
    [ -f "$header" ] && have_libobs=true
  done
fi
$have_libobs || die "the libobs development files (obs-module.h, libobs CMake/pkg-config files) were not found. Debian/Ubuntu: $APT_HINT (or set CMAKE_PREFIX_PATH to an OBS build)"

# --- build -----------------------------------------------------------------------------
echo "install-obs-plugin: building $PLUGIN_SRC in $build_dir (Release)"
cmake -S "$PLUGIN_SRC" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  || die "cmake could not configure the plugin (see above). Missing packages? Debian/Ubuntu: $APT_HINT"
jobs="$( (command -v nproc >/dev/null && nproc) || echo 2)"
cmake --build "$build_dir" --config Release --parallel "$jobs" --target "$NAME" \
  || die "the build failed (see the compiler output above)"

# --- install -----------------------------------------------------------------------------
cmake --install "$build_dir" --config Release --prefix "$prefix" >/dev/null \
  || die "could not install into $prefix"
for f in "${INSTALLED_FILES[@]}"; do
  [ -f "$prefix/$f" ] || die "expected $prefix/$f after installing, it is missing"
done
echo "install-obs-plugin: installed $prefix/bin/64bit/$NAME.so and $prefix/data/"
echo "install-obs-plugin: restart OBS; then add the source \"PersonaLive Output\" and the filter \"PersonaLive Driving Capture\""
