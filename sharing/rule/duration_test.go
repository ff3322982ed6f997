package rule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for in, want := range map[string]time.Duration{
		"0":      0,
		"0s":     0,
		"30d":    30 * day,
		"12h":    12 * time.Hour,
		"1w":     7 * day,
		"1d12h":  36 * time.Hour,
		"1h30m":  90 * time.Minute,
		"90m":    90 * time.Minute,
		"1.5d":   36 * time.Hour,
		"0.5d":   12 * time.Hour,
		"1.5h":   90 * time.Minute,
		"1.5m":   90 * time.Second,
		"0.25h":  15 * time.Minute,
		"1.50d":  36 * time.Hour,
		"30m1h":  90 * time.Minute, // any order
		"1d1d":   2 * day,          // pairs add up
		"36500d": 36500 * day,
		"5200w":  5200 * 7 * day,
		"300s":   5 * time.Minute,
		"007d":   7 * day,
	} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	const want = "want a number and a unit (w, d, h, m or s), like 30d, 12h, 1d12h or 1.5d"
	for in, msg := range map[string]string{
		"":              `"" is not a duration: ` + want,
		"5":             `"5" is not a duration: ` + want,
		"d":             `"d" is not a duration: ` + want,
		" 2d":           `" 2d" is not a duration: ` + want,
		"2d ":           `"2d " is not a duration: ` + want,
		"1 d":           `"1 d" is not a duration: ` + want,
		"-1d":           `"-1d" is not a duration: ` + want,
		"+1d":           `"+1d" is not a duration: ` + want,
		"1e3d":          `"1e3d" is not a duration: ` + want,
		"0x10d":         `"0x10d" is not a duration: ` + want,
		"30days":        `"30days" is not a duration: ` + want,
		"1D":            `"1D" is not a duration: ` + want,
		"5y":            `"5y" is not a duration: ` + want,
		"300ms":         `"300ms" is not a duration: ` + want,
		".5d":           `".5d" is not a duration: ` + want,
		"1.d":           `"1.d" is not a duration: ` + want,
		"1..5d":         `"1..5d" is not a duration: ` + want,
		"0.0000000001d": `"0.0000000001d" is not a duration: ` + want,
		"1d2":           `"1d2" is not a duration: ` + want,
		"99999999999x":  `"99999999999x" is not a duration: ` + want,
		"36501d":        `duration "36501d" is too long: at most 36500d`,
		"36501d1d":      `duration "36501d1d" is too long: at most 36500d`,
		"36501d1x":      `"36501d1x" is not a duration: ` + want, // syntax first, then size
		"1.5s2x":        `"1.5s2x" is not a duration: ` + want,
		"36500d1s":      `duration "36500d1s" is too long: at most 36500d`,
		"99999999999d":  `duration "99999999999d" is too long: at most 36500d`,
		"1.5s":          `duration "1.5s" has a fraction of a second: write whole seconds, e.g. 90s or 1.5m`,
		"0.00001d":      `duration "0.00001d" has a fraction of a second: write whole seconds, e.g. 90s or 1.5m`,
		"1.0001h":       `duration "1.0001h" has a fraction of a second: write whole seconds, e.g. 90s or 1.5m`,
	} {
		d, err := ParseDuration(in)
		assert.EqualError(t, err, msg, in)
		assert.Zero(t, d, in)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                                "0s",
		time.Second:                      "1s",
		90 * time.Minute:                 "1h30m",
		36 * time.Hour:                   "1d12h",
		14 * 24 * time.Hour:              "14d",
		25*time.Hour + time.Minute + 1e9: "1d1h1m1s",
		maxDuration:                      "36500d",
	} {
		assert.Equal(t, want, formatDuration(d))
		assert.Equal(t, want, FormatDuration(d))
		back, err := ParseDuration(want)
		require.NoError(t, err, want)
		assert.Equal(t, d, back, "%s reads back", want)
	}
}

// FuzzParseDuration checks that ParseDuration never panics, returns a
// duration of whole seconds from 0 to 36500d or an error naming the input,
// and that a duration prints to a form that reads back to it.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "30d", "1w", "1d12h", "1h30m", "1.5d", "0.5h", "1.5s", "-1d",
		"1e400d", "d", "90", "99999999999d", "1.0000000001d", "36500d", "5200w6d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 || err.Error() == "" {
				t.Fatalf("ParseDuration(%q) = %v, %v", s, d, err)
			}
			return
		}
		if d < 0 || d > maxDuration || d%time.Second != 0 {
			t.Fatalf("ParseDuration(%q) = %v: out of range or not whole seconds", s, d)
		}
		printed := formatDuration(d)
		if back, err := ParseDuration(printed); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, printed %q, read back %v, %v", s, d, printed, back, err)
		}
	})
}

func TestFormatDurationForPeople(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		2160 * time.Hour:                "90d",
		5 * time.Minute:                 "5m",
		1500 * time.Millisecond:         "1s",
		-36 * time.Hour:                 "-1d12h",
		time.Hour + 30*time.Millisecond: "1h",
		7 * 24 * time.Hour:              "7d",
	} {
		assert.Equal(t, want, FormatDuration(d), "%v", d)
	}
}
