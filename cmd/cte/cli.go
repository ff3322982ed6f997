package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one subcommand.
type command struct {
	name    string
	args    string // argument synopsis
	summary string
	run     func(a *app, ctx context.Context, args []string) int
	flags   func(a *app, fs *flag.FlagSet) // adds the command's own flags
}

func commands() []*command {
	return []*command{
		{name: "validate", args: "[NAME]", summary: "check each plugin's configuration and credentials against its product", run: (*app).cmdValidate},
		{name: "targets", args: "NAME", summary: "list where plugin NAME can share to", run: (*app).cmdTargets},
		{name: "sync", args: "[--source NAME] [--retry-now]", summary: "pull every source (or one) and share, once, now", run: (*app).cmdSync, flags: (*app).syncFlags},
		{name: "run", args: "[--listen ADDR [--token T] [--tls-cert F --tls-key F]]", summary: "sync each source on its interval until interrupted (SIGINT/SIGTERM stop it cleanly); --listen serves the console", run: (*app).cmdRun, flags: (*app).runFlags},
		{name: "sharing", summary: "show the sharing table: rule, source, destination, target, last run, counts", run: (*app).cmdSharing},
		{name: "replay", args: "SHARING", summary: "send everything SHARING selects again now (a product lost what it was given)", run: (*app).cmdReplay},
		{name: "test", args: "SHARING [--days N] [--value V]", summary: "dry-run one sharing configuration: what would be shared and why", run: (*app).cmdTest, flags: (*app).testFlags},
		{name: "iocs", args: "[--filter QUERY] [--limit N] [--stix] | mark-safe|unmark-safe|add|tag|untag|delete VALUE...", summary: "list stored indicators (filtered with the rule query language), or act on some: mark-safe --reason, add, tag/untag --tags, delete --reason", run: (*app).cmdIOCs, flags: (*app).iocsFlags},
		{name: "explain", args: "VALUE", summary: "show everything known about one indicator value", run: (*app).cmdExplain},
		{name: "logs", args: "[--level L] [--since D] [--limit N]", summary: "show the audit log", run: (*app).cmdLogs, flags: (*app).logsFlags},
		{name: "state", args: "check | backup FILE", summary: "check the state file for damage, or copy it (consistent) to FILE", run: (*app).cmdState},
		{name: "demo", args: "[--keep]", summary: "run the whole exchange against built-in fake Mimecast and Netskope services", run: (*app).cmdDemo, flags: (*app).demoFlags},
		{name: "completion", args: "bash|zsh|fish", summary: "print the shell completion script, e.g. source <(cte completion bash)", run: (*app).cmdCompletion},
		{name: "version", summary: "print the version (also cte --version)", run: (*app).cmdVersion},
	}
}

const helpText = `cte shares threat indicators between Mimecast and Netskope.

Usage:
  cte [--config FILE] [--json] COMMAND [flags] [arguments]
  cte --version

Commands:
%s
Flags accepted by every command:
  --config FILE   configuration file (default: $CTE_CONFIG, or else cte.yaml)
  --json          write JSON for machines instead of tables for people
  --log-level L   debug, info, warn or error for log lines on stderr (default info)

Exit codes:
  0  everything worked
  1  the work failed: a product refused or could not be reached, or the state
     file could not be used
  2  the command line or the configuration file is wrong; nothing was done
  3  part of the work failed: some plugins did not validate, or some sources
     did not sync. Values a product refuses are recorded and shown (cte
     sharing, cte explain); they do not change the exit code.
  130 interrupted (Ctrl-C); what was stored so far is kept

Try it without any account:  cte demo
Run "cte COMMAND --help" for the flags of one command.
`

func (a *app) usage() string {
	var b strings.Builder
	for _, c := range commands() {
		syn := c.name
		if c.args != "" {
			syn += " " + c.args
		}
		fmt.Fprintf(&b, "  %-44s %s\n", syn, c.summary)
	}
	return fmt.Sprintf(helpText, b.String())
}

