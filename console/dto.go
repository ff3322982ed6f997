package console

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
)

// The JSON shapes of the API. Keys are lower camel; times are RFC 3339 in UTC
// and left out when unset; durations are Go duration strings ("5m0s"). The
// README documents them; api_test.go checks them.

// Plugin is one element of GET /api/v1/plugins.
type Plugin struct {
	Name         string     `json:"name"`
	SyncInterval string     `json:"syncInterval,omitempty"`
	Aging        string     `json:"aging,omitempty"`
	PushOnly     bool       `json:"pushOnly,omitempty"`
	LastPull     *Run       `json:"lastPull,omitempty"`
	NextSync     *time.Time `json:"nextSync,omitempty"` // known while the daemon runs
	Validate     *Run       `json:"validate,omitempty"`
	Targets      []Target   `json:"targets"`
}

// Run is the last run of something: a pull, a validation, a share.
type Run struct {
	LastRun   *time.Time     `json:"lastRun,omitempty"`
	LastOK    *time.Time     `json:"lastOk,omitempty"`
	LastError string         `json:"lastError,omitempty"`
	Counts    map[string]int `json:"counts,omitempty"`
}

// Target is a place a plugin pushes to.
type Target struct {
	ID        string   `json:"id"`
	Label     string   `json:"label,omitempty"`
	Mode      string   `json:"mode,omitempty"`
	Types     []string `json:"types"`
	MaxItems  int      `json:"maxItems,omitempty"`
	MaxBytes  int64    `json:"maxBytes,omitempty"`
	BatchSize int      `json:"batchSize,omitempty"`
}

// Sharing is one element of GET /api/v1/sharing.
type Sharing struct {
	Name         string     `json:"name"`
	Source       string     `json:"source"`
	Rule         string     `json:"rule"`
	Destination  string     `json:"destination"`
	Target       string     `json:"target"`
	Mode         string     `json:"mode,omitempty"` // empty until the target was listed
	LastRun      *time.Time `json:"lastRun,omitempty"`
	LastOK       *time.Time `json:"lastOk,omitempty"`
	LastError    string     `json:"lastError,omitempty"`
	Applied      int        `json:"applied"`
	Rejected     int        `json:"rejected"`
	Retryable    int        `json:"retryable"`
	OverCapacity int        `json:"overCapacity"`
	Retracted    int        `json:"retracted"`
}

// Indicator is a stored record as the indicator list shows it.
type Indicator struct {
	Value    string     `json:"value"`
	Type     string     `json:"type"`
	Severity string     `json:"severity"`
	LastSeen *time.Time `json:"lastSeen,omitempty"`
	Active   bool       `json:"active"`
	Sources  []Entry    `json:"sources"`
	Mark     *Mark      `json:"mark,omitempty"`
}

