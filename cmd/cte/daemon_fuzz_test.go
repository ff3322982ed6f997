package main

import (
	"testing"
	"time"
)

// FuzzParseExpiry: --expires takes a duration (with days) or an RFC 3339
// time; anything accepted is in the future of now, or an explicit time.
func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"30d", "12h", "1h30m", "2026-12-31T00:00:00Z", "0d", "-1d", "d", "10x", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		at, err := parseExpiry(s, now)
		if err != nil {
			return
		}
		if _, perr := time.Parse(time.RFC3339, s); perr != nil && !at.After(now) {
			t.Fatalf("parseExpiry(%q) = %v, not after now", s, at)
		}
	})
}

// FuzzCommandOf: the command a forwarded command line names is one of its
// arguments, never a flag.
func FuzzCommandOf(f *testing.F) {
	f.Add("--config", "x.yaml", "sharing")
	f.Add("--json", "iocs", "--limit")
	f.Add("-log-level", "debug", "test")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		got := commandOf([]string{a, b, c})
		if got != "" && got != a && got != b && got != c {
			t.Fatalf("commandOf(%q) = %q", []string{a, b, c}, got)
		}
		if len(got) > 0 && got[0] == '-' {
			t.Fatalf("commandOf returned a flag %q", got)
		}
	})
}
