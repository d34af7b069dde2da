package app

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The completion scripts ask mcpwrap itself: urfave/cli answers a command line
// ending in --generate-bash-completion with the subcommands (or, after a
// "-", the flags) that fit, and server arguments are completed from the
// configuration. They print no color.
const bashCompletion = `# mcpwrap bash completion; load with: source <(mcpwrap completion bash)
_mcpwrap_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == -* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  return 0
}
complete -o bashdefault -o default -F _mcpwrap_complete mcpwrap
`

const zshCompletion = `#compdef mcpwrap
# mcpwrap zsh completion; load with: source <(mcpwrap completion zsh)
# or save it as _mcpwrap in a directory of your $fpath.
_mcpwrap() {
  local -a opts
  local cur=${words[CURRENT]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[1,CURRENT-1]} "$cur" --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[1,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
  fi
  opts=(${opts:#})
  if (( ${#opts} )); then
    compadd -- $opts
  else
    _files
  fi
}
if [[ "$funcstack[1]" == "_mcpwrap" ]]; then
  _mcpwrap "$@"
else
  compdef _mcpwrap mcpwrap
fi
`

const fishCompletion = `# mcpwrap fish completion; load with: mcpwrap completion fish | source
# or save it as ~/.config/fish/completions/mcpwrap.fish
function __mcpwrap_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    if string match -q -- '-*' $cur
        command $words $cur --generate-bash-completion 2>/dev/null
    else
        command $words --generate-bash-completion 2>/dev/null
    end
end
complete -c mcpwrap -f -a '(__mcpwrap_complete)'
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
