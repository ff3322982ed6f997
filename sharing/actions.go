package sharing

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// ManualSource is the source of the indicators an operator adds by hand
// (AddIndicators). A sharing configuration may name it as its source; its
// indicators never age out, unless they were given an expiry. Run syncs it
// hourly (it pulls nothing: expired ones are retracted, new ones shared if an
// action did not share them at once).
const ManualSource = "manual"

// manualAging is the aging of ManualSource: never.
const manualAging = time.Duration(math.MaxInt64)

// operator is the Config of the audit entries of operator actions.
const operator = "operator"

// ActionOption changes how an indicator action runs.
type ActionOption func(*actionOptions)

type actionOptions struct{ now bool }

// ApplyNow makes an action reach the products at once: the sharing
// configurations concerned share before the action returns (retracting a value
// marked safe or deleted, sending a value added or tagged). Without it the
// change is stored and reaches the products on the next sync. A running daemon
// applies actions now; a command working on the state file alone does not.
func ApplyNow() ActionOption { return func(o *actionOptions) { o.now = true } }

// ActionReport says what an indicator action did.
type ActionReport struct {
	Action  string        // mark-safe, unmark-safe, add, tag, untag, delete
	Values  []string      // the values acted on, normalised; none when the action could not be stored
	Unknown []string      // values given that are not stored (tag, untag, delete, unmark-safe)
	Shares  []ShareReport // with ApplyNow: the shares run to apply it
}

// NewIndicator is an indicator an operator adds (AddIndicators).
type NewIndicator struct {
	Value     string
	Type      ioc.Type // 0: detected from the value (ioc.Detect)
	Severity  ioc.Severity
	Tags      []string
	Comments  string
	ExpiresAt time.Time // zero: never expires
}

// operatorText refuses text an operator gives (comments, tags, a reason)
// that is not plain UTF-8 text: a store refuses it (PostgreSQL holds no NUL
// byte), which answered a server error for bad input.
func operatorText(what string, texts ...string) error {
	for _, s := range texts {
		if !plainText(s) {
			return invalid(fmt.Errorf("sharing: %s: %q is not plain text (invalid UTF-8 or a NUL byte): give printable text", what, clipValue(s)))
		}
	}
	return nil
}

// notStored returns what an action whose store Update failed reports: no
// values, as nothing was stored (a caller that saw values would say they
// were stored and only their share failed), and the error.
func notStored(rep ActionReport, err error) (ActionReport, error) {
	return ActionReport{Action: rep.Action}, err
}

