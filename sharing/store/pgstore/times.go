package pgstore

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// PostgreSQL keeps microseconds; each table's ns column keeps the nanoseconds
// under the microsecond of its times, 10 bits per time in column order, so a
// Go time comes back exactly. The zero time is NULL.

// dbTime returns t as a timestamptz argument (nil for the zero time) and its
// nanoseconds under the microsecond.
func dbTime(t time.Time) (any, int64) {
	if t.IsZero() {
		return nil, 0
	}
	t = storeutil.Time(t)
	return t.Truncate(time.Microsecond), int64(t.Nanosecond() % 1000)
}

// packTimes returns the arguments for times and their ns column value.
func packTimes(ts ...time.Time) ([]any, int64) {
	args := make([]any, len(ts))
	var ns int64
	for i, t := range ts {
		var rem int64
		args[i], rem = dbTime(t)
		ns |= rem << (10 * i)
	}
	return args, ns
}

// goTime returns the time read from a timestamptz column with its
// nanoseconds, the i-th in ns.
func goTime(ts pgtype.Timestamptz, ns int64, i int) time.Time {
	if !ts.Valid {
		return time.Time{}
	}
	rem := (ns >> (10 * i)) & 1023
	return storeutil.Time(ts.Time.Add(time.Duration(rem)))
}
