// Package config loads, discovers, validates and merges mcpwrap's TOML
// configuration, and resolves the secret references and templates it contains.
// It owns the schema (DESIGN §3.2), its defaults, and every "file:line: key:"
// configuration error. It does not fetch tokens, spawn processes, open the
// store or print: trust decisions come in through LoadOptions.Trusted, problems
// go out as *Error values and []Warning for the caller to show.
//
// # Files and discovery
//
// With LoadOptions.Explicit (--config / MCPWRAP_CONFIG) only that file is read;
// it is trusted by being named and may hold every table. Otherwise the user
// file (os.UserConfigDir()/mcpwrap/config.toml; missing is fine) is read, then
// the nearest project file, mcpwrap.toml or .mcpwrap.toml, searched from
// WorkDir upward. The search checks HomeDir itself and goes no higher (nor past
// /). The user file is never taken as the project file, even when it has a
// project file's name and lies on the search path.
//
// # Trust
//
// A project file is code from a repository. It is used only when
// LoadOptions.Trusted(absPath, sha256hex) reports true for its exact bytes;
// otherwise Load fails with an *Error wrapping ErrUntrusted whose hint is to run
// `mcpwrap trust <path>`. When the user file sets
// deployment.allow_project_config = false, the project file is not read at all
// and a Warning says so.
//
// # Merge rules
//
// A project file may only add servers or replace a user-file server of the
// same name as a whole: the replacement never inherits the user's OAuth
// settings, secrets, env or inject settings. Policy never comes from a project
// file: [deployment], [principals] and [audit] in a project file are
// configuration errors (move them to the user file or use --config), so a
// repository can never widen what the user allows. A trusted project server may
// still reference the user's secrets (client_secret = "env:NAME" or "secret:NAME"); trusting the
// file is what allows that, which is why trust is tied to the file's hash.
//
// # Validation
//
// Every key is checked at load: unknown keys (exact case), wrong types,
// durations (Go syntax plus Nd, Nw, Ny), rate limits ("60/m"), enums, templates
// (parsed and executed once against sample TemplateData, so {{ .Foo }} fails),
// URLs and contradictions (version "2.1" or enforce_https with an http token
// URL, a server with neither command nor url, oauth without client_id or
// token_url, mtls with only one of cert and key). Secret references (see
// secretref.go) are checked for form at load but resolved only for the server
// being launched (Server.ResolveSecrets), so one server's unset variable never
// stops another; Server.CheckReferences resolves them all for `config
// validate`. The first problem in file order is returned as an *Error; the
// CLI maps every *Error to exit 78.
//
// Relative paths (cwd, ca, mtls, file: references) are resolved against the
// directory of the file that sets them, after "~/" is expanded.
//
// A principal's empty or absent servers list means all servers ("*"), for
// local convenience; list names to narrow it. audit.retention = "0" keeps
// entries forever.
package config
