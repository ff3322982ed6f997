package boltstore

import (
	"encoding/json"
	"fmt"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// PutRecord implements sharing.Tx: the record is staged like a merged one.
func (t *tx) PutRecord(r sharing.Record) error {
	if err := t.writable("put record"); err != nil {
		return err
	}
	entries, err := storeutil.CheckRecord(&r)
	if err != nil {
		return fmt.Errorf("boltstore: put record: %w", err)
	}
	for i := range entries {
		e := &entries[i]
		normTimes(e)
		e.InactiveAt, e.StoredAt = storeutil.Time(e.InactiveAt), storeutil.Time(e.StoredAt)
	}
	if _, err := t.bumpRecord(r.Value); err != nil {
		return err
	}
	for i := range entries {
		if err := t.bump(entries[i].Source); err != nil {
			return err
		}
		if err := t.rank(r.Value, nil, &entries[i]); err != nil {
			return err
		}
	}
	if err := t.flushRank(); err != nil {
		return err
	}
	t.enc = appendRecord(t.enc[:0], r.Type, entries)
	if err := t.putRecord(r.Value, t.enc); err != nil {
		return fmt.Errorf("boltstore: put record %q: %w", storeutil.Trunc(r.Value), err)
	}
	return nil
}

// bumpRecord increases the version of every source with an entry in the
// stored record of value, and drops the entries' ranked keys. It reports
// whether value has a stored record.
func (t *tx) bumpRecord(value string) (bool, error) {
	v, err := t.getRecord(value)
	if err != nil || v == nil {
		return false, err
	}
	r := &t.mrec
	if err := decodeRecord(value, v, r, &t.mtag, t.str); err != nil {
		return false, fmt.Errorf("boltstore: record %q: %w", storeutil.Trunc(value), err)
	}
	for i := range r.Entries {
		if err := t.bump(r.Entries[i].Source); err != nil {
			return false, err
		}
		if err := t.rank(value, &r.Entries[i], nil); err != nil {
			return false, err
		}
	}
	return true, nil
}

// DeleteRecord implements sharing.Tx. The value is deleted from the records
// bucket; when it has a staged version, a tombstone (an empty record) is
// staged after it, which reads as no record and which the next fold turns
// into a delete. The log is not folded for it: folded in this one
// transaction, a log of millions of versions would hold every page it
// touches until the commit. A value with no record changes nothing.
func (t *tx) DeleteRecord(value string) error {
	if err := t.writable("delete record"); err != nil {
		return err
	}
	if found, err := t.bumpRecord(value); err != nil || !found {
		return err
	}
	if err := t.flushRank(); err != nil {
		return err
	}
	_, staged, err := t.stagedVersion(value)
	if err != nil {
		return err
	}
	if err := t.bucket(bRecords).Delete([]byte(value)); err != nil {
		return fmt.Errorf("boltstore: delete record %q: %w", storeutil.Trunc(value), err)
	}
	t.curRecords = keyCursor{} // a cursor kept for lookups is void after a delete
	if staged {
		return t.putRecord(value, nil)
	}
	return nil
}

// Marks implements sharing.Tx.
func (t *tx) Marks(fn func(m sharing.Mark) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	return t.scan(t.bucket(bMarks).Cursor(), "marks", func(k, v []byte) error {
		var m sharing.Mark
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("boltstore: mark %q: %w", storeutil.Trunc(string(k)), err)
		}
		m.Value, m.At = string(k), storeutil.Time(m.At)
		return fn(m) // scan ends on sharing.ErrStop without error
	})
}

// PutMark implements sharing.Tx.
func (t *tx) PutMark(m sharing.Mark) error {
	if err := t.writable("put mark"); err != nil {
		return err
	}
	if err := storeutil.CheckMark(&m); err != nil {
		return fmt.Errorf("boltstore: put mark: %w", err)
	}
	m.At = storeutil.Time(m.At)
	return t.putJSON(bMarks, []byte(m.Value), m)
}

// DeleteMark implements sharing.Tx.
func (t *tx) DeleteMark(value string) error {
	if err := t.writable("delete mark"); err != nil {
		return err
	}
	if err := t.bucket(bMarks).Delete([]byte(value)); err != nil {
		return fmt.Errorf("boltstore: delete mark %q: %w", storeutil.Trunc(value), err)
	}
	return nil
}