// MarkSafe marks values as false positives: no sharing configuration shares
// them while they are marked, whichever source reports them, and every target
// that has them loses them (Append targets through cte.Retractor, such as
// Mimecast's DELETE operation; Replace lists on their next push). The marks are
// audited with reason. A value may be given in any form ioc.Parse accepts.
func (e *Engine) MarkSafe(ctx context.Context, values []string, reason string, opts ...ActionOption) (ActionReport, error) {
	rep := ActionReport{Action: "mark-safe"}
	if err := needValues("mark safe", values); err != nil {
		return rep, err
	}
	if strings.TrimSpace(reason) == "" {
		return rep, invalid(errors.New("sharing: mark safe: no reason given: say why the values are safe (it is audited)"))
	}
	if err := operatorText("mark safe", reason); err != nil {
		return rep, err
	}
	now := e.now()
	err := e.store.Update(ctx, func(tx Tx) error {
		rep.Values, rep.Unknown = nil, nil
		for v, err := range normalise(tx, values, true) {
			if err != nil {
				return err
			}
			rep.Values = append(rep.Values, v.value)
			if err := tx.PutMark(Mark{Value: v.value, Type: v.typ, Kind: MarkSafe, Reason: reason, At: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return notStored(rep, fmt.Errorf("sharing: mark safe: %w", err))
	}
	e.recordsChanged() // listings show marks
	e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelWarn, Config: operator,
		Message: fmt.Sprintf("marked %d value(s) safe: they are not shared and are retracted from every target", len(rep.Values)),
		Details: details("reason", reason, "values", clipList(rep.Values)), Resolution: "unmark them to share them again"})
	return e.apply(ctx, rep, opts, e.holding(ctx, rep.Values))
}

// UnmarkSafe removes the safe marks of values: they are shared again like any
// other indicator.
func (e *Engine) UnmarkSafe(ctx context.Context, values []string, opts ...ActionOption) (ActionReport, error) {
	rep := ActionReport{Action: "unmark-safe"}
	if err := needValues("unmark safe", values); err != nil {
		return rep, err
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		rep.Values, rep.Unknown = nil, nil
		marks, err := loadMarks(tx)
		if err != nil {
			return err
		}
		for v, err := range normalise(tx, values, true) {
			if err != nil {
				return err
			}
			if marks[v.value].Kind != MarkSafe {
				rep.Unknown = append(rep.Unknown, v.value)
				continue
			}
			rep.Values = append(rep.Values, v.value)
			if err := tx.DeleteMark(v.value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return notStored(rep, fmt.Errorf("sharing: unmark safe: %w", err))
	}
	e.recordsChanged() // listings show marks
	if len(rep.Values) > 0 {
		e.audit(ctx, AuditEntry{Level: slog.LevelInfo, Config: operator,
			Message: fmt.Sprintf("unmarked %d value(s): they are shared again", len(rep.Values)),
			Details: details("values", clipList(rep.Values))})
	}
	return e.apply(ctx, rep, opts, e.reporting(ctx, rep.Values))
}

// AddIndicators stores indicators as reported by ManualSource, with lastSeen
// now. They are shared by the sharing configurations whose source is
// ManualSource, and never age out unless given an expiry.
func (e *Engine) AddIndicators(ctx context.Context, in []NewIndicator, opts ...ActionOption) (ActionReport, error) {
	rep := ActionReport{Action: "add"}
	now := e.now()
	inds := make([]ioc.Indicator, 0, len(in))
	for _, x := range in {
		t, v, err := parseValue(x.Type, x.Value)
		if err != nil {
			return notStored(rep, invalid(fmt.Errorf("sharing: add: %w", err)))
		}
		if len(v) > maxValueLen {
			return notStored(rep, invalid(fmt.Errorf("sharing: add %q: %d bytes, more than the %d a value may have", clipValue(v), len(v), maxValueLen)))
		}
		if err := operatorText("add "+strconv.Quote(clipValue(v)), append([]string{x.Comments}, x.Tags...)...); err != nil {
			return notStored(rep, err)
		}
		if !x.ExpiresAt.IsZero() && !x.ExpiresAt.After(now) {
			return notStored(rep, invalid(fmt.Errorf("sharing: add %q: expiry %s is not in the future: give a later time or none", clipValue(v), x.ExpiresAt.UTC().Format(time.RFC3339))))
		}
		tags := slices.Clone(x.Tags)
		slices.Sort(tags)
		inds = append(inds, ioc.Indicator{Type: t, Value: v, Severity: x.Severity, Reputation: ioc.DefaultReputation,
			Comments: x.Comments, Tags: slices.Compact(tags), FirstSeen: now, LastSeen: now, ExpiresAt: x.ExpiresAt, Source: ManualSource})
		rep.Values = append(rep.Values, v)
	}
	if len(inds) == 0 {
		return rep, invalid(errors.New("sharing: add: no indicators given"))
	}
	e.addManual()
	err := e.store.Update(ctx, func(tx Tx) error {
		_, err := tx.Merge(ManualSource, inds, now)
		return err
	})
	if err != nil {
		return notStored(rep, fmt.Errorf("sharing: add: %w", err))
	}
	e.recordsChanged()
	e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelInfo, Config: ManualSource,
		Message: fmt.Sprintf("added %d indicator(s) by hand", len(inds)), Details: details("values", clipList(rep.Values))})
	return e.apply(ctx, rep, opts, e.configsOf(ManualSource))
}

// Tag adds tags to every source's entry of values, so rules can select on them
// ("tags has reviewed"). A changed indicator is sent again to Append targets.
func (e *Engine) Tag(ctx context.Context, values, tags []string, opts ...ActionOption) (ActionReport, error) {
	return e.retag(ctx, "tag", values, tags, opts)
}

// Untag removes tags from every source's entry of values.
func (e *Engine) Untag(ctx context.Context, values, tags []string, opts ...ActionOption) (ActionReport, error) {
	return e.retag(ctx, "untag", values, tags, opts)
}

func (e *Engine) retag(ctx context.Context, action string, values, tags []string, opts []ActionOption) (ActionReport, error) {
	rep := ActionReport{Action: action}
	if err := needValues(action, values); err != nil {
		return rep, err
	}
	tags = slices.DeleteFunc(slices.Clone(tags), func(t string) bool { return strings.TrimSpace(t) == "" })
	if len(tags) == 0 {
		return rep, invalid(fmt.Errorf("sharing: %s: no tags given", action))
	}
	if err := operatorText(action, tags...); err != nil {
		return rep, err
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		return eachRecord(tx, values, &rep, func(r Record) error {
			for i := range r.Entries {
				en := &r.Entries[i]
				if action == "tag" {
					en.Tags = append(en.Tags, tags...)
					slices.Sort(en.Tags)
					en.Tags = slices.Compact(en.Tags)
				} else {
					en.Tags = slices.DeleteFunc(en.Tags, func(t string) bool { return slices.Contains(tags, t) })
				}
			}
			return tx.PutRecord(r)
		})
	})
	if err != nil {
		return notStored(rep, fmt.Errorf("sharing: %s: %w", action, err))
	}
	e.recordsChanged()
	if len(rep.Values) > 0 {
		e.audit(ctx, AuditEntry{Level: slog.LevelInfo, Config: operator,
			Message: fmt.Sprintf("%s: %d value(s) with %s", action, len(rep.Values), strings.Join(tags, ", ")),
			Details: details("values", clipList(rep.Values), "tags", strings.Join(tags, ","))})
	}
	return e.apply(ctx, rep, opts, e.reporting(ctx, rep.Values))
}

// Delete removes the records of values. Until every target that has a value
// lost it (as with MarkSafe), a "deleted" mark keeps it from being shared; the
// mark goes once that is done. A source reporting the value later stores it
// anew.
func (e *Engine) Delete(ctx context.Context, values []string, reason string, opts ...ActionOption) (ActionReport, error) {
	rep := ActionReport{Action: "delete"}
	if err := needValues("delete", values); err != nil {
		return rep, err
	}
	if err := operatorText("delete", reason); err != nil {
		return rep, err
	}
	now := e.now()
	err := e.store.Update(ctx, func(tx Tx) error {
		marks, err := loadMarks(tx)
		if err != nil {
			return err
		}
		return eachRecord(tx, values, &rep, func(r Record) error {
			if marks[r.Value].Kind != MarkSafe { // a safe mark says more, and stays
				if err := tx.PutMark(Mark{Value: r.Value, Type: r.Type, Kind: MarkDeleted, Reason: reason, At: now}); err != nil {
					return err
				}
			}
			return tx.DeleteRecord(r.Value)
		})
	})
	if err != nil {
		return notStored(rep, fmt.Errorf("sharing: delete: %w", err))
	}
	e.recordsChanged()
	if len(rep.Values) > 0 {
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelWarn, Config: operator,
			Message: fmt.Sprintf("deleted %d value(s); they are retracted from every target", len(rep.Values)),
			Details: details("reason", reason, "values", clipList(rep.Values))})
	}
	return e.apply(ctx, rep, opts, e.holding(ctx, rep.Values))
}

