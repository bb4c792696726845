; Inno Setup 6 script: a per-user installer (no administrator rights) for the PyInstaller folder.
;   pyinstaller --noconfirm build.spec
;   iscc /DMyAppVersion=0.1.0 installer\windows\ret-desktop.iss   ->  dist\RET-Desktop-0.1.0-setup.exe
; Installs into %LOCALAPPDATA%\Programs\RET Desktop, with a Start-menu entry and, if ticked, a desktop
; shortcut. The uninstaller removes the program; the user's data, settings and logs
; (%LOCALAPPDATA%\RET Desktop) stay unless the user says yes when it asks.

#ifndef MyAppVersion
  #define MyAppVersion "0.1.0"
#endif
#define MyAppName "RET Desktop"
#define MyAppExe "ret-desktop.exe"

[Setup]
AppId={{6C3B8F2E-4D1A-4B7E-9C55-2F0A7D9E1B34}
AppName={#MyAppName}
AppVersion={#MyAppVersion}
AppPublisher=RET Desktop contributors
DefaultDirName={autopf}\{#MyAppName}
DefaultGroupName={#MyAppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=RET-Desktop-{#MyAppVersion}-setup
SetupIconFile=..\..\resources\icons\app.ico
UninstallDisplayIcon={app}\{#MyAppExe}
UninstallDisplayName={#MyAppName} {#MyAppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\ret-desktop\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#MyAppName}"; Filename: "{app}\{#MyAppExe}"
Name: "{autodesktop}\{#MyAppName}"; Filename: "{app}\{#MyAppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#MyAppExe}"; Description: "{cm:LaunchProgram,{#MyAppName}}"; Flags: nowait postinstall skipifsilent

[Code]
// The data folder of platformdirs.user_data_dir("RET Desktop", appauthor=False); settings and logs
// live inside it on Windows.
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  if CurUninstallStep = usPostUninstall then
  begin
    DataDir := ExpandConstant('{localappdata}\{#MyAppName}');
    if DirExists(DataDir) and not UninstallSilent() then
      if MsgBox('Also delete your RET Desktop data, settings and logs in' + #13#10 + DataDir + '?' + #13#10 +
                'No keeps them for a later installation.', mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
        DelTree(DataDir, True, True, True);
  end;
end;
