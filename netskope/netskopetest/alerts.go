package netskopetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Alert types with generated data.
const (
	KindMalware = "malware"
	KindMalsite = "malsite"
)

// Hashes of the empty file, which Netskope reports like any other; some generated
// malware alerts carry them.
const (
	EmptyMD5    = "d41d8cd98f00b204e9800998ecf8427e"
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// alertTypeNames maps the iterator path segment to the alert_type value.
var alertTypeNames = map[string]string{
	KindMalware:             "Malware",
	KindMalsite:             "malsite",
	"dlp":                   "DLP",
	"policy":                "policy",
	"watchlist":             "watchlist",
	"uba":                   "uba",
	"ctep":                  "ctep",
	"compromisedcredential": "Compromised Credential",
	"quarantine":            "quarantine",
	"remediation":           "Remediation",
	"securityassessment":    "Security Assessment",
}

// Alert is one alert record as the iterator sends it: a JSON object. "timestamp" is
// epoch seconds.
type Alert map[string]any

type alertRec struct {
	ingest int64 // iterator position time: when the tenant received the alert
	alert  Alert
	raw    []byte
}

type alertStore struct {
	recs []alertRec // ordered by ingest, append-only
}

type cursorKey struct{ kind, index string }

type cursor struct {
	pos        int // next record to deliver
	last       [2]int
	lastHWM    int64
	lastExists bool
}

// Alerts returns a copy of every alert of kind, in iterator order.
func (s *Server) Alerts(kind string) []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.alerts[kind]
	if st == nil {
		return nil
	}
	out := make([]Alert, len(st.recs))
	for i, r := range st.recs {
		out[i] = cloneAlert(r.alert)
	}
	return out
}

// AddAlerts appends alerts of kind (an iterator alert type such as KindMalware). An
// alert without "_id", "alert_type" or "timestamp" gets one (timestamp: the clock).
// The tenant receives them now: the next "next" call of every index delivers them,
// whatever their timestamp. It panics on an unknown kind or a value that is not JSON.
func (s *Server) AddAlerts(kind string, alerts ...Alert) {
	if _, ok := alertTypeNames[kind]; !ok {
		panic(fmt.Sprintf("netskopetest: AddAlerts: unknown alert type %q", kind))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	for _, a := range alerts {
		a = cloneAlert(a)
		if _, ok := a["_id"]; !ok {
			a["_id"] = s.newID(now)
		}
		if _, ok := a["alert_type"]; !ok {
			a["alert_type"] = alertTypeNames[kind]
		}
		if _, ok := a["timestamp"]; !ok {
			a["timestamp"] = now
		}
		s.appendAlert(kind, a, now)
	}
}

// AddGeneratedAlerts generates n more alerts of kind (KindMalware or KindMalsite)
// stamped with the clock, adds them like AddAlerts and returns copies.
func (s *Server) AddGeneratedAlerts(kind string, n int) []Alert {
	if kind != KindMalware && kind != KindMalsite {
		panic(fmt.Sprintf("netskopetest: AddGeneratedAlerts: kind %q: use %q or %q", kind, KindMalware, KindMalsite))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	out := make([]Alert, 0, n)
	for range n {
		a := s.genAlert(kind, now)
		s.appendAlert(kind, a, now)
		out = append(out, cloneAlert(a))
	}
	return out
}

// IteratorPosition returns how many alerts of kind precede the cursor of index, and
// whether the index exists.
func (s *Server) IteratorPosition(kind, index string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cursors[cursorKey{kind, index}]
	if c == nil {
		return 0, false
	}
	return c.pos, true
}

// appendAlert stores a; s.mu must be held. ingest never goes backwards.
func (s *Server) appendAlert(kind string, a Alert, ingest int64) {
	raw, err := json.Marshal(a)
	if err != nil {
		panic(fmt.Sprintf("netskopetest: alert is not JSON: %v", err))
	}
	st := s.alerts[kind]
	if st == nil {
		st = &alertStore{}
		s.alerts[kind] = st
	}
	if n := len(st.recs); n > 0 && st.recs[n-1].ingest > ingest {
		ingest = st.recs[n-1].ingest
	}
	st.recs = append(st.recs, alertRec{ingest: ingest, alert: a, raw: raw})
}

func (s *Server) newID(ts int64) string {
	s.alertSeq++
	return fmt.Sprintf("%08x%016x", uint32(ts), s.alertSeq)
}

func cloneAlert(a Alert) Alert {
	out := make(Alert, len(a))
	for k, v := range a {
		if l, ok := v.([]string); ok {
			v = slices.Clone(l)
		}
		out[k] = v
	}
	return out
}

// seedAlerts generates n alerts spread over the alert span before now.
func (s *Server) seedAlerts(kind string, n int, now time.Time) {
	if n == 0 {
		return
	}
	span := int64(s.cfg.alertSpan / time.Second)
	start := now.Unix() - span
	step := max(span/int64(n), 1)
	for i := range n {
		ts := min(start+int64(i)*span/int64(n)+s.rng.Int64N(step), now.Unix())
		s.appendAlert(kind, s.genAlert(kind, ts), ts)
	}
}

var (
	severities    = []any{"low", "medium", "high", "high", "critical", "unknown", "medium", nil}
	malwareNames  = []string{"Gen:Variant.Razy", "Trojan.GenericKD", "W97M.Downloader", "Ransom.Lockbit", "JS.Miner.Coinhive", "Backdoor.Agent", "PDF.Phishing.Kit", "Exploit.CVE-2017-11882"}
	malwareTypes  = []string{"Trojan", "Ransomware", "Downloader", "Backdoor", "Miner", "Phishing", "Exploit", "Spyware"}
	fileNames     = []string{"invoice", "payment_advice", "scan", "resume", "setup", "update", "quote", "report"}
	fileExts      = []string{".exe", ".docm", ".pdf", ".zip", ".js", ".xlsm", ".dll", ".iso"}
	apps          = []string{"Google Drive", "Microsoft OneDrive for Business", "Box", "Dropbox", "Gmail", "Web Browsing"}
	users         = []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}
	words         = []string{"secure", "login", "update", "cdn", "files", "account", "verify", "portal", "mail", "docs"}
	domains       = []string{"example.com", "example.net", "example.org"}
	categories    = []string{"Phishing", "Malware Distribution Point", "Botnet", "Spyware & Adware", "Cryptomining", "Command and Control"}
	countries     = []string{"US", "RU", "CN", "NL", "BR", "DE"}
	hashVariantsN = 7
)

func (s *Server) pick(l []string) string { return l[s.rng.IntN(len(l))] }

func (s *Server) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[s.rng.IntN(16)]
	}
	return string(b)
}

