package netskope

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
	"github.com/ctexchange/cte/ioc"
)

// Iterator operations of the Data Export API besides an epoch (see OpEpoch).
const (
	OpNext   = "next"   // the page after the last one delivered; advances the cursor
	OpHead   = "head"   // the oldest data the tenant keeps
	OpTail   = "tail"   // the newest position: only alerts from now on
	OpResend = "resend" // the last page delivered again; the cursor does not move
)

// OpEpoch returns the operation that moves an index's cursor to t.
func OpEpoch(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// PageSize is the most alerts one Data Export page holds.
const PageSize = 10000

// Alert is the part of a Netskope alert the plugin reads. Other fields are skipped.
type Alert struct {
	ID              string     `json:"_id"`
	AlertType       string     `json:"alert_type"`
	Severity        string     `json:"severity"`
	Timestamp       float64    `json:"timestamp"` // epoch seconds
	Object          string     `json:"object"`    // file name
	MalwareName     string     `json:"malware_name"`
	MalwareType     string     `json:"malware_type"`
	MD5             string     `json:"md5"`
	LocalMD5        string     `json:"local_md5"` // computed by the Netskope malware engine
	SHA256          string     `json:"sha256"`
	LocalSHA256     string     `json:"local_sha256"`
	URL             string     `json:"url"` // malsite alerts
	MalsiteCategory Categories `json:"malsite_category"`
}

// Categories reads a JSON array of strings or one string.
type Categories []string

// UnmarshalJSON implements json.Unmarshaler.
func (c *Categories) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Categories{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	*c = ss
	return nil
}

// AlertPage is one answer of the Data Export iterator.
type AlertPage struct {
	Alerts       []Alert
	WaitTime     time.Duration // how long the tenant asks us to wait before the next call
	TimestampHWM int64         // high-water mark of the data delivered, epoch seconds
	// Problems holds fields of the wrong JSON type; those fields read as empty.
	Problems []string
}

type pageEnvelope struct {
	OK           json.RawMessage `json:"ok"`
	Result       []Alert         `json:"result"`
	WaitTime     float64         `json:"wait_time"`
	TimestampHWM float64         `json:"timestamp_hwm"`
	Message      json.RawMessage `json:"message"`
	Error        json.RawMessage `json:"error"`
	ErrorMsg     json.RawMessage `json:"error_msg"`
}

// maxWaitTime bounds the wait_time the plugin honours between pages.
const maxWaitTime = 5 * time.Minute

// DecodeAlertPage decodes a Data Export answer: {"ok":1,"result":[...],"wait_time":N,
// "timestamp_hwm":N}. An answer that is not such an object, or whose ok is not 1, is
// an error wrapping ErrBadAnswer. A field of the wrong type inside an alert does not
// fail the page: it reads as empty and is listed in Problems.
func DecodeAlertPage(b []byte) (*AlertPage, error) {
	env, problems, err := decodePage(b)
	if err != nil {
		return nil, err
	}
	if ok := string(bytes.TrimSpace(env.OK)); ok != "1" && ok != "true" {
		msg := joinMessages(env.Message, env.Error, env.ErrorMsg)
		if msg == "" {
			msg = snippet(b)
		}
		if len(env.OK) == 0 {
			return nil, fmt.Errorf("%w: the page has no \"ok\" field: %s", ErrBadAnswer, msg)
		}
		return nil, fmt.Errorf("%w: the iterator answered ok=%s: %s", ErrBadAnswer, ioc.Truncate(ok, maxMessage), msg)
	}
	p := &AlertPage{Alerts: env.Result, Problems: problems}
	if w := env.WaitTime; w > 0 {
		p.WaitTime = maxWaitTime
		if w < maxWaitTime.Seconds() {
			p.WaitTime = time.Duration(w * float64(time.Second))
		}
	}
	if h := env.TimestampHWM; h > 0 && h < 1<<53 {
		p.TimestampHWM = int64(h)
	}
	return p, nil
}

// Alerts calls the Data Export iterator for alertType (AlertMalware, AlertMalsite or
// another Netskope alert type) on index with operation op (OpNext, OpResend, OpHead,
// OpTail or OpEpoch). The index names the cursor the tenant keeps for this consumer.
func (c *Client) Alerts(ctx context.Context, alertType, index, op string) (*AlertPage, error) {
	k := call{
		op:     fmt.Sprintf("read %s alerts (operation %s)", alertType, op),
		method: "GET",
		path:   "/api/v2/events/dataexport/alerts/" + url.PathEscape(alertType),
		query:  url.Values{"index": {index}, "operation": {op}},
		limit:  c.pageLimit,
	}
	if op == OpNext {
		// "next" moves the tenant's cursor: sent twice after an answer
		// lost on the way, it skips the page the first was answered. Not
		// retried; the next pull asks for that page with "resend".
		ctx = httpx.AtMostOnce(ctx)
	}
	a, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	p, err := DecodeAlertPage(a.body)
	if err != nil {
		return nil, c.scrub(&Error{Op: k.op, API: "v2", Status: a.status, Err: ErrBadAnswer, Message: strings.TrimPrefix(err.Error(), ErrBadAnswer.Error()+": "),
			RequestID: a.header.Get("X-Request-Id"), Hint: "check tenant_url names a Netskope tenant; the next sync asks for the same page again"})
	}
	return p, nil
}

// Extractor turns alerts into indicators as the reference plugin does, validating
// every value. Values that fail validation are counted by reason, never dropped
// silently. The zero value is not usable; see NewExtractor.
type Extractor struct {
	tenant      string
	md5, sha256 bool
	now         time.Time
	invalid     []cte.Invalid
	byReason    map[string]int
	seen        map[string]int
}

// NewExtractor returns an Extractor for a tenant (the comment prefix) taking the hash
// types given from malware alerts; now stands in for alerts without a timestamp.
func NewExtractor(tenant string, hashTypes []ioc.Type, now time.Time) *Extractor {
	x := &Extractor{tenant: tenant, now: now.UTC(), byReason: map[string]int{}}
	for _, t := range hashTypes {
		switch t {
		case ioc.TypeMD5:
			x.md5 = true
		case ioc.TypeSHA256:
			x.sha256 = true
		}
	}
	return x
}

// maxReasons bounds the distinct reasons of Invalid; the rest are counted as "other".
const maxReasons = 32

// Page returns the indicators of alerts of kind (AlertMalware or AlertMalsite) and the
// values that failed validation. A value reported twice in the page is one indicator
// (merged with ioc.Merge).
func (x *Extractor) Page(kind string, alerts []Alert) ([]ioc.Indicator, []cte.Invalid) {
	x.invalid, x.byReason = nil, map[string]int{}
	if x.seen == nil {
		x.seen = make(map[string]int, len(alerts))
	}
	clear(x.seen)
	out := make([]ioc.Indicator, 0, x.estimate(kind, alerts))
	for i := range alerts {
		if kind == AlertMalsite {
			out = x.malsite(&alerts[i], out)
		} else {
			out = x.malware(&alerts[i], out)
		}
	}
	return out, x.invalid
}

// estimate counts the values alerts can give, so the result is allocated once.
func (x *Extractor) estimate(kind string, alerts []Alert) int {
	if kind == AlertMalsite {
		return len(alerts)
	}
	n := 0
	for i := range alerts {
		a := &alerts[i]
		if x.md5 {
			n += nonEmpty(a.MD5) + nonEmpty(a.LocalMD5)
		}
		if x.sha256 {
			n += nonEmpty(a.SHA256) + nonEmpty(a.LocalSHA256)
		}
	}
	return n
}

func nonEmpty(s string) int {
	if s == "" {
		return 0
	}
	return 1
}

func (x *Extractor) add(out []ioc.Indicator, ind ioc.Indicator) []ioc.Indicator {
	if j, ok := x.seen[ind.Value]; ok && out[j].Type == ind.Type {
		out[j] = ioc.Merge(out[j], ind)
		return out
	}
	x.seen[ind.Value] = len(out)
	return append(out, ind)
}

func (x *Extractor) bad(reason, example string) {
	if i, ok := x.byReason[reason]; ok {
		x.invalid[i].Count++
		return
	}
	if len(x.invalid) >= maxReasons {
		reason = "other reasons"
		if i, ok := x.byReason[reason]; ok {
			x.invalid[i].Count++
			return
		}
	}
	x.byReason[reason] = len(x.invalid)
	x.invalid = append(x.invalid, cte.Invalid{Reason: reason, Count: 1, Example: ioc.Truncate(example, 80)})
}

func (x *Extractor) base(a *Alert) ioc.Indicator {
	sev, err := ioc.ParseSeverity(a.Severity)
	if err != nil {
		sev = ioc.SeverityUnknown
	}
	seen := x.now
	if ts := a.Timestamp; ts > 0 && ts < 1<<40 {
		sec, frac := math.Modf(ts)
		seen = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	return ioc.Indicator{Severity: sev, FirstSeen: seen, LastSeen: seen}
}

func (x *Extractor) malware(a *Alert, out []ioc.Indicator) []ioc.Indicator {
	if !x.md5 && !x.sha256 {
		return out
	}
	ind := x.base(a)
	var b strings.Builder
	b.Grow(len(x.tenant) + len(a.Object) + len(a.MalwareName) + len(a.MalwareType) + 40)
	b.WriteString(x.tenant)
	if a.Object != "" {
		b.WriteString(" - ")
		b.WriteString(a.Object)
	}
	if a.MalwareName != "" {
		b.WriteString(", Malware Name: ")
		b.WriteString(a.MalwareName)
	}
	if a.MalwareType != "" {
		b.WriteString(", Malware Type: ")
		b.WriteString(a.MalwareType)
	}
	ind.Comments = b.String()
	if x.md5 {
		out = x.hashes(out, ind, ioc.TypeMD5, a.LocalMD5, a.MD5)
	}
	if x.sha256 {
		out = x.hashes(out, ind, ioc.TypeSHA256, a.LocalSHA256, a.SHA256)
	}
	return out
}

// hashes emits local and remote: one indicator when they are equal, both when they
// differ, none for empty values.
func (x *Extractor) hashes(out []ioc.Indicator, ind ioc.Indicator, t ioc.Type, local, remote string) []ioc.Indicator {
	lv, lok := x.hash(t, local)
	rv, rok := x.hash(t, remote)
	if lok {
		ind.Type, ind.Value = t, lv
		out = x.add(out, ind)
	}
	if rok && (!lok || rv != lv) {
		ind.Type, ind.Value = t, rv
		out = x.add(out, ind)
	}
	return out
}

func (x *Extractor) hash(t ioc.Type, raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	v, err := ioc.Parse(t, raw)
	if err != nil {
		if strings.TrimSpace(raw) == "" {
			return "", false
		}
		if t == ioc.TypeMD5 {
			x.bad("md5: not 32 hex digits", raw)
		} else {
			x.bad("sha256: not 64 hex digits", raw)
		}
		return "", false
	}
	return v, true
}

func (x *Extractor) malsite(a *Alert, out []ioc.Indicator) []ioc.Indicator {
	raw := strings.TrimSpace(a.URL)
	if raw == "" {
		return out
	}
	t, v, err := ParseSiteValue(raw)
	if err != nil {
		x.bad(ioc.Reason(err), raw)
		return out
	}
	ind := x.base(a)
	ind.Type, ind.Value = t, v
	if len(a.MalsiteCategory) > 0 {
		ind.Comments = x.tenant + " - " + strings.Join(a.MalsiteCategory, ", ")
	} else {
		ind.Comments = x.tenant
	}
	return x.add(out, ind)
}

// ParseSiteValue reads the url field of a malsite alert. A value with a scheme is a
// URL; without one, a bare IP address is ipv4 or ipv6, a bare host name is a
// hostname, and anything else (a host with a path, port or query) is the URL with
// http:// in front. The error is an *ioc.ParseError.
func ParseSiteValue(raw string) (ioc.Type, string, error) {
	s := strings.TrimSpace(raw)
	if strings.Contains(s, "://") {
		v, err := ioc.Parse(ioc.TypeURL, s)
		return ioc.TypeURL, v, err
	}
	if !strings.ContainsAny(s, "/?#:@") {
		if a, err := netip.ParseAddr(s); err == nil {
			t := ioc.TypeIPv4
			if a.Is6() && !a.Is4In6() {
				t = ioc.TypeIPv6
			}
			return ioc.Normalize(t, s)
		}
		if v, err := ioc.Parse(ioc.TypeHostname, s); err == nil {
			return ioc.TypeHostname, v, nil
		}
	} else if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
		return ioc.Normalize(ioc.TypeIPv6, s)
	}
	v, err := ioc.Parse(ioc.TypeURL, "http://"+s)
	if err != nil {
		var pe *ioc.ParseError
		if errors.As(err, &pe) {
			pe.Value = ioc.Truncate(s, 80)
		}
		return ioc.TypeURL, "", err
	}
	return ioc.TypeURL, v, nil
}
