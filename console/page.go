package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/rule"
)

// pageData is what the page template renders. Every table has its rows and
// the error that kept them from being read.
type pageData struct {
	Plugins    []Plugin
	PluginsErr string
	Sharing    []Sharing
	SharingErr string
	Filter     filter
	List       IndicatorPage
	ListErr    string
	ListCaret  string // a filter that does not parse: the filter, and a caret under the column
	Detail     *Detail
	DetailErr  string
	Logs       []LogEntry
	LogsErr    string
	LastSeq    uint64
	Now        time.Time
}

// filter is the indicator list's query string.
type filter struct {
	Q, State, Sort string
	Offset, Limit  int
}

// link returns the page URL for the filter moved to offset.
func (f filter) link(offset int) string {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "state": f.State, "sort": f.Sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if f.Limit > 0 && f.Limit != sharing.DefaultListLimit {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	if len(v) == 0 {
		return "/#indicators"
	}
	return "/?" + v.Encode() + "#indicators"
}

// detailLink returns the page URL showing value's detail, keeping the filter.
func (f filter) detailLink(value string) string {
	l := strings.TrimSuffix(f.link(f.Offset), "#indicators")
	sep := "&"
	if l == "/" {
		sep = "?"
	}
	return l + sep + "v=" + url.QueryEscape(value) + "#detail"
}

// humanDuration prints a Go duration string of the API for people: 2160h0m0s
// as 90d, 5m0s as 5m (the units the configuration file takes).
func humanDuration(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return rule.FormatDuration(d)
}

var funcs = template.FuncMap{
	"when": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"short": func(s string) string {
		if len(s) > 24 {
			return s[:12] + "…" + s[len(s)-8:]
		}
		return s
	},
	"join":   strings.Join,
	"human":  humanDuration,
	"manual": func(name string) bool { return name == sharing.ManualSource },
	"detail": func(f filter, v string) string { return f.detailLink(v) },
	// a page back, by the page's size (the URL's limit may be absent)
	"prev": func(f filter, p IndicatorPage) string {
		return f.link(max(f.Offset-max(p.Limit, 1), 0))
	},
	"next": func(f filter, p IndicatorPage) string { return f.link(f.Offset + p.Limit) },
	"add":  func(a, b int) int { return a + b },
}

// index renders the page: plugins, the sharing table, the indicator list with
// its filter, an indicator's detail (?v=VALUE) and the audit log.
func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := pageData{Now: time.Now().UTC()}
	q := r.URL.Query()
	o, err := listOptions(r)
	d.Filter = filter{Q: o.Query, State: string(o.State), Sort: string(o.Sort), Offset: o.Offset, Limit: o.Limit}
	if d.Filter.Sort == "" {
		d.Filter.Sort = string(sharing.SortLastSeen)
		o.Sort = sharing.SortLastSeen
	}
	if err == nil {
		d.List, err = c.listPage(ctx, o)
	}
	var qerr *rule.Error
	switch {
	case errors.As(err, &qerr):
		d.ListErr, d.ListCaret = "the filter does not parse: "+qerr.Error(), qerr.Pointer()
	case err != nil:
		d.ListErr = err.Error()
	}
	d.Plugins, err = c.pluginRows(ctx)
	d.PluginsErr = errText(err)
	d.Sharing, err = c.sharingRows(ctx)
	d.SharingErr = errText(err)
	if v := q.Get("v"); v != "" {
		ex, err := c.eng.Explain(ctx, v)
		if err != nil {
			d.DetailErr = err.Error()
		} else {
			dt := detailOf(ex)
			d.Detail = &dt
		}
	}
	logs, err := c.eng.Logs(ctx, sharing.LogFilter{MinLevel: slog.LevelInfo, Limit: 50})
	d.LogsErr = errText(err)
	for i := len(logs) - 1; i >= 0; i-- { // newest first
		d.Logs = append(d.Logs, LogEntryOf(logs[i]))
	}
	if len(logs) > 0 {
		d.LastSeq = logs[len(logs)-1].Seq
	}
	var buf bytes.Buffer
	if err := c.page.Execute(&buf, d); err != nil {
		c.problem(w, r, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (c *Console) listPage(ctx context.Context, o sharing.ListOptions) (IndicatorPage, error) {
	page, err := c.eng.List(ctx, o)
	if err != nil {
		return IndicatorPage{}, err
	}
	return pageOf(page), nil
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(loginPage))
}

// login checks the token of the form and keeps it in a cookie the page's
// requests carry (HttpOnly, SameSite=Strict, Secure over TLS).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	tok := r.PostFormValue("token")
	r.Header.Set("Authorization", "Bearer "+tok)
	if c.opts.Token == "" || !c.authorized(r) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(strings.Replace(loginPage, "<!--err-->", `<p class="err">Wrong token.</p>`, 1)))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: base64.RawURLEncoding.EncodeToString([]byte(tok)), Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

const loginPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>cte — sign in</title>
<link rel="stylesheet" href="/static/app.css"></head><body><main class="login"><h1>cte console</h1>
<form method="post" action="/login"><label>API token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form><!--err--></main></body></html>`