func (a *app) globalFlags(fs *flag.FlagSet) {
	def := defaultConfigFile
	if v, ok := a.env("CTE_CONFIG"); ok && v != "" {
		def = v
	}
	fs.StringVar(&a.configPath, "config", def, "configuration `FILE` (default: $CTE_CONFIG, or else cte.yaml)")
	fs.BoolVar(&a.showVersion, "version", false, "print the version and exit")
	fs.BoolVar(&a.json, "json", false, "write JSON instead of tables")
	fs.StringVar(&a.logLevel, "log-level", "info", "log `LEVEL` on stderr: debug, info, warn, error")
}

func (a *app) main(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("cte", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, a.usage())
			return exitOK
		}
		fmt.Fprintf(a.stderr, "cte: %v\n\n%s", flagError(err), a.usage())
		return exitUsage
	}
	if a.showVersion {
		return a.cmdVersion(ctx, nil)
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(a.stderr, "cte: no command given\n\n%s", a.usage())
		return exitUsage
	}
	name := fs.Arg(0)
	if name == "help" {
		if fs.NArg() > 1 {
			return a.main(ctx, []string{fs.Arg(1), "--help"})
		}
		fmt.Fprint(a.stdout, a.usage())
		return exitOK
	}
	var cmd *command
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(a.stderr, "cte: unknown command %q%s; commands: %s\n", name, suggest(name, names), strings.Join(names, ", "))
		return exitUsage
	}
	// Values given before the command stay the defaults after it.
	given := map[string]string{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
	cfs := flag.NewFlagSet("cte "+cmd.name, flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	a.globalFlags(cfs)
	for k, v := range given {
		_ = cfs.Set(k, v)
	}
	if cmd.flags != nil {
		cmd.flags(a, cfs)
	}
	rest, err := parseInterspersed(cfs, fs.Args()[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.commandHelp(cmd, cfs)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "cte %s: %v\nRun \"cte %s --help\" for its flags.\n", cmd.name, flagError(err), cmd.name)
		return exitUsage
	}
	cfs.Visit(func(f *flag.Flag) { a.logLevelSet = a.logLevelSet || f.Name == "log-level" })
	if _, ok := parseLevel(a.logLevel); !ok {
		fmt.Fprintf(a.stderr, "cte: --log-level %q: write debug, info, warn or error\n", a.logLevel)
		return exitUsage
	}
	if code, ok := a.beforeRun(ctx, cmd.name, rest, args); ok {
		return code
	}
	return cmd.run(a, ctx, rest)
}

// parseInterspersed parses flags that may come before or after the positional
// arguments, as in "cte test NAME --days 7".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

func (a *app) commandHelp(cmd *command, fs *flag.FlagSet) {
	syn := "cte " + cmd.name
	if cmd.args != "" {
		syn += " " + cmd.args
	}
	fmt.Fprintf(a.stdout, "Usage: %s\n\n%s.\n\nFlags:\n", syn, upperFirst(cmd.summary))
	printFlags(a.stdout, fs)
	fmt.Fprint(a.stdout, "\nExit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 partial failure, 130 interrupted.\n")
}

// printFlags lists the flags of fs the way the help text writes them: --name,
// two dashes (the flag package accepts both, and prints one).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if name != "" {
			head += " " + name
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" && !strings.Contains(usage, "(default") {
			usage += fmt.Sprintf(" (default %q)", def)
		}
		fmt.Fprintf(w, "%s\n      %s\n", head, usage)
	})
}

// flagError rewrites the flag package's "-name" as "--name", the form the help
// text uses.
func flagError(err error) string {
	s := err.Error()
	for _, p := range []string{"defined: -", "argument: -", "flag -"} {
		s = strings.Replace(s, p, p+"-", 1)
	}
	return s
}
