package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// newTable returns a tabwriter on stdout.
func (a *app) newTable() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
}

// partialCode is exitOK when nothing failed, exitFailure when everything did and
// exitPartial in between.
func partialCode(failed, total int) int {
	switch {
	case failed == 0:
		return exitOK
	case failed >= total:
		return exitFailure
	}
	return exitPartial
}

func pluginNames(cfg *config) []string {
	out := make([]string, len(cfg.Plugins))
	for i, p := range cfg.Plugins {
		out[i] = p.Name
	}
	return out
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// when formats a time for tables: "never", or UTC to the second.
func (a *app) when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func sharedText(shared bool) string {
	if shared {
		return "shared"
	}
	return "not shared"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// errorsOf splits a joined error into its parts.
func errorsOf(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, errorsOf(e)...)
		}
		return out
	}
	return []error{err}
}

// plural is "1 page" or "2 pages".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
