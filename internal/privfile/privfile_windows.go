package privfile

import (
	"fmt"
	"os"
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

// readers names the first broad group f's DACL lets read it. No DACL at all
// means everyone may.
func readers(f *os.File) (string, error) {
	who, err := broadReader(windows.Handle(f.Fd()))
	if err != nil {
		return "", fmt.Errorf("read the access control list: %w", err)
	}
	return who, nil
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

// hint makes the file private: only the current user, nothing inherited.
func hint(path string) string {
	return fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r "%%USERNAME%%:R"`, path)
}
