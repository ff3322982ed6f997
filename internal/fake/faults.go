package fake

import (
	"fmt"
	"strings"
	"sync"
)

// MatchPath reports whether a fault queued for pattern applies to a request
// for path. A pattern matches exactly, except that "" and "/" match every path
// and a pattern ending in "/" matches by prefix ("/api/" matches every path
// under /api/ but not /oauth/token).
func MatchPath(pattern, path string) bool {
	switch {
	case pattern == "" || pattern == "/":
		return true
	case strings.HasSuffix(pattern, "/"):
		return strings.HasPrefix(path, pattern)
	}
	return pattern == path
}

// Queue is a queue of faults of type F, each for a path pattern and a number
// of requests. It is safe for concurrent use. Create it with NewQueue.
type Queue[F any] struct {
	owner string // package name opening panic messages

	mu     sync.Mutex
	queued []*queued[F]
}

type queued[F any] struct {
	pattern string
	left    int
	fault   F
}

// NewQueue returns an empty queue. owner (the fake's package name, e.g.
// "mimecasttest") opens the message of Add's panic.
func NewQueue[F any](owner string) *Queue[F] { return &Queue[F]{owner: owner} }

// Add queues f for the next n requests matching pattern, after the faults
// already queued. knob is the name of the fake's method that queues the fault,
// for the panic message. Add panics when n < 1: a knob call with a count that
// would queue nothing is a bug in the test.
func (q *Queue[F]) Add(knob, pattern string, n int, f F) {
	if n < 1 {
		panic(fmt.Sprintf("%s: %s(%q, %d): n must be at least 1", q.owner, knob, pattern, n))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, &queued[F]{pattern: pattern, left: n, fault: f})
}

// Take consumes one use of the first queued fault whose pattern matches path
// and returns it; ok is false when no queued fault matches. A fault whose
// uses are spent leaves the queue.
func (q *Queue[F]) Take(path string) (f F, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, e := range q.queued {
		if !MatchPath(e.pattern, path) {
			continue
		}
		e.left--
		if e.left == 0 {
			q.queued = append(q.queued[:i:i], q.queued[i+1:]...)
		}
		return e.fault, true
	}
	return f, false
}

// Pending returns how many faulted requests are still queued: the sum of the
// uses left of every queued fault.
func (q *Queue[F]) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, e := range q.queued {
		n += e.left
	}
	return n
}
