package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// Encoding versions, the first byte of every record and ledger value.
const (
	recordV1 = 1
	ledgerV1 = 1
)

// Entry flag bits.
const (
	flagInactive = 1 << iota
	flagFirstSeen
	flagLastSeen
	flagExpiresAt
	flagInactiveAt
	flagStoredAt
)

var errCorrupt = errors.New("corrupt encoding")

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendTimeBody(dst []byte, t time.Time) []byte {
	sec, nsec := storeutil.Pack(t)
	dst = binary.AppendVarint(dst, sec)
	return binary.AppendUvarint(dst, uint64(nsec))
}

// appendTime writes a presence byte, then the time when it is not zero.
func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	return appendTimeBody(append(dst, 1), t)
}

// appendRecord encodes a record: version, type, entries.
func appendRecord(dst []byte, typ ioc.Type, entries []sharing.Entry) []byte {
	dst = append(dst, recordV1, byte(typ))
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for i := range entries {
		dst = appendEntry(dst, &entries[i])
	}
	return dst
}

func appendEntry(dst []byte, e *sharing.Entry) []byte {
	dst = appendStr(dst, e.Source)
	dst = append(dst, byte(e.Type), byte(e.Severity))
	dst = binary.AppendVarint(dst, int64(e.Reputation))
	dst = appendStr(dst, e.Comments)
	dst = binary.AppendUvarint(dst, uint64(len(e.Tags)))
	for _, tag := range e.Tags {
		dst = appendStr(dst, tag)
	}
	times := [...]time.Time{e.FirstSeen, e.LastSeen, e.ExpiresAt, e.InactiveAt, e.StoredAt}
	var flags byte
	if e.Inactive {
		flags |= flagInactive
	}
	for i, t := range times {
		if !t.IsZero() {
			flags |= flagFirstSeen << i
		}
	}
	dst = append(dst, flags)
	for i, t := range times {
		if flags&(flagFirstSeen<<i) != 0 {
			dst = appendTimeBody(dst, t)
		}
	}
	return dst
}

// reader decodes; the first failure sticks and later reads return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errCorrupt
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items that each take at least one byte.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.count()
	if r.err != nil {
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) timeBody() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.fail()
		return time.Time{}
	}
	return storeutil.Unpack(sec, uint32(nsec))
}

func (r *reader) time() time.Time {
	switch r.byte() {
	case 0:
		return time.Time{}
	case 1:
		return r.timeBody()
	}
	r.fail()
	return time.Time{}
}

// strs turns bytes into strings; the tx's cache shares repeated ones (source
// names, tags).
type strs func([]byte) string

func plain(b []byte) string { return string(b) }

// decodeRecord decodes the record of value from v into out, reusing
// out.Entries and *tagBuf.
func decodeRecord(value string, v []byte, out *sharing.Record, tagBuf *[]string, str strs) error {
	out.Value = value
	r := reader{b: v}
	if ver := r.byte(); ver != recordV1 {
		return fmt.Errorf("%w: record version %d", errCorrupt, ver)
	}
	out.Type = ioc.Type(r.byte())
	n := r.count()
	out.Entries = out.Entries[:0]
	tb := (*tagBuf)[:0]
	for range n {
		var e sharing.Entry
		e.Value = value
		e.Source = str(r.bytes())
		e.Type = ioc.Type(r.byte())
		e.Severity = ioc.Severity(r.byte())
		e.Reputation = int(r.varint())
		e.Comments = string(r.bytes())
		if nt := r.count(); nt > 0 {
			start := len(tb)
			for range nt {
				tb = append(tb, str(r.bytes()))
			}
			e.Tags = tb[start:len(tb):len(tb)]
		}
		flags := r.byte()
		times := [...]*time.Time{&e.FirstSeen, &e.LastSeen, &e.ExpiresAt, &e.InactiveAt, &e.StoredAt}
		for i, p := range times {
			if flags&(flagFirstSeen<<i) != 0 {
				*p = r.timeBody()
			}
		}
		e.Inactive = flags&flagInactive != 0
		if r.err != nil {
			break
		}
		out.Entries = append(out.Entries, e)
	}
	*tagBuf = tb
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return r.err
}

func appendLedger(dst []byte, e *sharing.LedgerEntry) []byte {
	dst = append(dst, ledgerV1, byte(e.Type), byte(e.State))
	dst = binary.BigEndian.AppendUint64(dst, e.Fingerprint)
	dst = appendStr(dst, e.Reason)
	dst = appendStr(dst, e.Code)
	dst = binary.AppendVarint(dst, int64(e.Attempts))
	dst = appendTime(dst, e.NextAttempt)
	return appendTime(dst, e.At)
}

// decodeLedger decodes v into out; Value is left to the caller.
func decodeLedger(v []byte, out *sharing.LedgerEntry) error {
	r := reader{b: v}
	if ver := r.byte(); ver != ledgerV1 {
		return fmt.Errorf("%w: ledger version %d", errCorrupt, ver)
	}
	out.Type = ioc.Type(r.byte())
	out.State = sharing.LedgerState(r.byte())
	if len(r.b) < 8 {
		r.fail()
		return r.err
	}
	out.Fingerprint = binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	out.Reason = string(r.bytes())
	out.Code = string(r.bytes())
	out.Attempts = int(r.varint())
	out.NextAttempt = r.time()
	out.At = r.time()
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return r.err
}
