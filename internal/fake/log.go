package fake

import (
	"slices"
	"sync"
)

// Log is a request log of records of type R, oldest first. It is safe for
// concurrent use. Create it with NewLog.
type Log[R any] struct {
	limit int

	mu      sync.Mutex
	entries []R
}

// NewLog returns an empty log that keeps at most limit records, dropping the
// oldest ones beyond; limit 0 keeps every record.
func NewLog[R any](limit int) *Log[R] { return &Log[R]{limit: limit} }

// Add appends r, dropping the oldest records when the log is full.
func (l *Log[R]) Add(r R) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit > 0 && len(l.entries) >= l.limit {
		l.entries = slices.Delete(l.entries, 0, len(l.entries)-l.limit+1)
	}
	l.entries = append(l.entries, r)
}

// All returns a copy of the records, oldest first. The records themselves are
// copied shallowly: a caller handing them out clones what they point to.
func (l *Log[R]) All() []R {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// Clear empties the log.
func (l *Log[R]) Clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}
