package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// The indicator actions: cte iocs mark-safe|unmark-safe|add|tag|untag|delete
// VALUE... They are engine methods (sharing.Engine.MarkSafe…); while cte run
// runs, the daemon runs them and they reach the products at once, otherwise
// they are stored and reach the products on the next sync.

// iocsActions are the subcommands of "cte iocs".
var iocsActions = []string{"mark-safe", "unmark-safe", "add", "tag", "untag", "delete"}

// actionFlags are the flags of the indicator actions.
type actionFlags struct {
	reason, tags, typ, severity, expires, comment string
}

func (a *app) iocsActionFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.act.reason, "reason", "", "why (mark-safe, delete): `TEXT` kept in the audit log")
	fs.StringVar(&a.act.tags, "tags", "", "comma-separated `TAGS` (tag, untag, add)")
	fs.StringVar(&a.act.typ, "type", "", "indicator `TYPE` for add: sha256, md5, url, domain, hostname, ipv4, ipv6 (default: detected)")
	fs.StringVar(&a.act.severity, "severity", "", "`SEVERITY` for add: low, medium, high, critical")
	fs.StringVar(&a.act.expires, "expires", "", "add: expire after `D` (e.g. 30d, 12h) or at an RFC 3339 time; default never")
	fs.StringVar(&a.act.comment, "comment", "", "add: a `TEXT` comment")
}

// cmdIOCAction runs "cte iocs ACTION VALUE...".
func (a *app) cmdIOCAction(ctx context.Context, args []string) int {
	action, values := args[0], args[1:]
	cmd := "iocs " + action
	if len(values) == 0 {
		return a.usageErr(cmd, "give one or more indicator values")
	}
	tags := splitList(a.act.tags)
	switch {
	case (action == "mark-safe" || action == "delete") && strings.TrimSpace(a.act.reason) == "":
		return a.usageErr(cmd, "give --reason TEXT: it is kept in the audit log")
	case (action == "tag" || action == "untag") && len(tags) == 0:
		return a.usageErr(cmd, "give --tags TAG[,TAG...]")
	}
	var in []sharing.NewIndicator
	if action == "add" {
		var code int
		if in, code = a.newIndicators(cmd, values, tags); in == nil {
			return code
		}
	}
	s, code := a.openSession(ctx, storeOnly)
	if s == nil {
		return code
	}
	defer s.close()
	var opts []sharing.ActionOption
	if a.daemon != nil {
		opts = append(opts, sharing.ApplyNow())
	}
	var rep sharing.ActionReport
	var err error
	switch action {
	case "mark-safe":
		rep, err = s.eng.MarkSafe(ctx, values, a.act.reason, opts...)
	case "unmark-safe":
		rep, err = s.eng.UnmarkSafe(ctx, values, opts...)
	case "add":
		rep, err = s.eng.AddIndicators(ctx, in, opts...)
	case "tag":
		rep, err = s.eng.Tag(ctx, values, tags, opts...)
	case "untag":
		rep, err = s.eng.Untag(ctx, values, tags, opts...)
	case "delete":
		rep, err = s.eng.Delete(ctx, values, a.act.reason, opts...)
	}
	s.observeShares(rep.Shares...)
	if err != nil && len(rep.Values) == 0 {
		if errors.Is(err, sharing.ErrInvalid) { // a value that is no indicator: the command line is wrong
			return a.usageErr(cmd, "%v", err)
		}
		return a.fail(err)
	}
	if a.json {
		if c := a.writeJSON(rep); c != exitOK {
			return c
		}
	} else {
		a.printAction(rep)
	}
	if err != nil { // stored, but a share run to apply it failed
		fmt.Fprintf(a.stderr, "cte: %v\n", err)
		return exitPartial
	}
	return exitOK
}

// newIndicators builds the indicators of "cte iocs add".
func (a *app) newIndicators(cmd string, values, tags []string) ([]sharing.NewIndicator, int) {
	var base sharing.NewIndicator
	base.Tags, base.Comments = tags, a.act.comment
	var err error
	if a.act.typ != "" {
		if base.Type, err = ioc.ParseType(a.act.typ); err != nil {
			return nil, a.usageErr(cmd, "--type: %v", err)
		}
	}
	if a.act.severity != "" {
		if base.Severity, err = ioc.ParseSeverity(a.act.severity); err != nil {
			return nil, a.usageErr(cmd, "--severity: %v", err)
		}
	}
	if a.act.expires != "" {
		if base.ExpiresAt, err = parseExpiry(a.act.expires, a.now()); err != nil {
			return nil, a.usageErr(cmd, "--expires %q: %v", a.act.expires, err)
		}
	}
	out := make([]sharing.NewIndicator, len(values))
	for i, v := range values {
		out[i] = base
		out[i].Value = v
	}
	return out, exitOK
}

// parseExpiry reads a duration from now (30d, 12h) or an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("give a duration such as 30d or 12h, or an RFC 3339 time")
	}
	return now.Add(d), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// printAction says what an action did, and when it reaches the products.
func (a *app) printAction(rep sharing.ActionReport) {
	fmt.Fprintf(a.stdout, "%s: %s\n", rep.Action, plural(len(rep.Values), "value"))
	for _, v := range rep.Values {
		fmt.Fprintf(a.stdout, "  %s\n", v)
	}
	if len(rep.Unknown) > 0 {
		what := "not stored"
		if rep.Action == "unmark-safe" {
			what = "not marked safe"
		}
		fmt.Fprintf(a.stdout, "%s (%s): %s\n", plural(len(rep.Unknown), "value"), what, strings.Join(rep.Unknown, ", "))
	}
	switch {
	case len(rep.Values) == 0:
	case a.daemon != nil:
		for _, s := range rep.Shares {
			fmt.Fprintf(a.stdout, "%s: %d sent, %d applied, %d retracted\n", s.Config, s.Sent, s.Applied, s.Retracted)
		}
		switch {
		case len(rep.Shares) > 0:
		case rep.Action == "add":
			fmt.Fprintf(a.stdout, "not shared: no sharing configuration has source: %s (add one to share them)\n", sharing.ManualSource)
		default:
			fmt.Fprintln(a.stdout, "no product needed a change")
		}
	default:
		fmt.Fprintln(a.stdout, "stored; it reaches the products on the next sync (no cte run is running)")
	}
}
