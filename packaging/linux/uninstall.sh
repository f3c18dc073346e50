#!/bin/sh
# Remove what install.sh put in place (same variables, same defaults). Paintings, imported models, settings,
# autosaves and logs in the user's data folders are left alone: they belong to the user, not to the app.
set -eu

DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APP_DIR=${PAINTGAN_INSTALL_DIR:-$HOME/.local/opt/PaintGAN}
BIN_DIR=${PAINTGAN_BIN_DIR:-$HOME/.local/bin}
CONFIG=${XDG_CONFIG_HOME:-$HOME/.config}
ID=org.paintgan.PaintGAN

if [ -L "$BIN_DIR/paintgan-app" ]; then rm -f "$BIN_DIR/paintgan-app"; fi
rm -f "$DATA/applications/$ID.desktop" "$DATA/metainfo/$ID.metainfo.xml" "$DATA/mime/packages/$ID.xml"
for icon in "$DATA"/icons/hicolor/*/apps/paintgan.png "$DATA"/icons/hicolor/*/apps/paintgan.svg \
            "$DATA"/icons/hicolor/*/mimetypes/application-x-paintgan.png \
            "$DATA"/icons/hicolor/*/mimetypes/application-x-paintgan.svg; do
    rm -f "$icon"
done
# xdg-mime default wrote the association into mimeapps.list; take out only PaintGAN's line.
if [ -f "$CONFIG/mimeapps.list" ]; then
    sed -i "/^application\/x-paintgan=$ID\.desktop;*$/d" "$CONFIG/mimeapps.list"
fi

# The user MIME database and the desktop entry cache are generated files: rebuilt for other apps' entries, or
# removed when PaintGAN's were the last ones.
if [ -d "$DATA/mime/packages" ] && [ -z "$(ls -A "$DATA/mime/packages")" ]; then
    rm -rf "$DATA/mime"
elif command -v update-mime-database >/dev/null 2>&1 && [ -d "$DATA/mime/packages" ]; then
    update-mime-database "$DATA/mime" >/dev/null 2>&1 || true
fi
if [ -d "$DATA/applications" ] && ! ls "$DATA/applications"/*.desktop >/dev/null 2>&1; then
    rm -f "$DATA/applications/mimeinfo.cache"
elif command -v update-desktop-database >/dev/null 2>&1 && [ -d "$DATA/applications" ]; then
    update-desktop-database "$DATA/applications" >/dev/null 2>&1 || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$DATA/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t "$DATA/icons/hicolor" >/dev/null 2>&1 || true
fi

# Last: this script may be the copy inside the app folder; the shell keeps reading its open file after removal.
rm -rf "$APP_DIR"
echo "PaintGAN is removed. Your paintings, models, settings and logs are still in your data folders."