type typedValue struct {
	typ   ioc.Type
	value string
}

// eachRecord calls fn with the stored record of each of values in normal form
// (see normalise) and lists the value in rep.Values once fn returned nil, or
// in rep.Unknown when no record has it. It empties both lists first.
func eachRecord(tx Tx, values []string, rep *ActionReport, fn func(r Record) error) error {
	rep.Values, rep.Unknown = nil, nil
	for v, err := range normalise(tx, values, false) {
		if err != nil {
			return err
		}
		r, ok, err := tx.Record(v.value)
		if err != nil {
			return err
		}
		if !ok {
			rep.Unknown = append(rep.Unknown, v.value)
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
		rep.Values = append(rep.Values, v.value)
	}
	return nil
}

// normalise yields values in normal form: the stored form when stored as
// given, else parsed with the detected type. With anyValue, a value neither
// stored nor detectable is an error; else it is yielded as given (and found
// unknown by the caller).
func normalise(tx Tx, values []string, anyValue bool) iter.Seq2[typedValue, error] {
	return func(yield func(typedValue, error) bool) {
		seen := map[string]bool{}
		for _, raw := range values {
			raw = strings.TrimSpace(raw)
			if raw == "" {
				continue
			}
			r, ok, err := tx.Record(raw)
			if err != nil {
				yield(typedValue{}, err)
				return
			}
			v := typedValue{typ: r.Type, value: r.Value}
			if !ok {
				t, val, err := parseValue(0, raw)
				switch {
				case err == nil:
					v = typedValue{typ: t, value: val}
				case anyValue:
					yield(typedValue{}, err)
					return
				default:
					v = typedValue{value: raw}
				}
			}
			if seen[v.value] {
				continue
			}
			seen[v.value] = true
			if !yield(v, nil) {
				return
			}
		}
	}
}

// needValues refuses an action on no values (none given, or only blanks),
// which would otherwise be audited as done on nothing.
func needValues(action string, values []string) error {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return nil
		}
	}
	return invalid(fmt.Errorf("sharing: %s: no values given: name one or more indicators", action))
}

