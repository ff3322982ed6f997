package cte

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Sentinel errors. Plugins and clients wrap them; callers match with errors.Is.
var (
	// ErrNotSupported reports an operation the plugin does not offer, such as Push on a
	// pull-only plugin.
	ErrNotSupported = errors.New("not supported")
	// ErrInvalidConfig reports a configuration that cannot work; the wrapping error names
	// the field and what to write instead.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrAuth reports credentials the product refused, or a licence or scope missing.
	ErrAuth = errors.New("authentication failed")
	// ErrRateLimited reports that the product asked us to slow down for longer than we
	// are willing to wait.
	ErrRateLimited = errors.New("rate limited")
	// ErrQuota reports a product quota that is exhausted; retrying later may succeed.
	ErrQuota = errors.New("quota exhausted")
)

// RateLimitError reports that a product asked for a wait before the next request,
// longer than the plugin waits by itself. It wraps ErrRateLimited. A plugin returns
// it (wrapped or not) from any method; a host holds its calls to that product, e.g.
// the pushes to that target, until Wait has passed. Plugins with error types of
// their own may instead give those a RetryAfter() time.Duration method: see
// RetryAfter.
type RateLimitError struct {
	Wait   time.Duration // how long the product asked to wait; 0 when it did not say
	Reason string        // what the product answered, e.g. "HTTP 429"
}

// Error implements error.
func (e *RateLimitError) Error() string {
	msg := "rate limited"
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	if e.Wait > 0 {
		msg += fmt.Sprintf(": the product asks to wait %s; try again after that", e.Wait.Round(time.Second))
	}
	return msg
}

// Unwrap returns ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// RetryAfter returns Wait.
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }

// RetryAfter returns the wait a rate-limited product asked for: that of the first
// error in err's tree with a RetryAfter() time.Duration method (such as
// *RateLimitError) and a positive wait. It reports false when there is none.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		if w := ra.RetryAfter(); w > 0 {
			return w, true
		}
	}
	return 0, false
}

// ConfigError is a configuration problem with one field. It wraps ErrInvalidConfig.
type ConfigError struct {
	Field  string // the configuration key, e.g. "secret_key"
	Reason string // what is wrong and what to write instead
}

// Error implements error.
func (e *ConfigError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("invalid configuration: %s", e.Reason)
	}
	return fmt.Sprintf("invalid configuration: %s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Secret is a credential. It formats, prints and marshals as "[redacted]"; only
// Reveal returns the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value. Call it only where the value is sent to the product.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `cte.Secret("` + s.String() + `")` }

// Format keeps every fmt verb from printing the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalText marshals as "[redacted]", so JSON and YAML output never carries the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the value as given.
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
