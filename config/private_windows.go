package config

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// broadGroups are the well-known groups a private file must grant nothing to.
var broadGroups = []struct {
	sid  windows.WELL_KNOWN_SID_TYPE
	name string
}{
	{windows.WinWorldSid, "Everyone"},
	{windows.WinBuiltinUsersSid, "Users"},
	{windows.WinAuthenticatedUserSid, "Authenticated Users"},
	{windows.WinBuiltinGuestsSid, "Guests"},
	{windows.WinAnonymousSid, "ANONYMOUS LOGON"},
}

// readRights are the access bits of an allow entry that let its trustee read
// the file's contents.
const readRights = windows.FILE_READ_DATA | windows.GENERIC_READ | windows.GENERIC_ALL | windows.MAXIMUM_ALLOWED

// checkPrivate refuses a secret file whose DACL lets a broad group read it.
// Windows has no mode bits (Go reports 0666 for every writable file), so the
// DACL is what says who may read: no DACL at all means everyone may.
func checkPrivate(f *os.File, p string, _ os.FileInfo) *Error {
	who, err := broadReader(windows.Handle(f.Fd()))
	if err != nil {
		return &Error{File: p, Msg: "cannot read the secret file's access control list: " + err.Error()}
	}
	if who != "" {
		return &Error{
			File: p,
			Msg:  fmt.Sprintf("secret file is readable by %s; refusing to use it", who),
			Hint: privateHint(p),
		}
	}
	return nil
}

// broadReader names the first broad group f's DACL lets read it, "" if none.
func broadReader(h windows.Handle) (string, error) {
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return "", err
	}
	if dacl == nil {
		return "Everyone (the file has no access control list)", nil
	}
	for i := 0; i < int(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, uint32(i), &ace); err != nil {
			return "", err
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0 {
			continue
		}
		if ace.Mask&readRights == 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		for _, g := range broadGroups {
			if sid.IsWellKnown(g.sid) {
				return g.name, nil
			}
		}
	}
	return "", nil
}

// privateHint is how to make a secret file private: only the current user,
// no inherited entries.
func privateHint(p string) string {
	return fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r "%%USERNAME%%:R"`, p)
}

// shellCommand runs command through the platform shell: %ComSpec% /d /s /c
// "command". The command is cmd.exe syntax written by the user, so it is
// passed on verbatim (with /s, cmd.exe strips exactly the outer quotes);
// /d skips AutoRun commands from the registry.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	sh := os.Getenv("ComSpec")
	if sh == "" {
		sh = filepath.Join(os.Getenv("SystemRoot"), "System32", "cmd.exe")
	}
	cmd := exec.CommandContext(ctx, sh)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: fmt.Sprintf(`"%s" /d /s /c "%s"`, sh, command)}
	return cmd
}
