package cte

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/ctexchange/cte/ioc"
)

// Plugin connects one configured product. Every method may do I/O and honours ctx.
type Plugin interface {
	// Validate checks the configuration, the credentials and the licences against the
	// product. A refused credential wraps ErrAuth and says which key to check.
	Validate(ctx context.Context) error
	// Pull yields the indicators that are new since from, page by page. A nil
	// checkpoint is a first run, where the plugin's initial range applies. Each Page's
	// Next resumes after that page; it becomes durable only once the caller stored the
	// page. On error Pull yields the error once and stops. A yielded Page belongs
	// to the caller: the plugin does not reuse its slices. The caller asks for
	// the next page only once it stored this one, unless the plugin is a
	// PageAheadReader.
	Pull(ctx context.Context, from Checkpoint) iter.Seq2[Page, error]
	// Push writes indicators to target t. For an Append target, in holds the new or
	// changed indicators; for a Replace target, in is the whole desired content. The
	// result accounts for every input indicator: applied, unchanged or rejected. A
	// non-nil error with a non-zero result means part of the work was done; values a
	// failed request carried are rejected as Retryable. A push stopped by ctx leaves
	// the values it did not send unaccounted: they were not refused, and the host
	// sends them again without counting a failed attempt. An error that carries a
	// product's wait (RateLimitError, RetryAfter) asks the host to hold further
	// pushes to that target until then.
	Push(ctx context.Context, t Target, in []ioc.Indicator) (PushResult, error)
	// GetTargets lists where Push can write. A pull-only plugin returns none. When
	// listing an optional kind of target fails (an API the configuration may not
	// use), the plugin returns the targets it could list with a nil error and logs
	// a warning; it fails only when it could list nothing, or the credentials were
	// refused.
	GetTargets(ctx context.Context) ([]Target, error)
}

// Retractor is implemented by plugins whose Append targets can remove indicators they
// were given before, such as Mimecast's DELETE operation.
type Retractor interface {
	// Retract removes in from target t. The result counts removals as Applied.
	Retract(ctx context.Context, t Target, in []ioc.Indicator) (PushResult, error)
}

// PageAheadReader is implemented by plugins whose Pull may fetch its next page
// before the caller stored the page before: those whose product keeps no read
// position of its own, so that a page fetched and never stored is fetched again
// from the last stored checkpoint (Mimecast's feed, read by time range and page
// token). The sharing engine then runs Pull in a goroutine of its own, one page
// ahead, so that the product's latency and the parsing overlap the store. A
// product that moves a cursor of its own at each read must not (Netskope's Data
// Export iterator: a page fetched ahead moves it past a page not yet stored,
// which a failed store or a crash would lose).
type PageAheadReader interface {
	// ReadsPagesAhead reports whether Pull may fetch its next page before the
	// caller stored the one before.
	ReadsPagesAhead() bool
}

// Checkpoint is a plugin-defined resume position. Nil means the first run.
type Checkpoint []byte

// Page is one unit of a pull: indicators and the checkpoint that resumes after them.
type Page struct {
	Indicators []ioc.Indicator
	// Next resumes the pull after this page. Store it only together with Indicators.
	Next Checkpoint
	// Invalid counts values the product sent that are not valid indicators, by reason.
	// They are never pushed; the engine reports them in the audit log.
	Invalid []Invalid
}

// Invalid summarises source values that failed validation for one reason.
type Invalid struct {
	Reason  string // e.g. "sha256: not 64 hex digits"
	Count   int
	Example string // one offending value, truncated
}

// Mode says how a target takes indicators.
type Mode uint8

// Target modes.
const (
	// Append targets keep what they were given; only new or changed indicators are sent.
	Append Mode = iota + 1
	// Replace targets take the whole desired set on every push.
	Replace
)

// String returns "append" or "replace".
func (m Mode) String() string {
	switch m {
	case Append:
		return "append"
	case Replace:
		return "replace"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) {
	if m != Append && m != Replace {
		return nil, fmt.Errorf("cte: invalid mode %d", uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "append":
		*m = Append
	case "replace":
		*m = Replace
	default:
		return fmt.Errorf("cte: mode %q: want append or replace", b)
	}
	return nil
}

// Limits bound what one target takes. Zero means no limit.
type Limits struct {
	MaxItems  int   // entries in the whole list (Replace targets)
	MaxBytes  int64 // bytes of the whole list as the product counts them (Replace targets)
	BatchSize int   // indicators per request
}

// Target is a place a plugin can push to.
type Target struct {
	ID     string     // stable, e.g. "operation/BLOCK", "file-hash-list/CE_Malware_Hashes"
	Label  string     // for people
	Mode   Mode       // Append or Replace
	Types  []ioc.Type // accepted indicator types
	Limits Limits
}

// Accepts reports whether the target takes indicators of type t.
func (t Target) Accepts(typ ioc.Type) bool {
	for _, x := range t.Types {
		if x == typ {
			return true
		}
	}
	return false
}

// PushResult accounts for every indicator of a Push or Retract.
type PushResult struct {
	Applied   int        // written (or removed, for Retract)
	Unchanged int        // already there as given
	Rejected  []Rejected // one per indicator not applied
}

// Add adds the counts and rejections of o to r.
func (r *PushResult) Add(o PushResult) {
	r.Applied += o.Applied
	r.Unchanged += o.Unchanged
	r.Rejected = append(r.Rejected, o.Rejected...)
}

// Rejected is one indicator a target did not take.
type Rejected struct {
	Value     string
	Reason    string // what the product said, or "over capacity"
	Code      string // the product's error code, if any
	Retryable bool   // true when trying again later can succeed
}

// ReasonOverCapacity is the Reason of indicators left out because a target is full.
const ReasonOverCapacity = "over capacity"
