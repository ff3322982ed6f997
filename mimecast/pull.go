package mimecast

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// checkpoint is the plugin's resume position: per feed type (and "malsite" for the
// click logs) the newest event time seen, UTC. A pull resumes Overlap before it.
type checkpoint struct {
	V     int                  `json:"v"`
	Feeds map[string]time.Time `json:"feeds,omitempty"`
}

func decodeCheckpoint(b cte.Checkpoint) (checkpoint, error) {
	cp := checkpoint{V: 1, Feeds: map[string]time.Time{}}
	if len(b) == 0 {
		return cp, nil
	}
	if err := json.Unmarshal(b, &cp); err != nil || cp.V != 1 {
		return checkpoint{}, fmt.Errorf("mimecast: checkpoint %s is not one this plugin wrote; clear it to start again from initial_range_days", snippet(b))
	}
	if cp.Feeds == nil {
		cp.Feeds = map[string]time.Time{}
	}
	return cp, nil
}

func (cp checkpoint) encode() cte.Checkpoint {
	b, _ := json.Marshal(cp)
	return b
}

func (cp checkpoint) with(feed string, newest time.Time) checkpoint {
	if newest.IsZero() || !newest.After(cp.Feeds[feed]) {
		return cp
	}
	out := checkpoint{V: 1, Feeds: make(map[string]time.Time, len(cp.Feeds)+1)}
	for k, v := range cp.Feeds {
		out.Feeds[k] = v
	}
	out.Feeds[feed] = newest.UTC()
	return out
}

// notAfter caps a feed's newest timestamp at the end of the window asked for. Rows
// stamped later (Mimecast's clock ahead of ours, or a feed file holding rows past
// end) must not move the checkpoint past it: the next pull would start after the
// events stamped between the two pulls and never ask for them.
func notAfter(newest, end time.Time) time.Time {
	if newest.After(end) {
		return end
	}
	return newest
}

// feedOrder is the order feeds are pulled in.
var feedOrder = []string{FeedMalwareCustomer, FeedMalwareGrid, FeedMalsite}

// Pull yields the selected feeds page by page: each get-feed CSV page, then each
// page of malicious clicks with its decoded URLs. Every page's Next holds, per feed
// type, the newest timestamp seen so far.
func (p *Plugin) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull: %w", err))
			return
		}
		cp, err := decodeCheckpoint(from)
		if err != nil {
			yield(cte.Page{}, err)
			return
		}
		now := p.now().UTC().Truncate(time.Second)
		var skipped invalids
		defer func() {
			if n := skipped.total(); n > 0 {
				args := []any{"total", n}
				for _, x := range skipped.list {
					args = append(args, slog.Group("reason", "text", x.Reason, "count", x.Count))
				}
				// Debug: the pages report them (Page.Invalid), and the host's
				// audit shows them once, with their reasons.
				p.log.Debug("mimecast: skipped values that are not valid indicators", args...)
			}
		}()
		for _, feed := range feedOrder {
			if !p.selected(feed) {
				continue
			}
			start := p.start(cp, feed, now)
			var ok bool
			if feed == FeedMalsite {
				cp, ok = p.pullClicks(ctx, cp, start, now, &skipped, yield)
			} else {
				cp, ok = p.pullHashes(ctx, feed, cp, start, now, &skipped, yield)
			}
			if !ok {
				return
			}
		}
	}
}

func (p *Plugin) selected(feed string) bool {
	for _, f := range p.cfg.FeedTypes {
		if f == feed {
			return true
		}
	}
	return false
}

// start is where a feed's pull begins: the checkpoint minus the overlap, or the
// initial range on a first run; never after now.
func (p *Plugin) start(cp checkpoint, feed string, now time.Time) time.Time {
	if t, ok := cp.Feeds[feed]; ok && !t.IsZero() {
		// A checkpoint after now (written before newest was capped at the window's
		// end) resumes from now, minus the overlap like any other.
		return notAfter(t, now).Add(-p.cfg.Overlap)
	}
	if p.cfg.InitialRangeDays == NoHistory {
		return now
	}
	return now.AddDate(0, 0, -p.cfg.InitialRangeDays)
}

func (p *Plugin) wantHash(t string) bool {
	for _, h := range p.cfg.HashTypes {
		if h == t {
			return true
		}
	}
	return false
}