// parseValue normalises raw as t, or as the type ioc.Detect finds when t is 0.
func parseValue(t ioc.Type, raw string) (ioc.Type, string, error) {
	if t == 0 {
		var ok bool
		if t, ok = ioc.Detect(raw); !ok {
			return 0, "", invalid(fmt.Errorf("%q is not an indicator cte knows (sha256, md5, url, domain, hostname, ipv4, ipv6): give its type", clipValue(raw)))
		}
	}
	return ioc.Normalize(t, raw)
}

func clipList(vs []string) string {
	if len(vs) > 5 {
		return strings.Join(vs[:5], ", ") + fmt.Sprintf(" and %d more", len(vs)-5)
	}
	return strings.Join(vs, ", ")
}

// addManual registers ManualSource as a plugin, once.
func (e *Engine) addManual() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.plugins[ManualSource]; !ok {
		e.plugins[ManualSource] = &pluginState{name: ManualSource, p: manualPlugin{},
			settings: SourceSettings{Aging: manualAging, SyncInterval: time.Hour}, pull: newWaitLock()}
	}
}

// manualPlugin is the plugin behind ManualSource: it pulls nothing (the
// indicators are stored by AddIndicators) and has no targets.
type manualPlugin struct{}

var _ cte.Plugin = manualPlugin{}

func (manualPlugin) Validate(context.Context) error { return nil }

func (manualPlugin) Pull(context.Context, cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(func(cte.Page, error) bool) {}
}

func (manualPlugin) Push(context.Context, cte.Target, []ioc.Indicator) (cte.PushResult, error) {
	return cte.PushResult{}, fmt.Errorf("sharing: %q holds indicators added by hand: %w", ManualSource, cte.ErrNotSupported)
}

func (manualPlugin) GetTargets(context.Context) ([]cte.Target, error) { return nil, nil }

// markedWhy says why the value of m is not shared.
func markedWhy(m *Mark) string {
	return fmt.Sprintf("marked %s at %s: %s", m.Kind, m.At.UTC().Format(time.RFC3339), m.Reason)
}

// ErrNotFound is matched (errors.Is) by the errors about a plugin or sharing
// configuration that is not registered.
var ErrNotFound = errors.New("sharing: not found")

// ErrInvalid is matched by the errors about input that List and the
// indicator actions refuse: an option out of range, a bad query, a value that
// is no indicator, a missing reason or tag.
var ErrInvalid = errors.New("sharing: invalid input")

// kindError gives err a kind that errors.Is finds, keeping its message.
type kindError struct {
	error
	kind error
}

func (k kindError) Is(target error) bool { return target == k.kind }
func (k kindError) Unwrap() error        { return k.error }

func notFound(err error) error { return kindError{err, ErrNotFound} }
func invalid(err error) error  { return kindError{err, ErrInvalid} }
