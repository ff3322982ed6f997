package rule

import (
	"fmt"
	"strconv"
	"time"
)

// maxDuration is the longest duration ParseDuration accepts: 36500 days, about
// 100 years.
const maxDuration = 36500 * 24 * time.Hour

// durationUnits are the units of the duration grammar, largest first, with their
// length in seconds.
var durationUnits = [...]struct {
	unit byte
	secs int64
}{{'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}

const durationWant = "a number and a unit (w, d, h, m or s), like 30d, 12h, 1d12h or 1.5d"

// ParseDuration reads the duration grammar shared by queries (age < 30d,
// lastSeen > 7d) and the cte configuration file (sync_interval, aging,
// log_retention):
//
//	duration = "0" | pair { pair }
//	pair     = digits [ "." digits ] unit
//	unit     = "w" | "d" | "h" | "m" | "s"
//
// w is 7 days and d 24 hours (calendar-free: no month or year units, no
// daylight-saving days). Pairs add up and may come in any order: 30d, 12h, 1w,
// 1d12h, 1h30m, 90m and 1.5d (36 hours) are all durations. A fraction is allowed
// on any unit as long as the whole comes to a number of seconds: 1.5d and 0.5h
// are, 1.5s is not. There is no sign, no space and no unit below a second; the
// longest duration is 36500d (about 100 years). The error names s and says
// what to write.
func ParseDuration(s string) (time.Duration, error) {
	d, res := parseDuration(s)
	if res != durOK {
		return 0, durationError(s, res)
	}
	return d, nil
}

// durationError says why s is not a duration and what to write.
func durationError(s string, res durResult) error {
	switch res {
	case durTooLong:
		return fmt.Errorf("duration %q is too long: at most %s", clip(s), formatDuration(maxDuration))
	case durFraction:
		return fmt.Errorf("duration %q has a fraction of a second: write whole seconds, e.g. 90s or 1.5m", clip(s))
	}
	return fmt.Errorf("%q is not a duration: want %s", clip(s), durationWant)
}

// durResult is how a duration failed to parse, for the caller's message.
type durResult uint8

const (
	durOK durResult = iota
	durBad
	durTooLong
	durFraction
)

// parseDuration implements ParseDuration. It checks the syntax of the whole
// string before the size, so "99999999999x" is not a duration rather than too
// long.
func parseDuration(s string) (time.Duration, durResult) {
	if s == "0" {
		return 0, durOK
	}
	if s == "" {
		return 0, durBad
	}
	var total int64 // seconds
	res := durOK
	for s != "" {
		whole, frac, scale, rest, ok := durationNumber(s)
		if !ok || rest == "" {
			return 0, durBad
		}
		unit := int64(0)
		for _, u := range durationUnits {
			if u.unit == rest[0] {
				unit = u.secs
			}
		}
		if unit == 0 {
			return 0, durBad
		}
		s = rest[1:]
		if res != durOK {
			continue // keep checking the syntax
		}
		if frac*unit%scale != 0 {
			res = durFraction
			continue
		}
		if total += whole*unit + frac*unit/scale; total > int64(maxDuration/time.Second) {
			res = durTooLong
		}
	}
	if res != durOK {
		return 0, res
	}
	return time.Duration(total) * time.Second, durOK
}

// durationNumber reads digits [ "." digits ] at the start of s: the whole part,
// the fraction as an integer over scale (a power of ten), and the rest of s.
// Whole parts of more than 10 digits read as 10^10, which is too long whatever
// the unit; fractions keep at most 9 digits.
func durationNumber(s string) (whole, frac, scale int64, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, 0, 0, "", false
	}
	whole = 1e10
	if i <= 10 {
		whole, _ = strconv.ParseInt(s[:i], 10, 64) // at most 10 digits: fits
	}
	scale = 1
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 || j-i-1 > 9 {
			return 0, 0, 0, "", false
		}
		frac, _ = strconv.ParseInt(s[i+1:j], 10, 64) // at most 9 digits: fits
		for range j - i - 1 {
			scale *= 10
		}
		i = j
	}
	return whole, frac, scale, s[i:], true
}

// formatDuration prints d (>= 0, whole seconds) in days, hours, minutes and
// seconds, the form ParseDuration reads back: 1d12h, 90m -> 1h30m, 0 -> 0s.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b []byte
	secs := int64(d / time.Second)
	for _, u := range durationUnits[1:] { // no weeks: 14d reads better than 2w
		if n := secs / u.secs; n > 0 {
			b = strconv.AppendInt(b, n, 10)
			b = append(b, u.unit)
			secs -= n * u.secs
		}
	}
	return string(b)
}

// FormatDuration prints d to the second in the units ParseDuration reads, for
// people: 2160h -> 90d, 36h -> 1d12h, 5m0s -> 5m, 0 -> 0s; a negative d gets a
// leading minus.
func FormatDuration(d time.Duration) string { return formatSigned(d) }
