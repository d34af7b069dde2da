// Package clients knows the configuration files of MCP clients — Claude
// Desktop, Claude Code, Cursor, VS Code, Codex and Windsurf — and the Enkrypt
// Secure MCP Gateway's JSON configuration.
//
// It owns three jobs and nothing else:
//
//   - where each client keeps its server list, per operating system and scope
//     (Locate), and under which key (mcpServers, servers, mcp.servers,
//     mcp_servers);
//   - editing one server entry of such a file in place (Installer), so that
//     comments, formatting and every unrelated entry survive byte for byte:
//     JSON and JSONC through github.com/tailscale/hujson's syntax tree and
//     offsets, Codex's TOML textually, table by table. Every write takes a lock,
//     leaves a backup next to the file and keeps the entry it replaced in a
//     record, so that Uninstall can put it back;
//   - reading entries for `mcpwrap import` (ReadEntries, ReadEnkrypt) and
//     rendering them as mcpwrap [servers.X] tables (AppendServers), with literal
//     secrets taken out of the file and replaced by references the user must
//     export.
//
// It does not load mcpwrap's configuration, resolve secrets, start processes
// or print: callers get Results and Notes to show. Error strings name files
// and keys, never a secret value; the dry-run diff redacts the values of
// secret-looking variables.
//
// # Records and locks
//
// An Installer keeps, per client file, a JSON record in its RecordDir (the CLI
// uses <state-dir>/client-installs; mode 0600, directory 0700) holding, for
// each installed server, the raw text of the entry it replaced (or that there
// was none) and whether install created the servers key. Backups
// (<file>.mcpwrap-backup-<UTC time>) are 0600 too: they hold whatever secrets
// the replaced entry had. Each read-modify-write runs under a Locker key
// (store.Store.LockKey, bounded by LockTimeout): the clients themselves do not
// honour it, it only keeps two mcpwrap processes from interleaving.
package clients
