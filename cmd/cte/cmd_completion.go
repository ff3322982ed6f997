package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cmdCompletion prints a completion script for bash, zsh or fish, built from
// the command table so that it never lists a command or flag cte does not have.
func (a *app) cmdCompletion(_ context.Context, args []string) int {
	if len(args) != 1 {
		return a.usageErr("completion", "needs a shell: bash, zsh or fish")
	}
	switch args[0] {
	case "bash":
		a.bashCompletion(a.stdout)
	case "zsh":
		// zsh runs the bash script through its bashcompinit layer.
		fmt.Fprint(a.stdout, "#compdef cte\nautoload -U +X bashcompinit && bashcompinit\n")
		a.bashCompletion(a.stdout)
	case "fish":
		a.fishCompletion(a.stdout)
	default:
		return a.usageErr("completion", "%q is not a shell cte completes; write bash, zsh or fish", args[0])
	}
	return exitOK
}

// flagNames returns the --flags of one command (global flags included), or
// the global flags when cmd is nil.
func (a *app) flagNames(cmd *command) []*flag.Flag {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	scratch := &app{env: a.env} // the flags bind to a throwaway app
	scratch.globalFlags(fs)
	if cmd != nil && cmd.flags != nil {
		cmd.flags(scratch, fs)
	}
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	return out
}

func (a *app) bashCompletion(w io.Writer) {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	dashed := func(fs []*flag.Flag) string {
		out := make([]string, len(fs))
		for i, f := range fs {
			out[i] = "--" + f.Name
		}
		return strings.Join(out, " ")
	}
	fmt.Fprintf(w, `# cte completion for bash: source <(cte completion bash)
_cte() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      %s) ((i++)) ;;
      -*) ;;
      *) cmd=${COMP_WORDS[i]}; break ;;
    esac
  done
  case $prev in
    --config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --log-level|--level) COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
  esac
  local words
  case $cmd in
    "") words="%s %s" ;;
`, strings.Join(a.valueFlags(), "|"), strings.Join(names, " "), dashed(a.flagNames(nil)))
	for _, c := range commands() {
		words := dashed(a.flagNames(c))
		if c.name == "completion" {
			words = "bash zsh fish"
		}
		fmt.Fprintf(w, "    %s) words=%q ;;\n", c.name, words)
	}
	fmt.Fprint(w, `  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _cte cte
`)
}

func (a *app) fishCompletion(w io.Writer) {
	fmt.Fprintln(w, "# cte completion for fish: cte completion fish | source")
	fmt.Fprintln(w, "complete -c cte -f")
	global := map[string]bool{}
	for _, f := range a.flagNames(nil) {
		global[f.Name] = true
		fmt.Fprintf(w, "complete -c cte -l %s -d %s\n", f.Name, fishQuote(f.Usage))
	}
	for _, c := range commands() {
		fmt.Fprintf(w, "complete -c cte -n '__fish_use_subcommand' -a %s -d %s\n", c.name, fishQuote(c.summary))
		for _, f := range a.flagNames(c) {
			if global[f.Name] {
				continue
			}
			fmt.Fprintf(w, "complete -c cte -n '__fish_seen_subcommand_from %s' -l %s -d %s\n", c.name, f.Name, fishQuote(f.Usage))
		}
	}
	fmt.Fprintln(w, "complete -c cte -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'")
}

func fishQuote(s string) string {
	s = strings.ReplaceAll(s, "`", "")
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// valueFlags lists, as --name, the flags of any command that take a value.
func (a *app) valueFlags() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range commands() {
		for _, f := range a.flagNames(c) {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			if !seen[f.Name] {
				seen[f.Name] = true
				out = append(out, "--"+f.Name)
			}
		}
	}
	return out
}
