package netskope

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"math"
	"time"

	"github.com/ctexchange/cte"
)

// maxPagesPerPull bounds one Pull per alert type, so a tenant that receives alerts
// faster than they are read cannot hold a pull open for ever; the next Pull goes on.
const maxPagesPerPull = 1000

// checkpoint is the resume position of a Pull, stored by the host as JSON:
//
//	{"v":1,"index":"cte_…","types":{"malware":{"since":…,"hwm":…,"last":"…"}}}
//
// For each alert type, since is where the first run started (epoch seconds), hwm the
// highest timestamp_hwm seen, and last the fingerprint of the last page delivered.
type checkpoint struct {
	V     int                     `json:"v"`
	Index string                  `json:"index"`
	Types map[string]*cursorState `json:"types"`
}

type cursorState struct {
	Since int64  `json:"since"`
	HWM   int64  `json:"hwm,omitempty"`
	Last  string `json:"last,omitempty"`
}

const checkpointVersion = 1

func decodeCheckpoint(b cte.Checkpoint) (*checkpoint, error) {
	cp := &checkpoint{V: checkpointVersion, Types: map[string]*cursorState{}}
	if len(b) == 0 {
		return cp, nil
	}
	if err := json.Unmarshal(b, cp); err != nil || cp.V != checkpointVersion {
		return nil, fmt.Errorf("netskope: checkpoint %s is not a version %d Netskope checkpoint: reset the source's checkpoint to pull from the initial range again: %w",
			snippet(b), checkpointVersion, cte.ErrInvalidConfig)
	}
	if cp.Types == nil {
		cp.Types = map[string]*cursorState{}
	}
	return cp, nil
}

func (cp *checkpoint) encode() cte.Checkpoint {
	c := *cp
	c.Types = make(map[string]*cursorState, len(cp.Types))
	for k, v := range cp.Types {
		s := *v
		c.Types[k] = &s
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic("netskope: marshal checkpoint: " + err.Error()) // plain data: cannot fail
	}
	return b
}

// fingerprint identifies a page by its alerts, so a resent page that was already
// delivered is recognised.
func fingerprint(alerts []Alert) string {
	h := fnv.New64a()
	var buf [8]byte
	for i := range alerts {
		a := &alerts[i]
		for _, s := range [...]string{a.ID, a.MD5, a.LocalMD5, a.SHA256, a.LocalSHA256, a.URL} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(a.Timestamp))
		h.Write(buf[:])
	}
	return fmt.Sprintf("%d-%016x", len(alerts), h.Sum64())
}

// Pull reads the alert types of the configuration, one after the other, through the
// Data Export iterator with the plugin's index.
//
// A first run (nil checkpoint, or an alert type the checkpoint does not know) starts
// at now − initial_range_days with an epoch operation, then asks for "next" pages
// until an empty one, waiting wait_time between pages. A resumed run first asks the
// tenant to resend the last page it delivered: if that page is the one the
// checkpoint was stored with, it was stored and is skipped; otherwise it was
// delivered but not stored (a crash in between) and is delivered again. If the
// tenant cannot resend (the index expired or changed), the pull restarts from the
// stored timestamp_hwm, which may repeat alerts but loses none. Memory stays bounded
// by one page.
func (p *Plugin) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(cte.Page{}, fmt.Errorf("netskope: pull: %w", err))
			return
		}
		cp, err := decodeCheckpoint(from)
		if err != nil {
			yield(cte.Page{}, err)
			return
		}
		for _, typ := range p.c.cfg.AlertTypes {
			if !p.pullType(ctx, typ, cp, yield) {
				return
			}
		}
	}
}

// pullType pulls one alert type; it returns false when the pull must stop.
func (p *Plugin) pullType(ctx context.Context, typ string, cp *checkpoint, yield func(cte.Page, error) bool) bool {
	st := cp.Types[typ]
	resuming := false
	var op string
	switch {
	case st == nil || st.Last == "":
		since := p.c.now().Add(-time.Duration(p.c.cfg.InitialRangeDays) * 24 * time.Hour)
		st = &cursorState{Since: since.Unix()}
		op = OpEpoch(since)
	case cp.Index != p.index:
		p.log.Info("netskope: the export index changed; resuming from the stored timestamp_hwm",
			"alert_type", typ, "hwm", max(st.HWM, st.Since))
		st = &cursorState{Since: st.Since, HWM: st.HWM}
		op = OpEpoch(time.Unix(max(st.HWM, st.Since), 0))
	default:
		st = &cursorState{Since: st.Since, HWM: st.HWM, Last: st.Last}
		op, resuming = OpResend, true
	}
	fail := func(err error) bool {
		yield(cte.Page{}, fmt.Errorf("netskope: pull %s alerts: %w", typ, err))
		return false
	}
	var wait time.Duration
	for pages := 0; pages < maxPagesPerPull; pages++ {
		if wait > 0 {
			if err := sleep(ctx, wait); err != nil {
				return fail(err)
			}
		}
		page, err := p.c.Alerts(ctx, typ, p.index, op)
		if err != nil {
			if op == OpResend && (errors.Is(err, ErrRejected) || errors.Is(err, ErrNotFound)) {
				p.log.Warn("netskope: the tenant cannot resend the last page; resuming from the stored timestamp_hwm",
					"alert_type", typ, "hwm", max(st.HWM, st.Since), "error", err.Error())
				op, resuming, wait = OpEpoch(time.Unix(max(st.HWM, st.Since), 0)), false, 0
				continue
			}
			return fail(err)
		}
		fp := fingerprint(page.Alerts)
		stored := resuming && fp == st.Last
		resuming = false
		st.Last = fp
		st.HWM = max(st.HWM, page.TimestampHWM)
		cp.Index = p.index
		cp.Types[typ] = st
		if !stored && len(page.Alerts) == 0 && len(page.Problems) == 0 && op != OpNext && op != OpResend {
			// An epoch that starts the cursor on an empty page: the
			// checkpoint is stored all the same, so that the next pull reads
			// on from this cursor. Without it every pull was a first one,
			// and with initial_range_days: 0 started a new cursor at its
			// own now, past every alert that came in between.
			if !yield(cte.Page{Next: cp.encode()}, nil) {
				return false
			}
		}
		if !stored && (len(page.Alerts) > 0 || len(page.Problems) > 0) {
			x := NewExtractor(p.c.tenant, p.c.cfg.HashTypes, p.c.now())
			inds, invalid := x.Page(typ, page.Alerts)
			for _, pr := range page.Problems {
				invalid = append(invalid, cte.Invalid{Reason: "alert field of the wrong type", Count: 1, Example: pr})
			}
			p.log.Debug("netskope: alert page", "alert_type", typ, "operation", op, "alerts", len(page.Alerts),
				"indicators", len(inds), "hwm", page.TimestampHWM)
			if !yield(cte.Page{Indicators: inds, Next: cp.encode(), Invalid: invalid}, nil) {
				return false
			}
		}
		if op == OpNext && len(page.Alerts) == 0 {
			return true
		}
		op, wait = OpNext, page.WaitTime
	}
	p.log.Info("netskope: pull stopped after the page limit; the next pull continues", "alert_type", typ, "pages", maxPagesPerPull)
	return true
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
