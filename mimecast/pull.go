package mimecast

import (
	"context"
	"encoding/json"
	"errors"
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
	// Capped names the feeds whose last pull stopped at MaxPages: the next
	// resumes at the feed's time itself, not Overlap before it. Resumed an
	// overlap back, a feed with more than MaxPages pages in that hour read
	// the same pages at every pull and never got past them.
	Capped map[string]bool `json:"capped,omitempty"`
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
	out := checkpoint{V: 1, Feeds: make(map[string]time.Time, len(cp.Feeds)+1), Capped: cp.Capped}
	for k, v := range cp.Feeds {
		out.Feeds[k] = v
	}
	out.Feeds[feed] = newest.UTC()
	return out
}

// capped returns cp with feed marked capped or not (a copy when it changes).
func (cp checkpoint) capped(feed string, on bool) checkpoint {
	if cp.Capped[feed] == on {
		return cp
	}
	out := cp
	out.Capped = map[string]bool{}
	for k, v := range cp.Capped {
		if k != feed {
			out.Capped[k] = v
		}
	}
	if on {
		out.Capped[feed] = true
	}
	if len(out.Capped) == 0 {
		out.Capped = nil
	}
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

// ReadsPagesAhead implements cte.PageAheadReader: the feeds and the click logs
// are read by time range and page token, and Mimecast keeps no read position
// for them, so a page fetched and never stored is fetched again from the last
// stored checkpoint.
func (p *Plugin) ReadsPagesAhead() bool { return true }

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
			read := p.readClickPage(start, now)
			if feed != FeedMalsite {
				read = p.readFeedPage(feed, start, now)
			}
			var ok bool
			if cp, ok = p.follow(ctx, feed, cp, &skipped, read, yield); !ok {
				return
			}
			if _, seen := cp.Feeds[feed]; !seen {
				// A first pull that found nothing (an empty feed, or no
				// history asked for) starts the feed at its window's end: with
				// no entry, every pull was a first one, and asked again for
				// the initial range, or for nothing at all from a now that
				// moved on, missing what came between.
				cp = cp.with(feed, now)
				if !yield(cte.Page{Next: cp.encode()}, nil) {
					return
				}
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
		if cp.Capped[feed] {
			return notAfter(t, now) // the rest of a pull the page cap stopped
		}
		// A checkpoint after now (written before newest was capped at the window's
		// end) resumes from now, minus the overlap like any other.
		return notAfter(t, now).Add(-p.cfg.Overlap)
	}
	if p.cfg.InitialRangeDays == NoHistory {
		return now
	}
	return now.AddDate(0, 0, -p.cfg.InitialRangeDays)
}

func (p *Plugin) wantHash(t ioc.Type) bool {
	for _, h := range p.cfg.HashTypes {
		if h == t {
			return true
		}
	}
	return false
}

// errStopped ends a page loop whose consumer stopped the iteration.
var errStopped = errors.New("stopped by the consumer")

// pageFunc reads the page at token (empty: the first), hands its indicators to
// emit as one cte.Page or, for a large feed file, several, and returns the
// checkpoint after the page and the next page's token ("" on the last page).
// It returns errStopped when emit returned false.
type pageFunc func(ctx context.Context, cp checkpoint, token string, emit func(cte.Page) bool) (checkpoint, string, error)

