package httpx

import (
	"errors"
	"fmt"
	"io"
)

// ReadErrorBody reads at most 1 MiB of an error answer and drains nothing more.
func ReadErrorBody(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, ErrorBodyLimit))
	return b
}

// ErrBodyTooLarge is wrapped by the error of a body read past its limit.
var ErrBodyTooLarge = errors.New("response body too large")

// LimitBody returns a reader of r that fails with an error wrapping
// ErrBodyTooLarge, and naming limit, once r holds more than limit bytes. Parsers
// read answers through it, so memory stays bounded by what they keep, whatever
// the server sends.
func LimitBody(r io.Reader, limit int64) io.Reader { return &limitedBody{r: r, limit: limit} }

type limitedBody struct {
	r        io.Reader
	n, limit int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n > l.limit {
		return 0, l.tooLarge()
	}
	if rem := l.limit - l.n + 1; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n - int(l.n-l.limit), l.tooLarge()
	}
	return n, err
}

func (l *limitedBody) tooLarge() error {
	return fmt.Errorf("%w: more than %d bytes (%d MiB), the limit of one answer", ErrBodyTooLarge, l.limit, l.limit>>20)
}

// ReadBody reads a whole body of at most limit bytes, for answers small enough
// to hold (JSON envelopes); pages of a feed are parsed from LimitBody instead.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(LimitBody(r, limit))
}
