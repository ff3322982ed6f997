package fake_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/internal/fake"
)

// holding starts a server whose handler waits on g and reports Wait's result
// on res, then answers 200.
func holding(g *fake.Gate) (*fake.Server, chan error) {
	res := make(chan error, 1)
	var srv *fake.Server
	ready := make(chan struct{})
	srv = fake.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		err := g.Wait(r.Context(), srv.Closing())
		res <- err
		if err != nil && !errors.Is(err, fake.ErrClosed) {
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	close(ready)
	return srv, res
}

// get sends a request to srv in the background; the channel gets the status,
// or 0 on a transport error. It is a POST: net/http's Transport replays an
// idempotent request (a GET) whose connection dropped before an answer on a new
// connection, which under parallel tests may reach another server that took the
// freed port and answer 200 where Abort must leave the client with no answer.
func get(t *testing.T, srv *fake.Server) chan int {
	t.Helper()
	done := make(chan int, 1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/x", nil)
	require.NoError(t, err)
	go func() {
		resp, err := srv.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

func TestServerServes(t *testing.T) {
	t.Parallel()
	srv := fake.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, srv.URL)
	assert.Equal(t, http.StatusTeapot, <-get(t, srv))
	select {
	case <-srv.Closing():
		t.Fatal("Closing is closed before Close")
	default:
	}
}

// Close frees held requests with ErrClosed and waits for them to answer;
// Abort drops the connections first, so the held request sees its context end
// (or the closing channel) and the client gets no answer. Both are
// idempotent, whichever comes second.
func TestServerShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		first      func(*fake.Server)
		second     func(*fake.Server)
		wantErr    error // from Gate.Wait; nil: any error
		wantStatus int   // 0: a transport error
	}{
		{"close", (*fake.Server).Close, (*fake.Server).Close, fake.ErrClosed, http.StatusOK},
		{"close then abort", (*fake.Server).Close, (*fake.Server).Abort, fake.ErrClosed, http.StatusOK},
		{"abort", (*fake.Server).Abort, (*fake.Server).Close, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := fake.NewGate(1)
			srv, res := holding(g)
			done := get(t, srv)
			<-g.Arrived()
			tt.first(srv)
			tt.second(srv)
			if err := <-res; tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				assert.Error(t, err)
			}
			assert.Equal(t, tt.wantStatus, <-done)
			<-srv.Closing()
		})
	}
}

func TestResetConn(t *testing.T) {
	t.Parallel()
	errc := make(chan error, 1)
	srv := fake.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errc <- fake.ResetConn(w)
	}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/x", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	assert.Error(t, err, "a reset connection gives no answer")
	assert.NoError(t, <-errc)
}

func TestResetConnNotHijackable(t *testing.T) {
	t.Parallel()
	err := fake.ResetConn(httptest.NewRecorder())
	assert.ErrorIs(t, err, http.ErrNotSupported)
}