// genAlert makes one deterministic alert; s.mu must be held (or the server not yet
// shared).
func (s *Server) genAlert(kind string, ts int64) Alert {
	i := s.alertSeq // before newID increments it: the variant index
	a := Alert{
		"_id":        s.newID(ts),
		"alert":      "yes",
		"alert_type": alertTypeNames[kind],
		"timestamp":  ts,
		"severity":   severities[s.rng.IntN(len(severities))],
		"user":       s.pick(users),
		"app":        s.pick(apps),
		"action":     "block",
	}
	if kind == KindMalware {
		s.genMalware(a, i)
	} else {
		s.genMalsite(a, i)
	}
	return a
}

func (s *Server) genMalware(a Alert, i int) {
	a["object"] = s.pick(fileNames) + "_" + strconv.Itoa(1000+s.rng.IntN(9000)) + s.pick(fileExts)
	a["malware_name"] = s.pick(malwareNames)
	a["malware_type"] = s.pick(malwareTypes)
	md5, sha := s.hex(32), s.hex(64)
	switch i % hashVariantsN {
	case 0: // reported and local hashes equal
		a["md5"], a["local_md5"], a["sha256"], a["local_sha256"] = md5, md5, sha, sha
	case 1: // only the hashes Netskope's engine computed
		a["local_md5"], a["local_sha256"] = md5, sha
	case 2: // reported and local hashes differ
		a["md5"], a["local_md5"], a["sha256"], a["local_sha256"] = md5, s.hex(32), sha, s.hex(64)
	case 3: // no hash at all
		a["md5"], a["local_md5"], a["sha256"], a["local_sha256"] = "", "", "", ""
	case 4: // SHA256 only
		a["md5"], a["sha256"], a["local_sha256"] = "", sha, sha
	case 5: // MD5 only
		a["md5"], a["local_md5"] = md5, md5
	case 6: // the empty file
		a["md5"], a["local_md5"], a["sha256"], a["local_sha256"] = EmptyMD5, EmptyMD5, EmptySHA256, EmptySHA256
	}
}

