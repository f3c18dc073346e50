#!/bin/sh
# Install PaintGAN for the current user, without root: the app, its menu entry, icons, AppStream metainfo and
# the application/x-paintgan file type, so a double-click on a .paintgan painting opens it in PaintGAN.
#
#     ./install.sh            (from the unpacked PaintGAN-<version>-linux-x86_64 folder)
#
# Where things go (XDG defaults; set the variables to change them):
#   PAINTGAN_INSTALL_DIR  the app itself             ~/.local/opt/PaintGAN
#   XDG_DATA_HOME         menu entry, icons, types   ~/.local/share
#   PAINTGAN_BIN_DIR      the paintgan-app command   ~/.local/bin
# uninstall.sh (also copied into the app folder) removes all of it again.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APP_DIR=${PAINTGAN_INSTALL_DIR:-$HOME/.local/opt/PaintGAN}
BIN_DIR=${PAINTGAN_BIN_DIR:-$HOME/.local/bin}
ID=org.paintgan.PaintGAN

if [ ! -x "$HERE/PaintGAN/PaintGAN" ]; then
    echo "install.sh: $HERE/PaintGAN/PaintGAN is missing; run this script from the unpacked release folder" >&2
    exit 1
fi

# A fresh copy beside the old one, then a swap: an interrupted install leaves the previous app working.
mkdir -p "$(dirname "$APP_DIR")"
rm -rf "$APP_DIR.new"
cp -R "$HERE/PaintGAN" "$APP_DIR.new"
cp "$HERE/uninstall.sh" "$APP_DIR.new/uninstall.sh"
rm -rf "$APP_DIR.old"
if [ -e "$APP_DIR" ]; then mv "$APP_DIR" "$APP_DIR.old"; fi
mv "$APP_DIR.new" "$APP_DIR"
rm -rf "$APP_DIR.old"

mkdir -p "$BIN_DIR"
ln -sf "$APP_DIR/PaintGAN" "$BIN_DIR/paintgan-app"

mkdir -p "$DATA/applications" "$DATA/metainfo" "$DATA/mime/packages"
# The desktop entry names the executable by its absolute path: ~/.local/bin is not on every desktop's PATH.
sed "s|@EXEC@|\"$APP_DIR/PaintGAN\"|; s|^TryExec=.*|TryExec=$APP_DIR/PaintGAN|" \
    "$HERE/share/applications/$ID.desktop" > "$DATA/applications/$ID.desktop"
cp "$HERE/share/metainfo/$ID.metainfo.xml" "$DATA/metainfo/$ID.metainfo.xml"
cp "$HERE/share/mime/packages/$ID.xml" "$DATA/mime/packages/$ID.xml"
(cd "$HERE/share/icons" && find hicolor -type f) | while read -r icon; do
    mkdir -p "$DATA/icons/$(dirname "$icon")"
    cp "$HERE/share/icons/$icon" "$DATA/icons/$icon"
done

# Refresh the caches desktops read; each tool is optional (the files above already work without them on most
# desktops, the caches only make them show up at once).
if command -v update-mime-database >/dev/null 2>&1; then update-mime-database "$DATA/mime" >/dev/null 2>&1 || true; fi
if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database "$DATA/applications" >/dev/null 2>&1 || true; fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$DATA/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t "$DATA/icons/hicolor" >/dev/null 2>&1 || true
fi
touch "$DATA/icons/hicolor" 2>/dev/null || true
if command -v xdg-mime >/dev/null 2>&1; then xdg-mime default "$ID.desktop" application/x-paintgan || true; fi

echo "PaintGAN is installed in $APP_DIR"
echo "Start it from the applications menu, by double-clicking a .paintgan painting, or with $BIN_DIR/paintgan-app"
echo "To remove it: $APP_DIR/uninstall.sh"
