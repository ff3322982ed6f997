package fake

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Server is a fake's listener: an httptest server on 127.0.0.1 and the
// Closing channel its held requests watch.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234, without a trailing slash.
	URL string

	ts      *httptest.Server
	closing chan struct{}
	once    sync.Once
}

// Start serves h on 127.0.0.1 over plain HTTP/1.1 (so ResetConn can hijack
// connections). The caller must Close or Abort the server. Start panics when
// it cannot listen, as httptest does.
func Start(h http.Handler) *Server {
	ts := httptest.NewServer(h)
	return &Server{URL: ts.URL, ts: ts, closing: make(chan struct{})}
}

// Client returns an *http.Client that reaches the server (httptest's client).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Closing returns a channel that is closed when Close or Abort begins, for
// Gate.Wait.
func (s *Server) Closing() <-chan struct{} { return s.closing }

// Close closes Closing, so held requests return from Gate.Wait, then shuts the
// server down, waiting for the requests in flight to finish. It is idempotent.
func (s *Server) Close() { s.shutdown(false) }

// Abort drops every client connection (requests in flight see their context
// cancelled), then closes like Close. It is idempotent, and Close after Abort
// (or the other way round) does nothing more.
func (s *Server) Abort() { s.shutdown(true) }

func (s *Server) shutdown(drop bool) {
	s.once.Do(func() {
		if drop {
			s.ts.CloseClientConnections()
		}
		close(s.closing)
		s.ts.Close()
	})
}

// ResetConn ends the request answered through w with a TCP reset instead of
// an answer: it hijacks the connection, sets SO_LINGER to 0 on a TCP
// connection and closes it. It returns the Hijack error, which wraps
// http.ErrNotSupported when w cannot be hijacked (HTTP/2, a wrapper without
// Unwrap); the caller decides whether that is a bug or an abort.
func ResetConn(w http.ResponseWriter) error {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return nil
}
