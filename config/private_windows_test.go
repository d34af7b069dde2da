package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/mcpwrap/mcpwrap/internal/testdir"
)

// setDACL gives p a protected DACL (nothing inherited) that grants access to
// the current user and to the groups named, and skips the test where the
// system does not keep it: Wine 8.0 reports a DACL made from the file's Unix
// mode bits whatever was set (TestWindowsDACLFromUnixModes covers Wine).
func setDACL(t *testing.T, p string, groups ...windows.WELL_KNOWN_SID_TYPE) {
	t.Helper()
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	entries := []windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_ALL,
		AccessMode:        windows.GRANT_ACCESS,
		Inheritance:       windows.NO_INHERITANCE,
		Trustee: windows.TRUSTEE{TrusteeForm: windows.TRUSTEE_IS_SID, TrusteeType: windows.TRUSTEE_IS_USER,
			TrusteeValue: windows.TrusteeValueFromSID(tu.User.Sid)},
	}}
	for _, g := range groups {
		sid, err := windows.CreateWellKnownSid(g)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, windows.EXPLICIT_ACCESS{
			AccessPermissions: windows.GENERIC_READ,
			AccessMode:        windows.GRANT_ACCESS,
			Inheritance:       windows.NO_INHERITANCE,
			Trustee: windows.TRUSTEE{TrusteeForm: windows.TRUSTEE_IS_SID, TrusteeType: windows.TRUSTEE_IS_WELL_KNOWN_GROUP,
				TrusteeValue: windows.TrusteeValueFromSID(sid)},
		})
	}
	acl, err := windows.ACLFromEntries(entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = windows.SetNamedSecurityInfo(p, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil)
	if err != nil {
		t.Fatalf("set DACL of %s: %v", p, err)
	}
	sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil || int(dacl.AceCount) != len(entries) {
		t.Skipf("this system did not keep the DACL set on %s (reads back %v)", p, sd)
	}
}

// Under Wine a file's DACL follows its Unix mode: .ci/wine/run makes one
// owner-only file (0600) and one that others may read (0644) and names their
// directory in MCPWRAP_TEST_MODE_FIXTURES.
func TestWindowsDACLFromUnixModes(t *testing.T) {
	dir := os.Getenv("MCPWRAP_TEST_MODE_FIXTURES")
	if dir == "" {
		t.Skip("MCPWRAP_TEST_MODE_FIXTURES is not set (only .ci/wine/run makes these files)")
	}
	v, err := ResolveSecret(context.Background(), "file:"+filepath.Join(dir, "owner-only"))
	if err != nil || v.Reveal() != "owner-secret" {
		t.Fatalf("owner-only file: %q, %v", v.Reveal(), err)
	}
	_, err = ResolveSecret(context.Background(), "file:"+filepath.Join(dir, "world-readable"))
	if err == nil || !strings.Contains(err.Error(), "readable by Everyone") || strings.Contains(err.Error(), "world-secret") {
		t.Fatalf("world-readable file: err = %v, want refused as readable by Everyone", err)
	}
}

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(testdir.New(t), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWindowsPrivateDACLSecretIsAccepted(t *testing.T) {
	p := writeSecret(t, "private", "dacl-secret\r\n")
	setDACL(t, p)
	v, err := ResolveSecret(context.Background(), "file:"+p)
	if err != nil {
		t.Fatalf("a file only its owner may read: %v", err)
	}
	if v.Reveal() != "dacl-secret" {
		t.Fatalf("got %q, want dacl-secret", v.Reveal())
	}
}

func TestWindowsBroadlyReadableSecretIsRefused(t *testing.T) {
	for _, g := range []struct {
		sid  windows.WELL_KNOWN_SID_TYPE
		name string
	}{
		{windows.WinWorldSid, "Everyone"},
		{windows.WinBuiltinUsersSid, "Users"},
		{windows.WinAuthenticatedUserSid, "Authenticated Users"},
	} {
		t.Run(g.name, func(t *testing.T) {
			p := writeSecret(t, "loose", "loose-secret\n")
			setDACL(t, p, g.sid)
			v, err := ResolveSecret(context.Background(), "file:"+p)
			if err == nil {
				t.Fatalf("a file %s may read was accepted (value length %d)", g.name, len(v.Reveal()))
			}
			ce := asConfigError(t, err)
			if !strings.Contains(err.Error(), "readable by "+g.name) {
				t.Errorf("error %q does not name %s", err, g.name)
			}
			if !strings.Contains(ce.Fix, "icacls") || !strings.Contains(ce.Fix, p) {
				t.Errorf("hint %q does not say how to fix %s", ce.Fix, p)
			}
			if strings.Contains(err.Error()+ce.Fix, "loose-secret") {
				t.Errorf("error leaks the secret")
			}
		})
	}
}

func TestWindowsCmdSecretRunsThroughCmdExe(t *testing.T) {
	t.Setenv("MCPWRAP_TEST_PART", "from cmd")
	// cmd.exe syntax: %VAR% expansion and & between two commands, quoted
	// as a whole by shellCommand.
	v, err := ResolveSecret(context.Background(), `cmd:echo %MCPWRAP_TEST_PART%& rem "ignored"`)
	if err != nil {
		t.Fatal(err)
	}
	if v.Reveal() != "from cmd" {
		t.Fatalf("got %q, want %q", v.Reveal(), "from cmd")
	}
	if _, err := ResolveSecret(context.Background(), "cmd:exit 3"); err == nil || !strings.Contains(err.Error(), "status 3") {
		t.Fatalf("err = %v, want exit status 3", err)
	}
}
