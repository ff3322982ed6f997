package main

import (
	"strings"
	"testing"
)

// FuzzParseConfig checks that no input makes the loader panic, that every
// problem names the file, and that a secret from the environment never appears
// in an error.
func FuzzParseConfig(f *testing.F) {
	f.Add(goodConfig)
	f.Add(fakeConfig)
	f.Add("plugins:\n  a: {type: mimecast, config: {app_key: [${MC_APP_KEY}]}}\n")
	f.Add("plugins: [1, 2]\nrules: {r: {filter: 'type == '}}\nsharing: [{name: x}]\n")
	f.Add("state: ${NS_V1}\nplugins:\n  n: {type: ${NS_V2}, sync_interval: ${NS_V1}}\n")
	f.Add("&a [*a]")
	f.Add("\t")
	env := testEnv()
	f.Fuzz(func(t *testing.T, data string) {
		cfg, err := parseConfig("cte.yaml", []byte(data), newRegistry(), env)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		msg := err.Error()
		for _, line := range strings.Split(msg, "\n") {
			if !strings.HasPrefix(line, "cte.yaml") && !strings.HasPrefix(line, "    ") {
				t.Fatalf("problem line does not name the file: %q", line)
			}
		}
		for _, s := range []string{secAppKey, secAccessKey, secSecretKey, secV2, secV1} {
			if strings.Contains(msg, s) && !strings.Contains(data, s) {
				t.Fatalf("secret from the environment in error: %q", msg)
			}
		}
	})
}

// FuzzExpand checks ${VAR} expansion never panics and leaves text without ${
// as it is.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"plain", "${X}", "$${X}", "${X:-d}", "${", "a${X}b${Y}", "${1}", "$$$${X}"} {
		f.Add(s)
	}
	env := testEnv("X", "x")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := expand(s, env)
		if !strings.Contains(s, "${") && (err != nil || got != s) {
			t.Fatalf("expand(%q) = %q, %v; want it unchanged", s, got, err)
		}
	})
}

// FuzzParseDuration checks the duration reader never panics nor returns a
// negative duration without error.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"5m", "30d", "1.5d", "-1d", "1e400d", "d", "90"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseDuration(s); err == nil && d < 0 && !strings.HasPrefix(strings.TrimSpace(s), "-") {
			t.Fatalf("parseDuration(%q) = %v", s, d)
		}
	})
}
