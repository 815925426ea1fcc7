package fleettest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
)

// upstream is the emulator that every gateway of a test calls, in the test process, with
// the arrival time of each chat request recorded: the provider's own view of the rate that
// the fleet sent.
type upstream struct {
	*emulator.Emulator
	srv *httptest.Server

	mu       sync.Mutex
	arrivals []time.Time
	// notify, when set, is called with the number of arrivals so far after each one.
	notify func(n int)
	// gate, when set, holds every chat request after its arrival until it is closed: the
	// calls stay in flight as long as the test needs.
	gate chan struct{}
}

// startUpstream serves an emulator built from cfg on a loopback port until the test ends.
func startUpstream(t testing.TB, cfg emulator.Config) *upstream {
	t.Helper()
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{Emulator: e}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			u.mu.Lock()
			u.arrivals = append(u.arrivals, time.Now())
			n, notify, gate := len(u.arrivals), u.notify, u.gate
			u.mu.Unlock()
			if notify != nil {
				notify(n)
			}
			if gate != nil {
				<-gate
			}
		}
		e.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// baseURL is the OpenAI base URL for a gateway's upstream: with /v1.
func (u *upstream) baseURL() string { return u.srv.URL + "/v1" }

// onArrival sets the function called after each chat request arrives.
func (u *upstream) onArrival(f func(n int)) {
	u.mu.Lock()
	u.notify = f
	u.mu.Unlock()
}

// arrivalTimes returns a copy of the arrival times so far, in order.
func (u *upstream) arrivalTimes() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.arrivals...)
}

// hold makes chat requests wait after their arrival until the returned function is called.
func (u *upstream) hold() (release func()) {
	gate := make(chan struct{})
	u.mu.Lock()
	u.gate = gate
	u.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			u.gate = nil
			u.mu.Unlock()
			close(gate)
		})
	}
}
