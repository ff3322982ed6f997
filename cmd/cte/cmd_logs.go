package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ctexchange/cte/console"
	"github.com/ctexchange/cte/sharing"
)

func (a *app) logsFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.f.level, "level", "info", "lowest `level` shown: debug, info, warn, error")
	fs.StringVar(&a.f.since, "since", "", "only entries newer than `D` ago, e.g. 30m, 12h, 7d")
	fs.IntVar(&a.f.limit, "limit", 100, "show the newest `N` entries (0: all)")
}

func (a *app) cmdLogs(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("logs", "takes no arguments")
	}
	lvl, ok := parseLevel(a.f.level)
	if !ok {
		return a.usageErr("logs", "--level %q: write debug, info, warn or error", a.f.level)
	}
	f := sharing.LogFilter{MinLevel: lvl, Limit: a.f.limit}
	if a.f.since != "" {
		d, err := parseDuration(a.f.since)
		if err != nil || d <= 0 {
			return a.usageErr("logs", "--since %q is not a duration; write e.g. 30m, 12h or 7d", a.f.since)
		}
		f.Since = a.now().Add(-d)
	}
	if a.f.limit < 0 {
		return a.usageErr("logs", "--limit %d: write a positive number, or 0 for all", a.f.limit)
	}
	s, code := a.openSession(ctx, storeOnly)
	if s == nil {
		return code
	}
	defer s.close()
	entries, err := s.eng.Logs(ctx, f)
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return a.writeJSON(logsJSON(entries))
	}
	a.printLogs(a.stdout, entries)
	return exitOK
}

func (a *app) printLogs(w io.Writer, entries []sharing.AuditEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no log entries")
		return
	}
	for _, e := range entries {
		fmt.Fprintf(w, "%s %-5s %s", a.when(e.Time), e.Level, e.Message)
		if e.Config != "" {
			fmt.Fprintf(w, " [%s]", e.Config)
		}
		fmt.Fprintln(w)
		if len(e.Details) > 0 {
			parts := make([]string, 0, len(e.Details))
			for _, k := range sortedKeys(e.Details) {
				parts = append(parts, quoteIfNeeded(k)+"="+quoteIfNeeded(e.Details[k]))
			}
			fmt.Fprintf(w, "    %s\n", strings.Join(parts, " "))
		}
		if e.Resolution != "" {
			fmt.Fprintf(w, "    what to do: %s\n", e.Resolution)
		}
	}
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return strconv.Quote(s)
	}
	return s
}

// parseLevel reads debug, info, warn or error (any case).
func parseLevel(s string) (slog.Level, bool) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(strings.TrimSpace(s)))); err != nil || strings.ContainsAny(s, "+-") {
		return 0, false
	}
	return l, true
}

// logsJSON is the --json shape of audit entries, the one GET /api/v1/logs answers.
func logsJSON(entries []sharing.AuditEntry) []console.LogEntry {
	out := make([]console.LogEntry, len(entries))
	for i, e := range entries {
		out[i] = console.LogEntryOf(e)
	}
	return out
}
