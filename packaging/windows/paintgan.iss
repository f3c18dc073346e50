; Inno Setup script for the Windows installer of PaintGAN (untested: this project has no Windows machine; the
; CI workflow .github/workflows/package.yml runs it on a Windows runner).
;
;   pyinstaller --noconfirm packaging\paintgan.spec          -> dist\PaintGAN\PaintGAN.exe
;   iscc /DAppVersion=0.1.0 packaging\windows\paintgan.iss    -> dist\PaintGAN-0.1.0-windows-setup.exe
;
; Installs per user by default (no administrator rights; the user may choose all users), adds a Start menu
; entry, and registers .paintgan files (PaintGAN.Painting, application/x-paintgan) so a double-click opens them.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define Bundle "..\..\dist\PaintGAN"

[Setup]
AppId={{6F1D6A52-3C0B-4E5B-9C54-2B7C0F5E9A31}
AppName=PaintGAN
AppVersion={#AppVersion}
AppPublisher=PaintGAN
DefaultDirName={autopf}\PaintGAN
DefaultGroupName=PaintGAN
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=PaintGAN-{#AppVersion}-windows-setup
SetupIconFile=..\..\build\pyinstaller\paintgan\icons\paintgan.ico
UninstallDisplayIcon={app}\PaintGAN.exe
ChangesAssociations=yes
Compression=lzma2
SolidCompression=yes
WizardStyle=modern

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\PaintGAN"; Filename: "{app}\PaintGAN.exe"
Name: "{group}\Uninstall PaintGAN"; Filename: "{uninstallexe}"
Name: "{autodesktop}\PaintGAN"; Filename: "{app}\PaintGAN.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Registry]
; HKA is HKCU for a per-user install and HKLM for an all-users one.
Root: HKA; Subkey: "Software\Classes\.paintgan"; ValueType: string; ValueName: ""; ValueData: "PaintGAN.Painting"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.paintgan"; ValueType: string; ValueName: "Content Type"; ValueData: "application/x-paintgan"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\PaintGAN.Painting"; ValueType: string; ValueName: ""; ValueData: "PaintGAN painting"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\PaintGAN.Painting\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\PaintGAN.exe,0"
Root: HKA; Subkey: "Software\Classes\PaintGAN.Painting\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\PaintGAN.exe"" ""%1"""

[Run]
Filename: "{app}\PaintGAN.exe"; Description: "{cm:LaunchProgram,PaintGAN}"; Flags: nowait postinstall skipifsilent
