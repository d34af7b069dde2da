package app

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The completion scripts ask mcpwrap itself (`mcpwrap __complete -- WORDS CUR`,
// see complete.go) and turn its answer into the shell's candidates; the
// answer ":files" means file names. They print no color.
const bashCompletion = `# mcpwrap bash completion; load with: source <(mcpwrap completion bash)
_mcpwrap_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local IFS=$'\n'
  local -a out
  out=($("${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null))
  if [[ "${out[0]}" == ":files" ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
  fi
  COMPREPLY=($(compgen -W "${out[*]}" -- "$cur"))
  return 0
}
complete -F _mcpwrap_complete mcpwrap
`

const zshCompletion = `#compdef mcpwrap
# mcpwrap zsh completion; load with: source <(mcpwrap completion zsh)
# (after compinit), or save it as _mcpwrap in a directory of your $fpath.
_mcpwrap() {
  local -a out
  out=("${(@f)$(${words[1]} __complete -- "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)}")
  out=(${out:#})
  if [[ "${out[1]}" == ":files" ]]; then
    _files
    return
  fi
  (( ${#out} )) && compadd -- "${(@)out}"
}
if [[ "$funcstack[1]" == "_mcpwrap" ]]; then
  _mcpwrap "$@"
elif (( $+functions[compdef] )); then
  compdef _mcpwrap mcpwrap
fi
`

const fishCompletion = `# mcpwrap fish completion; load with: mcpwrap completion fish | source
# or save it as ~/.config/fish/completions/mcpwrap.fish
function __mcpwrap_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l bin $words[1]
    set -e words[1]
    set -l out (command $bin __complete -- $words $cur 2>/dev/null)
    if test "$out[1]" = ":files"
        __fish_complete_path $cur
        return
    end
    printf '%s\n' $out
end
complete -c mcpwrap -f -k -a '(__mcpwrap_complete)'
`

func completionCommand(e *env) *cli.Command {
	script := func(text string) func(*cli.Context) error {
		return func(*cli.Context) error {
			_, err := fmt.Fprint(e.io.Stdout, text)
			return err
		}
	}
	return &cli.Command{
		Name:  "completion",
		Usage: "print a shell completion script (bash, zsh or fish)",
		Description: "bash:  source <(mcpwrap completion bash)      (e.g. in ~/.bashrc)\n" +
			"zsh:   source <(mcpwrap completion zsh)       (e.g. in ~/.zshrc)\n" +
			"fish:  mcpwrap completion fish > ~/.config/fish/completions/mcpwrap.fish",
		Subcommands: []*cli.Command{
			{Name: "bash", Usage: "bash completion script", Action: script(bashCompletion)},
			{Name: "zsh", Usage: "zsh completion script", Action: script(zshCompletion)},
			{Name: "fish", Usage: "fish completion script", Action: script(fishCompletion)},
		},
		Action: func(c *cli.Context) error {
			return usageErr("completion needs a shell: bash, zsh or fish")
		},
	}
}

// docsCommand prints a reference of every command, generated from the CLI
// definitions (for the manual and the website).
func docsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:   "docs",
		Usage:  "print the command reference as Markdown (or a man page with --man)",
		Hidden: true,
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "man", Usage: "print a man page (roff) instead of Markdown"}},
		Action: func(c *cli.Context) error {
			var text string
			var err error
			if c.Bool("man") {
				text, err = c.App.ToMan()
			} else {
				text, err = c.App.ToMarkdown()
			}
			if err != nil {
				return withCode(ExitInternal, err)
			}
			_, err = fmt.Fprint(e.io.Stdout, text)
			return err
		},
	}
}
