package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/rule"
)

// maxBody is the largest request body the API reads.
const maxBody = 1 << 20

func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /api/v1/plugins", serveJSON(c, c.pluginRows))
	m.HandleFunc("POST /api/v1/plugins/{name}/validate", c.validate)
	m.HandleFunc("POST /api/v1/plugins/{name}/sync", c.syncNow)
	m.HandleFunc("GET /api/v1/sharing", serveJSON(c, c.sharingRows))
	m.HandleFunc("POST /api/v1/sharing/{name}/test", c.test)
	m.HandleFunc("POST /api/v1/sharing/{name}/replay", c.replay)
	m.HandleFunc("GET /api/v1/indicators", c.indicators)
	m.HandleFunc("POST /api/v1/indicators", c.add)
	m.HandleFunc("GET /api/v1/indicators/{value}", c.detail)
	m.HandleFunc("POST /api/v1/indicators/mark-safe", c.markSafe)
	m.HandleFunc("POST /api/v1/indicators/unmark-safe", c.unmarkSafe)
	m.HandleFunc("POST /api/v1/indicators/tag", c.tag)
	m.HandleFunc("POST /api/v1/indicators/untag", c.untag)
	m.HandleFunc("POST /api/v1/indicators/delete", c.delete)
	m.HandleFunc("GET /api/v1/marks", c.marks)
	m.HandleFunc("GET /api/v1/logs", c.logs)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		c.problem(w, r, http.StatusNotFound, fmt.Errorf("no API %s %s: see the README for the endpoints", r.Method, r.URL.Path))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func (c *Console) problem(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		c.log.LogAttrs(r.Context(), slog.LevelError, "console: request failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	writeJSON(w, status, Problem{Error: err.Error()})
}

// serveJSON is a handler that answers what get returns as JSON, or a problem
// (500) when get fails.
func serveJSON[T any](c *Console, get func(context.Context) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := get(r.Context())
		if err != nil {
			c.problem(w, r, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// status maps an engine error to an HTTP status: unknown names are 404, bad
// input 400, the rest 500.
func status(err error) int {
	switch {
	case errors.Is(err, sharing.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, sharing.ErrInvalid), errors.Is(err, ioc.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w: send a JSON object as the README shows", err)
	}
	return nil
}

func (c *Console) pluginRows(ctx context.Context) ([]Plugin, error) {
	ps, err := c.eng.Plugins(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Plugin, 0, len(ps))
	for _, p := range ps {
		x := Plugin{Name: p.Name, SyncInterval: dur(p.Settings.SyncInterval), PushOnly: p.Settings.PushOnly,
			Validate: run(p.Validate), NextSync: tp(c.nextSync(p.Name)), Targets: []Target{}}
		if p.Name != sharing.ManualSource {
			x.Aging = dur(cmp.Or(p.Settings.Aging, sharing.DefaultAging))
		}
		if !p.Pull.LastRun.IsZero() {
			x.LastPull = &Run{LastRun: tp(p.Pull.LastRun), LastOK: tp(p.Pull.LastOK), LastError: p.Pull.LastError,
				Counts: map[string]int{"pages": p.Pull.Pages, "indicators": p.Pull.Indicators, "invalid": p.Pull.Invalid}}
		}
		for _, t := range p.Targets {
			x.Targets = append(x.Targets, target(t))
		}
		out = append(out, x)
	}
	return out, nil
}

func (c *Console) validate(w http.ResponseWriter, r *http.Request) {
	err := c.eng.Validate(r.Context(), r.PathValue("name"))
	if err != nil && status(err) == http.StatusNotFound {
		c.problem(w, r, http.StatusNotFound, err)
		return
	}
	out := map[string]any{"plugin": r.PathValue("name"), "ok": err == nil}
	if err != nil {
		out["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Console) syncNow(w http.ResponseWriter, r *http.Request) {
	rep, err := c.eng.SyncSource(r.Context(), r.PathValue("name"))
	if code := status(err); err != nil && code != http.StatusInternalServerError {
		// no such plugin, or one that cannot pull: no sync, and none counted
		c.problem(w, r, code, err)
		return
	}
	if rep.Source != "" {
		c.m.observeSync(rep, err, time.Time{})
	}
	writeJSON(w, http.StatusOK, syncOf(rep, err))
}

func (c *Console) sharingRows(ctx context.Context) ([]Sharing, error) {
	st, err := c.eng.Sharing(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Sharing, 0, len(st))
	for _, s := range st {
		out = append(out, sharingOf(s))
	}
	return out, nil
}

func (c *Console) test(w http.ResponseWriter, r *http.Request) {
	var window time.Duration
	if s := r.URL.Query().Get("window"); s != "" {
		var err error
		if window, err = rule.ParseDuration(s); err != nil {
			c.problem(w, r, http.StatusBadRequest, fmt.Errorf("window %q: give a duration such as 24h or 7d, or nothing for all", s))
			return
		}
	}
	p, err := c.eng.Plan(r.Context(), r.PathValue("name"), window)
	if err != nil {
		c.problem(w, r, status(err), err)
		return
	}
	writeJSON(w, http.StatusOK, planOf(p))
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	rep, err := c.eng.Share(r.Context(), r.PathValue("name"), sharing.WithReplay())
	if err != nil && status(err) == http.StatusNotFound {
		c.problem(w, r, http.StatusNotFound, err)
		return
	}
	c.m.observeShare(rep)
	writeJSON(w, http.StatusOK, shareOf(rep, err))
}

// listOptions reads q, state, sort, offset and limit.
func listOptions(r *http.Request) (sharing.ListOptions, error) {
	q := r.URL.Query()
	// a console's pages stay fast while pulls run: a sorted listing may
	// answer from before the last change while it is computed again
	o := sharing.ListOptions{Query: q.Get("q"), State: sharing.ListState(q.Get("state")), Sort: sharing.SortBy(q.Get("sort")), AllowStale: true}
	for name, p := range map[string]*int{"offset": &o.Offset, "limit": &o.Limit} {
		if s := q.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return o, fmt.Errorf("%s %q is not a number", name, s)
			}
			*p = n
		}
	}
	return o, nil
}

func (c *Console) indicators(w http.ResponseWriter, r *http.Request) {
	o, err := listOptions(r)
	if err != nil {
		c.problem(w, r, http.StatusBadRequest, err)
		return
	}
	page, err := c.eng.List(r.Context(), o)
	if err != nil {
		c.problem(w, r, status(err), err)
		return
	}
	writeJSON(w, http.StatusOK, pageOf(page))
}

func (c *Console) detail(w http.ResponseWriter, r *http.Request) {
	ex, err := c.eng.Explain(r.Context(), r.PathValue("value"))
	if err != nil {
		c.problem(w, r, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, detailOf(ex))
}

// actionRequest is the body of the indicator actions.
type actionRequest struct {
	Values []string `json:"values"`
	Reason string   `json:"reason"`
	Tags   []string `json:"tags"`
}

// addRequest is the body of POST /api/v1/indicators.
type addRequest struct {
	Indicators []struct {
		Value     string    `json:"value"`
		Type      string    `json:"type"`
		Severity  string    `json:"severity"`
		Tags      []string  `json:"tags"`
		Comments  string    `json:"comments"`
		ExpiresAt time.Time `json:"expiresAt"`
	} `json:"indicators"`
}

// act runs an action from the body and answers its report. The daemon
// applies actions now.
func (c *Console) act(w http.ResponseWriter, r *http.Request, fn func(req actionRequest) (sharing.ActionReport, error)) {
	var req actionRequest
	if err := decode(r, &req); err != nil {
		c.problem(w, r, http.StatusBadRequest, err)
		return
	}
	if len(req.Values) == 0 {
		c.problem(w, r, http.StatusBadRequest, errors.New(`no values: send {"values": ["…"]}`))
		return
	}
	rep, err := fn(req)
	c.answerAction(w, r, rep, err)
}

func (c *Console) answerAction(w http.ResponseWriter, r *http.Request, rep sharing.ActionReport, err error) {
	if err != nil && len(rep.Values) == 0 { // refused, or not stored: nothing was done
		c.problem(w, r, status(err), err)
		return
	}
	for _, s := range rep.Shares {
		c.m.observeShare(s)
	}
	writeJSON(w, http.StatusOK, actionOf(rep, err))
}

func (c *Console) markSafe(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, func(q actionRequest) (sharing.ActionReport, error) {
		return c.eng.MarkSafe(r.Context(), q.Values, q.Reason, sharing.ApplyNow())
	})
}

func (c *Console) unmarkSafe(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, func(q actionRequest) (sharing.ActionReport, error) {
		return c.eng.UnmarkSafe(r.Context(), q.Values, sharing.ApplyNow())
	})
}

func (c *Console) tag(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, func(q actionRequest) (sharing.ActionReport, error) {
		return c.eng.Tag(r.Context(), q.Values, q.Tags, sharing.ApplyNow())
	})
}

func (c *Console) untag(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, func(q actionRequest) (sharing.ActionReport, error) {
		return c.eng.Untag(r.Context(), q.Values, q.Tags, sharing.ApplyNow())
	})
}

func (c *Console) delete(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, func(q actionRequest) (sharing.ActionReport, error) {
		return c.eng.Delete(r.Context(), q.Values, q.Reason, sharing.ApplyNow())
	})
}

func (c *Console) add(w http.ResponseWriter, r *http.Request) {
	var req addRequest
	if err := decode(r, &req); err != nil {
		c.problem(w, r, http.StatusBadRequest, err)
		return
	}
	in := make([]sharing.NewIndicator, 0, len(req.Indicators))
	for i, x := range req.Indicators {
		n := sharing.NewIndicator{Value: x.Value, Tags: x.Tags, Comments: x.Comments, ExpiresAt: x.ExpiresAt}
		var err error
		if x.Type != "" {
			if n.Type, err = ioc.ParseType(x.Type); err != nil {
				c.problem(w, r, http.StatusBadRequest, fmt.Errorf("indicators[%d].type: %w", i, err))
				return
			}
		}
		if x.Severity != "" {
			if n.Severity, err = ioc.ParseSeverity(x.Severity); err != nil {
				c.problem(w, r, http.StatusBadRequest, fmt.Errorf("indicators[%d].severity: %w", i, err))
				return
			}
		}
		in = append(in, n)
	}
	rep, err := c.eng.AddIndicators(r.Context(), in, sharing.ApplyNow())
	c.answerAction(w, r, rep, err)
}

func (c *Console) marks(w http.ResponseWriter, r *http.Request) {
	ms, err := c.eng.Marks(r.Context())
	if err != nil {
		c.problem(w, r, http.StatusInternalServerError, err)
		return
	}
	out := make([]Mark, 0, len(ms))
	for i := range ms {
		out = append(out, *markOf(&ms[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// maxLogs is the most entries one GET /api/v1/logs returns.
const maxLogs = 500

// logs answers the audit entries that pass level, config, since and after
// (a sequence number: only newer entries, for polling): the newest limit, or
// with after the limit entries that follow it.
func (c *Console) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := sharing.LogFilter{MinLevel: slog.LevelInfo, Config: q.Get("config"), Limit: 200}
	if s := q.Get("level"); s != "" {
		if err := f.MinLevel.UnmarshalText([]byte(s)); err != nil || strings.ContainsAny(s, "+-") {
			c.problem(w, r, http.StatusBadRequest, fmt.Errorf("level %q: give debug, info, warn or error", s))
			return
		}
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			d, derr := rule.ParseDuration(s)
			if derr != nil {
				c.problem(w, r, http.StatusBadRequest, fmt.Errorf("since %q: give an RFC 3339 time or a duration such as 1h or 7d", s))
				return
			}
			t = time.Now().Add(-d)
		}
		f.Since = t
	}
	var after uint64
	for name, p := range map[string]*int{"limit": &f.Limit} {
		if s := q.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxLogs {
				c.problem(w, r, http.StatusBadRequest, fmt.Errorf("%s %q: give 1 to %d", name, s, maxLogs))
				return
			}
			*p = n
		}
	}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			c.problem(w, r, http.StatusBadRequest, fmt.Errorf("after %q is not a sequence number", s))
			return
		}
		after = n
	}
	es, err := c.logsAfter(r.Context(), f, after)
	if err != nil {
		c.problem(w, r, http.StatusInternalServerError, err)
		return
	}
	out := make([]LogEntry, 0, len(es))
	for _, e := range es {
		out = append(out, LogEntryOf(e))
	}
	writeJSON(w, http.StatusOK, out)
}

// maxLogScan bounds the entries read to find those that follow a sequence
// number.
const maxLogScan = 100_000

// logsAfter returns the newest f.Limit entries; with after > 0, the f.Limit
// entries that follow after, oldest first, so that a client polling or paging
// with after misses none when more than a page arrived. It reads more of the
// newest entries until it reaches after: one read when nothing was missed.
func (c *Console) logsAfter(ctx context.Context, f sharing.LogFilter, after uint64) ([]sharing.AuditEntry, error) {
	limit := f.Limit
	for {
		es, err := c.eng.Logs(ctx, f)
		if err != nil {
			return nil, err
		}
		if after == 0 {
			return es, nil
		}
		if len(es) < f.Limit || es[0].Seq <= after+1 || f.Limit >= maxLogScan {
			es = slices.DeleteFunc(es, func(e sharing.AuditEntry) bool { return e.Seq <= after })
			return es[:min(len(es), limit)], nil
		}
		f.Limit = min(f.Limit*4, maxLogScan)
	}
}