// follow is the page-token loop of every paginated feed. It stops after the
// last page and after MaxPages pages (the next pull goes on from the
// checkpoint). A token the feed gave before would loop for ever or skip pages:
// the pull ends with an error wrapping ErrProtocol, so the host reports it as
// incomplete; what was read before stays stored.
func (p *Plugin) follow(ctx context.Context, feed string, cp checkpoint, skipped *invalids, read pageFunc, yield func(cte.Page, error) bool) (checkpoint, bool) {
	seen := map[string]bool{}
	token := ""
	cp = cp.capped(feed, false) // this pull's pages resume as any other
	emit := func(pg cte.Page) bool {
		skipped.merge(pg.Invalid)
		return yield(pg, nil)
	}
	for page := 1; ; page++ {
		if page > p.cfg.MaxPages {
			p.log.Warn("mimecast: page cap reached; the next pull continues from the checkpoint", "feed", feed, "pages", p.cfg.MaxPages)
			cp = cp.capped(feed, true)
			return cp, yield(cte.Page{Next: cp.encode()}, nil)
		}
		next, nextToken, err := read(ctx, cp, token, emit)
		if errors.Is(err, errStopped) {
			return next, false
		}
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull %s page %d: %w", feed, page, err))
			return cp, false
		}
		cp = next
		switch {
		case nextToken == "":
			return cp, true
		case seen[nextToken] || nextToken == token:
			yield(cte.Page{}, fmt.Errorf("mimecast: pull %s: page %d gave the page token of an earlier page, so the rest of the feed cannot be read: %w; the %d pages read are kept, and the next pull asks for the feed again from the checkpoint",
				feed, page, ErrProtocol, page))
			return cp, false
		}
		seen[nextToken] = true
		token = nextToken
	}
}

// feedChunk is the most indicators one cte.Page of a feed file holds: a
// larger file gives several pages, so memory stays bounded by a chunk.
const feedChunk = 50_000

// readFeedPage returns the pageFunc of a hash feed. The pages of one feed file
// but the last carry the checkpoint from before the file: a pull stopped in
// the middle of a file reads it again rather than skip its rest.
func (p *Plugin) readFeedPage(feed string, start, end time.Time) pageFunc {
	parser := &feedParser{md5: p.wantHash(ioc.TypeMD5), sha256: p.wantHash(ioc.TypeSHA256), tags: []string{feed}}
	parser.tags = parser.tags[:1:1]
	return func(ctx context.Context, cp checkpoint, token string, emit func(cte.Page) bool) (checkpoint, string, error) {
		fp, err := p.c.GetFeed(ctx, FeedRequest{FeedType: feed, Start: start, End: end, Token: token, FileType: p.cfg.FileType})
		if err != nil {
			return cp, "", err
		}
		defer fp.Close()
		var newest time.Time
		next := cp
		handle := func(res *feedResult, last bool) error {
			if res.newest.After(newest) {
				newest = res.newest
			}
			if last {
				next = cp.with(feed, notAfter(newest, end))
			}
			if !emit(cte.Page{Indicators: res.indicators, Next: next.encode(), Invalid: res.invalid.list}) {
				return errStopped
			}
			return nil
		}
		if p.cfg.FileType == FileSTIX {
			err = parser.streamSTIX(fp.Body, handle)
		} else {
			err = parser.stream(fp.Body, p.chunk(), handle)
		}
		return next, fp.NextToken, err
	}
}

func (p *Plugin) chunk() int {
	if p.feedChunk > 0 {
		return p.feedChunk
	}
	return feedChunk
}

// readClickPage is the pageFunc of the malicious click logs: each page's URLs
// are decoded with decode-url.
func (p *Plugin) readClickPage(start, end time.Time) pageFunc {
	tags := []string{FeedMalsite}
	return func(ctx context.Context, cp checkpoint, token string, emit func(cte.Page) bool) (checkpoint, string, error) {
		lp, err := p.c.GetMaliciousClicks(ctx, LogsRequest{From: start, To: end, PageToken: token})
		if err != nil {
			return cp, "", err
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
			return cp, "", fmt.Errorf("decode URLs: %w", err)
		}
		var inds []ioc.Indicator
		for _, d := range decoded {
			if d.URL == "" {
				inv.add("url: "+d.Message, d.Input)
				continue
			}
			v, err := ioc.Parse(ioc.TypeURL, d.URL)
			if err != nil {
				inv.add(ioc.Reason(err), d.URL)
				continue
			}
			ts := dates[d.Input]
			inds = append(inds, ioc.Indicator{Type: ioc.TypeURL, Value: v, Tags: tags[:1:1], FirstSeen: ts, LastSeen: ts})
		}
		cp = cp.with(FeedMalsite, notAfter(newest, end))
		if !emit(cte.Page{Indicators: inds, Next: cp.encode(), Invalid: inv.list}) {
			return cp, "", errStopped
		}
		return cp, lp.Next, nil
	}
}
