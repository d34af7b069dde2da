package cmdline

import (
	"path"
	"sort"
	"strconv"
	"strings"
)

// guiPath is the PATH launchd gives an app started from the Dock or Finder.
const guiPath = "/usr/bin:/bin:/usr/sbin:/sbin"

// looksLikeGUIPath reports whether p is launchd's default (or empty), which
// has none of the places where Homebrew, nvm or Volta put node and npx.
func looksLikeGUIPath(p string) bool { return p == "" || p == guiPath }

// widenGUIPath puts the well-known user tool directories that exist in front
// of p: Homebrew (Apple silicon, then Intel), nvm's current or newest node,
// Volta.
func widenGUIPath(sys System, p string) string {
	var dirs []string
	add := func(d string) {
		if fi, err := sys.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	add("/opt/homebrew/bin")
	add("/usr/local/bin")
	if sys.HomeDir != "" {
		if d := nvmBin(sys, path.Join(sys.HomeDir, ".nvm")); d != "" {
			dirs = append(dirs, d)
		}
		add(path.Join(sys.HomeDir, ".volta", "bin"))
	}
	if len(dirs) == 0 {
		return p
	}
	if p == "" {
		p = guiPath
	}
	return strings.Join(dirs, ":") + ":" + p
}

// nvmBin is the bin directory of nvm's default node: the version alias/default
// names (a full or partial version such as "v20.11.1" or "20"), else the
// newest installed one.
func nvmBin(sys System, nvm string) string {
	root := path.Join(nvm, "versions", "node")
	want := ""
	if b, err := sys.ReadFile(path.Join(nvm, "alias", "default")); err == nil {
		want = strings.TrimPrefix(strings.TrimSpace(string(b)), "v")
	}
	var versions []string
	for _, v := range listVersions(sys, root) {
		if want == "" || strings.TrimPrefix(v, "v") == want || strings.HasPrefix(strings.TrimPrefix(v, "v"), want+".") {
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return ""
	}
	sort.Slice(versions, func(i, j int) bool { return versionLess(versions[i], versions[j]) })
	return path.Join(root, versions[len(versions)-1], "bin")
}

// listVersions lists the installed node versions that have a node binary.
func listVersions(sys System, root string) []string {
	ents, err := sys.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if isExec(sys, path.Join(root, e.Name(), "bin", "node")) == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

func versionLess(a, b string) bool {
	pa := strings.Split(strings.TrimPrefix(a, "v"), ".")
	pb := strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// GUIEnv returns env as a GUI launch on macOS would have it: PATH set to
// launchd's default. doctor resolves with it to see what Claude Desktop
// started from the Dock would find.
func GUIEnv(env []string) []string { return setenv(env, "PATH", guiPath, false) }