func (s *Server) genMalsite(a Alert, i int) {
	host := s.pick(words) + "-" + s.pick(words) + strconv.Itoa(s.rng.IntN(100)) + "." + s.pick(domains)
	ip := fmt.Sprintf("198.51.100.%d", 1+s.rng.IntN(254))
	path := "/" + s.pick(words) + "/" + s.hex(8)
	var u string
	switch i % 6 {
	case 0:
		u = "http://" + host + path
	case 1:
		u = "https://" + host + path + "?id=" + s.hex(6)
	case 2: // no scheme
		u = host + path
	case 3: // bare host name
		u = host
	case 4: // an address
		u = "http://" + ip + path
	case 5: // no URL
		u = ""
	}
	a["url"] = u
	a["hostname"] = host
	cats := []string{s.pick(categories)}
	if s.rng.IntN(3) == 0 {
		if c := s.pick(categories); c != cats[0] {
			cats = append(cats, c)
		}
	}
	a["malsite_category"] = cats
	a["malsite_id"] = 100000 + s.rng.IntN(900000)
	a["malsite_ip_host"] = ip
	a["malsite_country"] = s.pick(countries)
}

// Iterator operations.
const (
	OpHead   = "head"
	OpTail   = "tail"
	OpNext   = "next"
	OpResend = "resend"
)

func (s *Server) handleDataExport(r *http.Request, kind string) reply {
	if r.Method != http.MethodGet {
		return v2Message(http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: use GET")
	}
	hdr, refused := s.checkV2(r, PathDataExportAlerts+kind)
	if refused != nil {
		refused.header = hdr
		return *refused
	}
	bad := func(msg string) reply {
		rep := v2Message(http.StatusBadRequest, msg)
		rep.header = hdr
		return rep
	}
	if _, ok := alertTypeNames[kind]; !ok {
		rep := v2Message(http.StatusNotFound, fmt.Sprintf("unknown alert type %q", kind))
		rep.header = hdr
		return rep
	}
	q := r.URL.Query()
	index, op := q.Get("index"), q.Get("operation")
	epoch, msg := exportOperation(index, op)
	if msg != "" {
		return bad(msg)
	}
	page, hwm, msg := s.exportPage(kind, index, op, epoch)
	if msg != "" {
		return bad(msg)
	}
	size := 64
	for _, r := range page {
		size += len(r.raw) + 1
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	b.WriteString(`{"ok":1,"result":[`)
	for i, r := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r.raw)
	}
	fmt.Fprintf(b, `],"wait_time":%d,"timestamp_hwm":%d}`, s.cfg.waitTime, hwm)
	return reply{status: http.StatusOK, header: hdr, body: b.Bytes(), gzip: true}
}

// exportOperation checks the index and operation of a Data Export request. It
// returns the epoch seconds of a time operation (-1 for the others), or why the
// request is refused.
func exportOperation(index, op string) (epoch int64, refused string) {
	if index == "" {
		return -1, "index is required: name the iterator, e.g. index=myconsumer"
	}
	switch op {
	case OpHead, OpTail, OpNext, OpResend:
		return -1, ""
	case "":
		return -1, "operation is required: head, tail, next, resend or epoch seconds"
	}
	e, err := strconv.ParseInt(op, 10, 64)
	if err != nil || e < 0 {
		return -1, fmt.Sprintf("invalid operation %q: use head, tail, next, resend or epoch seconds", op)
	}
	return e, ""
}

// exportPage moves the iterator index of kind as op asks and returns the page it
// delivers with its timestamp_hwm, or why the request is refused.
func (s *Server) exportPage(kind, index, op string, epoch int64) (page []alertRec, hwm int64, refused string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.alerts[kind]
	if st == nil {
		st = &alertStore{}
		s.alerts[kind] = st
	}
	recs := st.recs
	key := cursorKey{kind, index}
	c := s.cursors[key]
	now := s.now().Unix()
	if op == OpResend {
		if c == nil || !c.lastExists {
			return nil, 0, fmt.Sprintf("no page to resend for index %q: start it with head, tail, next or epoch seconds", index)
		}
		return recs[c.last[0]:c.last[1]], c.lastHWM, ""
	}
	var start int
	switch {
	case op == OpHead:
		start = 0
	case op == OpTail || (op == OpNext && c == nil):
		start = len(recs)
	case op == OpNext:
		start = c.pos
	default:
		start = sort.Search(len(recs), func(i int) bool { return recs[i].ingest >= epoch })
	}
	end := start
	if op != OpTail {
		end = min(start+s.cfg.pageSize, len(recs))
	}
	hwm = now
	if end < len(recs) && end > start {
		hwm = recs[end-1].ingest
	} else if end > start {
		hwm = max(now, recs[end-1].ingest)
	}
	if c == nil {
		c = &cursor{}
		s.cursors[key] = c
	}
	c.pos, c.last, c.lastHWM, c.lastExists = end, [2]int{start, end}, hwm, true
	return recs[start:end], hwm, ""
}