// Entry is one source's report of a value.
type Entry struct {
	Source     string     `json:"source"`
	Severity   string     `json:"severity"`
	Reputation int        `json:"reputation,omitempty"`
	Tags       []string   `json:"tags"`
	Comments   string     `json:"comments,omitempty"`
	FirstSeen  *time.Time `json:"firstSeen,omitempty"`
	LastSeen   *time.Time `json:"lastSeen,omitempty"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	Inactive   bool       `json:"inactive,omitempty"`
	InactiveAt *time.Time `json:"inactiveAt,omitempty"`
}

// Mark says that an operator took a value out of sharing.
type Mark struct {
	Value  string     `json:"value"`
	Type   string     `json:"type"`
	Kind   string     `json:"kind"` // safe or deleted
	Reason string     `json:"reason,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// IndicatorPage is GET /api/v1/indicators.
type IndicatorPage struct {
	Items  []Indicator `json:"items"`
	Total  int         `json:"total"` // -1 when not counted
	More   bool        `json:"more"`
	Stale  bool        `json:"stale,omitempty"` // the order is from before the last change; a newer one is being computed
	Offset int         `json:"offset"`
	Limit  int         `json:"limit"`
}

// Detail is GET /api/v1/indicators/{value}: the Explain output.
type Detail struct {
	Value   string     `json:"value"`
	Type    string     `json:"type,omitempty"`
	Found   bool       `json:"found"`
	Mark    *Mark      `json:"mark,omitempty"`
	Sources []Source   `json:"sources"`
	Sharing []Decision `json:"sharing"`
}

// Source is one source's state of a value in a Detail.
type Source struct {
	Source   string     `json:"source"`
	Active   bool       `json:"active"`
	Why      string     `json:"why,omitempty"`
	Severity string     `json:"severity"`
	LastSeen *time.Time `json:"lastSeen,omitempty"`
	Tags     []string   `json:"tags"`
}

// Decision is what one sharing configuration does with a value.
type Decision struct {
	Config      string  `json:"config"`
	Destination string  `json:"destination,omitempty"`
	Target      string  `json:"target,omitempty"`
	Shared      bool    `json:"shared"`
	Why         string  `json:"why"`
	Ledger      *Ledger `json:"ledger,omitempty"`
}

// Ledger is what a sharing configuration last did with a value.
type Ledger struct {
	State       string     `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	Code        string     `json:"code,omitempty"`
	Attempts    int        `json:"attempts,omitempty"`
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
	At          *time.Time `json:"at,omitempty"`
}

// Plan is POST /api/v1/sharing/{name}/test: the dry run.
type Plan struct {
	Config       string         `json:"config"`
	Destination  string         `json:"destination"`
	Target       string         `json:"target"`
	Mode         string         `json:"mode,omitempty"`
	Window       string         `json:"window,omitempty"`
	Muted        bool           `json:"muted,omitempty"`
	Matched      int            `json:"matched"`
	ByType       map[string]int `json:"byType"`
	Bytes        int64          `json:"bytes,omitempty"`
	New          int            `json:"new"`
	Changed      int            `json:"changed"`
	Retry        int            `json:"retry"`
	Unchanged    int            `json:"unchanged"`
	Rejected     int            `json:"rejected"`
	Waiting      int            `json:"waiting"`
	OverCapacity int            `json:"overCapacity"`
	ToRetract    int            `json:"toRetract"`
	WouldPush    bool           `json:"wouldPush,omitempty"`
	Guardrail    bool           `json:"guardrail,omitempty"`
	Excluded     map[string]int `json:"excluded"`
	Sample       []PlanItem     `json:"sample"`
}

// PlanItem is one value of a plan's sample.
type PlanItem struct {
	Value  string `json:"value"`
	Type   string `json:"type"`
	Action string `json:"action"`
}

// Share is the outcome of one share (replay, sync now, an action applied now).
type Share struct {
	Config       string         `json:"config"`
	Mode         string         `json:"mode,omitempty"`
	Muted        bool           `json:"muted,omitempty"`
	Matched      int            `json:"matched"`
	Sent         int            `json:"sent"`
	Applied      int            `json:"applied"`
	Unchanged    int            `json:"unchanged"`
	Rejected     int            `json:"rejected"`
	Retrying     int            `json:"retrying"`
	Waiting      int            `json:"waiting"`
	OverCapacity int            `json:"overCapacity"`
	Retracted    int            `json:"retracted"`
	Pushed       bool           `json:"pushed,omitempty"`
	Reasons      map[string]int `json:"reasons,omitempty"`
	Error        string         `json:"error,omitempty"`
}

// Sync is POST /api/v1/plugins/{name}/sync.
type Sync struct {
	Source     string  `json:"source"`
	Pages      int     `json:"pages"`
	Indicators int     `json:"indicators"`
	New        int     `json:"new"`
	Updated    int     `json:"updated"`
	Known      int     `json:"known"` // of the updated, reports re-read unchanged, not merged again
	Invalid    int     `json:"invalid"`
	Inactive   int     `json:"inactive"`
	Took       string  `json:"took"`
	Shares     []Share `json:"shares"`
	Error      string  `json:"error,omitempty"`
}

// Action is the answer of an indicator action.
type Action struct {
	Action  string   `json:"action"`
	Values  []string `json:"values"`
	Unknown []string `json:"unknown,omitempty"`
	Shares  []Share  `json:"shares,omitempty"`
	Error   string   `json:"error,omitempty"` // a share run to apply the action failed; the action itself is stored
}

// LogEntry is one element of GET /api/v1/logs.
type LogEntry struct {
	Seq        uint64         `json:"seq"`
	Time       time.Time      `json:"time"`
	Level      string         `json:"level"`
	Config     string         `json:"config,omitempty"`
	Message    string         `json:"message"`
	Details    map[string]any `json:"details,omitempty"` // counts as numbers
	Resolution string         `json:"resolution,omitempty"`
}

// Problem is the body of every error answer.
type Problem struct {
	Error string `json:"error"`
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func dur(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func modeText(m cte.Mode) string {
	if m != cte.Append && m != cte.Replace {
		return ""
	}
	return m.String()
}

func run(rs sharing.RunState) *Run {
	if rs.LastRun.IsZero() {
		return nil
	}
	return &Run{LastRun: tp(rs.LastRun), LastOK: tp(rs.LastOK), LastError: rs.LastError, Counts: rs.Counts}
}

func target(t cte.Target) Target {
	out := Target{ID: t.ID, Label: t.Label, Mode: modeText(t.Mode), Types: []string{},
		MaxItems: t.Limits.MaxItems, MaxBytes: t.Limits.MaxBytes, BatchSize: t.Limits.BatchSize}
	for _, ty := range t.Types {
		out.Types = append(out.Types, ty.String())
	}
	return out
}

func sharingOf(s sharing.SharingStatus) Sharing {
	return Sharing{Name: s.Name, Source: s.Source, Rule: s.Rule, Destination: s.Destination, Target: s.Target,
		Mode: modeText(s.Mode), LastRun: tp(s.LastRun), LastOK: tp(s.LastOK), LastError: s.LastError,
		Applied: s.Applied, Rejected: s.Rejected, Retryable: s.Retryable, OverCapacity: s.OverCapacity, Retracted: s.Retracted}
}

func markOf(m *sharing.Mark) *Mark {
	if m == nil {
		return nil
	}
	return &Mark{Value: m.Value, Type: m.Type.String(), Kind: m.Kind.String(), Reason: m.Reason, At: tp(m.At)}
}

func indicatorOf(l sharing.Listed) Indicator {
	out := Indicator{Value: l.Value, Type: l.Type.String(), Severity: l.Severity.String(), LastSeen: tp(l.LastSeen),
		Active: l.Active, Mark: markOf(l.Mark), Sources: make([]Entry, 0, len(l.Entries))}
	for _, e := range l.Entries {
		out.Sources = append(out.Sources, Entry{Source: e.Source, Severity: e.Severity.String(), Reputation: e.Reputation,
			Tags: nonNil(e.Tags), Comments: e.Comments, FirstSeen: tp(e.FirstSeen), LastSeen: tp(e.LastSeen),
			ExpiresAt: tp(e.ExpiresAt), Inactive: e.Inactive, InactiveAt: tp(e.InactiveAt)})
	}
	return out
}

func pageOf(p sharing.IndicatorPage) IndicatorPage {
	out := IndicatorPage{Items: make([]Indicator, 0, len(p.Items)), Total: p.Total, More: p.More, Stale: p.Stale, Offset: p.Offset, Limit: p.Limit}
	for _, l := range p.Items {
		out.Items = append(out.Items, indicatorOf(l))
	}
	return out
}

func detailOf(ex sharing.Explanation) Detail {
	d := Detail{Value: ex.Value, Found: ex.Found, Mark: markOf(ex.Mark), Sources: []Source{}, Sharing: []Decision{}}
	if ex.Type.Valid() {
		d.Type = ex.Type.String()
	}
	for _, s := range ex.Sources {
		d.Sources = append(d.Sources, Source{Source: s.Source, Active: s.Active, Why: s.Why, Severity: s.Severity.String(),
			LastSeen: tp(s.LastSeen), Tags: nonNil(s.Tags)})
	}
	for _, s := range ex.Sharing {
		x := Decision{Config: s.Config, Destination: s.Destination, Target: s.Target, Shared: s.Shared, Why: s.Why}
		if le := s.Ledger; le != nil {
			x.Ledger = &Ledger{State: le.State.String(), Reason: le.Reason, Code: le.Code, Attempts: le.Attempts,
				NextAttempt: tp(le.NextAttempt), At: tp(le.At)}
		}
		d.Sharing = append(d.Sharing, x)
	}
	return d
}

func planOf(p sharing.PlanReport) Plan {
	out := Plan{Config: p.Config, Destination: p.Destination, Target: p.Target, Mode: modeText(p.Mode), Window: dur(p.Window),
		Muted: p.Muted, Matched: p.Matched, ByType: map[string]int{}, Bytes: p.Bytes, New: p.New, Changed: p.Changed,
		Retry: p.Retry, Unchanged: p.Unchanged, Rejected: p.Rejected, Waiting: p.Waiting, OverCapacity: p.OverCapacity,
		ToRetract: p.ToRetract, WouldPush: p.WouldPush, Guardrail: p.Guardrail, Excluded: map[string]int{}, Sample: []PlanItem{}}
	for t, c := range p.ByType {
		out.ByType[t.String()] = c.Count
	}
	maps.Copy(out.Excluded, p.Excluded)
	for _, s := range p.Sample {
		out.Sample = append(out.Sample, PlanItem{Value: s.Value, Type: s.Type.String(), Action: s.Action})
	}
	return out
}

func shareOf(r sharing.ShareReport, err error) Share {
	out := Share{Config: r.Config, Mode: modeText(r.Mode), Muted: r.Muted, Matched: r.Matched, Sent: r.Sent,
		Applied: r.Applied, Unchanged: r.Unchanged, Rejected: r.Rejected, Retrying: r.Retrying, Waiting: r.Waiting,
		OverCapacity: r.OverCapacity, Retracted: r.Retracted, Pushed: r.Pushed, Reasons: r.Reasons}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

func syncOf(r sharing.SyncReport, err error) Sync {
	out := Sync{Source: r.Source, Pages: r.Pages, Indicators: r.Indicators, New: r.New, Updated: r.Updated, Known: r.Known,
		Invalid: r.Invalid, Inactive: r.Inactive, Took: r.Took.String(), Shares: []Share{}}
	for _, s := range r.Shares {
		out.Shares = append(out.Shares, shareOf(s, nil))
	}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

func actionOf(r sharing.ActionReport, err error) Action {
	out := Action{Action: r.Action, Values: nonNil(r.Values), Unknown: r.Unknown}
	for _, s := range r.Shares {
		out.Shares = append(out.Shares, shareOf(s, nil))
	}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

// LogEntryOf is the JSON shape of one audit entry, shared by the API and
// "cte logs --json": the level is its lower-case name ("info"), counts in
// the details are numbers.
func LogEntryOf(e sharing.AuditEntry) LogEntry {
	return LogEntry{Seq: e.Seq, Time: e.Time.UTC(), Level: levelName(e.Level), Config: e.Config, Message: e.Message,
		Details: e.DetailValues(), Resolution: e.Resolution}
}

func levelName(l slog.Level) string { return strings.ToLower(l.String()) }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clone(s)
}
