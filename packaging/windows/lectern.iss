; Inno Setup script for Lectern (Windows). Build the bundle first on Windows:
;   py -m PyInstaller --noconfirm packaging\lectern.spec
; then compile this script:  iscc packaging\windows\lectern.iss
; The installer goes to dist\lectern-setup-<version>.exe. Per-user install, no admin rights.
#define AppVersion GetEnv("LECTERN_VERSION")
#if AppVersion == ""
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6B0F4B8E-3C1E-4E0B-9A36-5A1F2D7C9E41}
AppName=Lectern
AppVersion={#AppVersion}
AppPublisher=The Lectern developers
DefaultDirName={autopf}\Lectern
DefaultGroupName=Lectern
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=lectern-setup-{#AppVersion}
SetupIconFile=..\..\resources\icons\lectern.ico
Compression=lzma2/ultra64
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
LicenseFile=..\..\LICENSE

[Files]
Source: "..\..\dist\lectern\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\Lectern"; Filename: "{app}\lectern.exe"
Name: "{autodesktop}\Lectern"; Filename: "{app}\lectern.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\lectern.exe"; Description: "Start Lectern"; Flags: nowait postinstall skipifsilent