// pullHashes follows one hash feed's pages. It stops on a missing, empty or repeated
// token and after MaxPages pages.
func (p *Plugin) pullHashes(ctx context.Context, feed string, cp checkpoint, start, end time.Time, skipped *invalids, yield func(cte.Page, error) bool) (checkpoint, bool) {
	parser := &feedParser{md5: p.wantHash(HashMD5), sha256: p.wantHash(HashSHA256), tags: []string{feed}}
	parser.tags = parser.tags[:1:1]
	seen := map[string]bool{}
	token := ""
	for page := 1; ; page++ {
		if page > p.cfg.MaxPages {
			p.log.Warn("mimecast: feed page cap reached; the next pull continues from the checkpoint", "feed", feed, "pages", p.cfg.MaxPages)
			return cp, true
		}
		fp, err := p.c.GetFeed(ctx, FeedRequest{FeedType: feed, Start: start, End: end, Token: token, FileType: p.cfg.FileType})
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull %s page %d: %w", feed, page, err))
			return cp, false
		}
		var res feedResult
		if p.cfg.FileType == FileSTIX {
			res, err = parser.parseSTIX(fp.Body)
		} else {
			res, err = parser.parse(fp.Body, nil)
		}
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull %s page %d: %w", feed, page, err))
			return cp, false
		}
		cp = cp.with(feed, notAfter(res.newest, end))
		for _, x := range res.invalid.list {
			for range x.Count {
				skipped.add(x.Reason, x.Example)
			}
		}
		if !yield(cte.Page{Indicators: res.indicators, Next: cp.encode(), Invalid: res.invalid.list}, nil) {
			return cp, false
		}
		next := fp.NextToken
		switch {
		case next == "":
			return cp, true
		case seen[next] || next == token:
			p.log.Warn("mimecast: feed repeated a page token; stopping this feed", "feed", feed, "page", page)
			return cp, true
		}
		seen[next] = true
		token = next
	}
}

// pullClicks follows the malicious click logs and decodes their URLs.
func (p *Plugin) pullClicks(ctx context.Context, cp checkpoint, start, end time.Time, skipped *invalids, yield func(cte.Page, error) bool) (checkpoint, bool) {
	seen := map[string]bool{}
	token := ""
	tags := []string{FeedMalsite}
	for page := 1; ; page++ {
		if page > p.cfg.MaxPages {
			p.log.Warn("mimecast: click log page cap reached; the next pull continues from the checkpoint", "pages", p.cfg.MaxPages)
			return cp, true
		}
		lp, err := p.c.GetMaliciousClicks(ctx, LogsRequest{From: start, To: end, PageToken: token})
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull malsite page %d: %w", page, err))
			return cp, false
		}
		var inv invalids
		var urls []string
		dates := map[string]time.Time{}
		var newest time.Time
		for _, l := range lp.Logs {
			d, ok := parseTimestamp([]byte(l.Date))
			if ok && d.After(newest) {
				newest = d
			}
			u := strings.TrimSpace(l.URL)
			if u == "" || u == "null" {
				inv.add("url: empty", "")
				continue
			}
			if prev, dup := dates[u]; dup {
				if d.After(prev) {
					dates[u] = d
				}
				continue
			}
			dates[u] = d
			urls = append(urls, u)
		}
		decoded, err := p.c.DecodeURLs(ctx, urls)
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull malsite page %d: decode URLs: %w", page, err))
			return cp, false
		}
		var inds []ioc.Indicator
		for _, d := range decoded {
			if d.URL == "" {
				inv.add("url: "+d.Message, d.Input)
				continue
			}
			v, err := ioc.Parse(ioc.TypeURL, d.URL)
			if err != nil {
				rule := err.Error()
				if pe, ok := err.(*ioc.ParseError); ok {
					rule = pe.Rule
				}
				inv.add("url: "+rule, d.URL)
				continue
			}
			ts := dates[d.Input]
			inds = append(inds, ioc.Indicator{Type: ioc.TypeURL, Value: v, Tags: tags[:1:1], FirstSeen: ts, LastSeen: ts})
		}
		cp = cp.with(FeedMalsite, notAfter(newest, end))
		for _, x := range inv.list {
			for range x.Count {
				skipped.add(x.Reason, x.Example)
			}
		}
		if !yield(cte.Page{Indicators: inds, Next: cp.encode(), Invalid: inv.list}, nil) {
			return cp, false
		}
		switch {
		case lp.Next == "":
			return cp, true
		case seen[lp.Next] || lp.Next == token:
			p.log.Warn("mimecast: click logs repeated a page token; stopping", "page", page)
			return cp, true
		}
		seen[lp.Next] = true
		token = lp.Next
	}
}
