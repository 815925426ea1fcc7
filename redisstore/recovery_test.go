package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// events records a Store's events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) kinds() []EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []EventKind
	for _, ev := range e.all {
		out = append(out, ev.Kind)
	}
	return out
}

func (e *events) last(k EventKind) (Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.all) - 1; i >= 0; i-- {
		if e.all[i].Kind == k {
			return e.all[i], true
		}
	}
	return Event{}, false
}

// baselineVar is a Source whose answer a test sets, counting its reads.
type baselineVar struct {
	mu    sync.Mutex
	base  Baseline
	err   error
	reads atomic.Int64
	// gate, when set, is closed by the test to let a read return; entered is signalled
	// when a read starts.
	gate, entered chan struct{}
}

func (b *baselineVar) Baseline(ctx context.Context, now, since time.Time) (*Baseline, error) {
	b.reads.Add(1)
	b.mu.Lock()
	gate, entered := b.gate, b.entered
	base, err := b.base, b.err
	b.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &base, err
}

func (b *baselineVar) set(base Baseline, err error) {
	b.mu.Lock()
	b.base, b.err = base, err
	b.mu.Unlock()
}

func dayQ(key string, limit int64) quota.Quota {
	return quota.Quota{Name: key, Key: key, Unit: quota.MicroUSD, Limit: limit, Window: quota.Daily(nil)}
}

func usd(n int64) quota.Amount { return quota.Amount{Requests: 1, MicroUSD: n} }

// TestDataLossRebuildsFromTheSource flushes Redis under two Stores (replicas) with
// reservations open. The next reserve finds the marker gone, rebuilds the budgets from the
// Source (the ledger's sums, its open holds and the reservations it already counts), and
// only then reserves. What was in flight before the loss ends as the rules say: a hold the
// ledger journaled refunds its difference; a reservation the ledger knew nothing of is
// charged its actual amount, once, or held again once its replica sees the new epoch; one
// the ledger already counts is not counted again; a release returns what it held again.
func TestDataLossRebuildsFromTheSource(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	src := &baselineVar{}
	var evs events
	s, _, c := newStore(t, srv, Config{Source: src, OnEvent: evs.add})
	other, _, _ := newStore(t, srv, Config{SlotGroup: s.names.prefix[1 : len(s.names.prefix)-2], Source: src})
	life, day := budget("usd", 10_000), dayQ("daily", 10_000)
	both := []quota.Quota{life, day}
	reserve := func(st *Store, n int64) quota.Reservation {
		t.Helper()
		r, _, err := st.Reserve(ctx, &quota.Request{Quotas: both, Amount: usd(n)}, nil)
		if err != nil {
			t.Fatalf("Reserve(%d): %v", n, err)
		}
		return r
	}
	unknown, counted, again := reserve(s, 100), reserve(s, 100), reserve(s, 100)
	epoch := s.Stats().Epoch

	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	held := quota.NewIDGen().Next() // a third replica's call, journaled in the ledger
	src.set(Baseline{
		Budgets: []BudgetUse{{Quota: life, Used: 1000}, {Quota: day, Used: 500}},
		Holds:   []OpenHold{{ID: held, Quotas: both, Amount: usd(300), Opened: time.Now()}},
		Settled: []quota.ID{counted.ID},
	}, nil)

	fresh := reserve(other, 50)
	if st := other.Stats(); st.Epoch == epoch || st.DataLosses != 1 || st.Rebuilds != 1 {
		t.Errorf("the rebuilding store's Stats = %+v, want a new epoch, 1 data loss, 1 rebuild", st)
	}
	// check compares Redis with what is settled and held, through the store that
	// rebuilt: the ledger's day is 500 below its lifetime.
	check := func(step string, settled, held int64) {
		t.Helper()
		for _, q := range both {
			want := settled
			if q.Key == day.Key {
				want -= 500
			}
			if st := status(t, other, q); st.Used != want+held || st.Held != held {
				t.Errorf("%s: %s used %d (held %d), want %d (held %d)", step, q.Key, st.Used, st.Held, want+held, held)
			}
		}
	}
	check("rebuilt", 1000, 300+50)

	steps := []struct {
		name          string
		op            func() error
		want          error
		settled, held int64
	}{
		{"a reservation the ledger did not know is charged", func() error { _, err := s.Settle(ctx, unknown.ID, usd(70), nil); return err },
			nil, 1070, 350},
		{"... once", func() error { _, err := s.Settle(ctx, unknown.ID, usd(70), nil); return err },
			quota.ErrUnknownReservation, 1070, 350},
		{"a reservation the ledger counts is not counted again", func() error {
			_, err := s.Settle(ctx, counted.ID, usd(70), nil)
			return err
		}, quota.ErrUnknownReservation, 1070, 350},
		{"renewing a lost reservation is not an error", func() error { return s.Renew(ctx, again.ID) }, nil, 1070, 350},
		{"its replica sees the new epoch and holds it again", func() error { _, err := s.Status(ctx, both, nil); return err },
			nil, 1070, 450},
		{"the journaled hold settles and refunds", func() error { _, err := other.Settle(ctx, held, usd(120), nil); return err },
			nil, 1190, 150},
		{"a release of the reservation held again returns it", func() error { return s.Release(ctx, again.ID) }, nil, 1190, 50},
		{"the new reservation settles", func() error { _, err := other.Settle(ctx, fresh.ID, usd(50), nil); return err },
			nil, 1240, 0},
	}
	for _, st := range steps {
		if err := st.op(); !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", st.name, err, st.want)
		}
		check(st.name, st.settled, st.held)
	}
	if st := s.Stats(); st.Epoch != other.Stats().Epoch || st.Rebuilds != 1 {
		t.Errorf("the first store's Stats = %+v, want the new epoch and only its first start's rebuild", st)
	}
	if ev, ok := evs.last(EventRebuilt); !ok || ev.Budgets != 0 {
		t.Errorf("the first store's EventRebuilt = %+v, %v; want only its first start's", ev, ok)
	}
}

// TestEveryScriptDetectsTheLoss: whichever operation comes first after a flush, it
// rebuilds before it acts.
func TestEveryScriptDetectsTheLoss(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	q := budget("usd", 1000)
	for _, tt := range []struct {
		name string
		op   func(s *Store, r quota.Reservation) error
	}{
		{"reserve", func(s *Store, _ quota.Reservation) error {
			_, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: usd(1)}, nil)
			return err
		}},
		{"settle", func(s *Store, r quota.Reservation) error { _, err := s.Settle(ctx, r.ID, usd(1), nil); return err }},
		{"release", func(s *Store, r quota.Reservation) error { return s.Release(ctx, r.ID) }},
		{"renew", func(s *Store, r quota.Reservation) error { return s.Renew(ctx, r.ID) }},
		{"status", func(s *Store, _ quota.Reservation) error { _, err := s.Status(ctx, []quota.Quota{q}, nil); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &baselineVar{}
			s, _, c := newStore(t, srv, Config{Source: src})
			r, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: usd(5)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.HDel(ctx, s.names.state(), "_e").Err(); err != nil { // as an eviction would
				t.Fatal(err)
			}
			src.set(Baseline{Budgets: []BudgetUse{{Quota: q, Used: 400}}}, nil)
			if err := tt.op(s, r); err != nil {
				t.Fatalf("%s after the loss: %v", tt.name, err)
			}
			if n := src.reads.Load(); n != 2 {
				t.Errorf("the Source was read %d times, want 2 (the first start, the rebuild)", n)
			}
			if st := status(t, s, q); st.Used < 400 {
				t.Errorf("used %d after the rebuild, want at least the ledger's 400", st.Used)
			}
		})
	}
}

// TestOneRebuildForTheFleet: three Stores of one slot group find the state lost at once.
// One rebuilds; while it reads its Source, the others' budget reservations fail closed
// with ErrRebuilding (a 503, not a refusal that looks final); once it is done, all of them
// reserve again. The Source is read once.
func TestOneRebuildForTheFleet(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	src := &baselineVar{}
	group := "fleet" + strconv.FormatInt(groups.Add(1), 10)
	var stores []*Store
	var client *redis.Client
	for range 3 {
		s, _, c := newStore(t, srv, Config{SlotGroup: group, Source: src})
		stores, client = append(stores, s), c
	}
	q := budget("usd", 1000)
	req := &quota.Request{Quotas: []quota.Quota{q}, Amount: usd(10)}
	if err := client.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.gate, src.entered = make(chan struct{}), make(chan struct{}, 1)
	src.base = Baseline{Budgets: []BudgetUse{{Quota: q, Used: 600}}}
	src.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		_, _, err := stores[0].Reserve(ctx, req, nil)
		done <- err
	}()
	<-src.entered // stores[0] holds the fleet's lock and reads the ledger
	for i, s := range stores[1:] {
		_, _, err := s.Reserve(ctx, req, nil)
		var re *RebuildingError
		if !errors.As(err, &re) || !errors.Is(err, ErrRebuilding) || !errors.Is(err, quota.ErrUnavailable) {
			t.Errorf("store %d during the rebuild: %v, want a *RebuildingError (quota.ErrUnavailable)", i+2, err)
		}
	}
	close(src.gate)
	if err := <-done; err != nil {
		t.Fatalf("the rebuilding store's reserve: %v", err)
	}
	for i, s := range stores[1:] {
		if _, _, err := s.Reserve(ctx, req, nil); err != nil {
			t.Errorf("store %d after the rebuild: %v", i+2, err)
		}
	}
	if n := src.reads.Load(); n != 2 {
		t.Errorf("Source read %d times, want 2 (first start, one rebuild for the fleet)", n)
	}
	if st := status(t, stores[0], q); st.Used != 630 {
		t.Errorf("used %d, want 600 from the ledger + 3 reservations of 10", st.Used)
	}
}

// TestRebuildFailureFailsClosed: a Source that fails leaves the state unbuilt: budget
// reservations fail closed, naming the cause, and the lock is given back so that the next
// attempt (here another replica's) rebuilds.
func TestRebuildFailureFailsClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	src := &baselineVar{}
	group := "fail" + strconv.FormatInt(groups.Add(1), 10)
	var evs events
	a, _, c := newStore(t, srv, Config{SlotGroup: group, Source: src, OnEvent: evs.add})
	b, _, _ := newStore(t, srv, Config{SlotGroup: group, Source: src})
	q := budget("usd", 1000)
	req := &quota.Request{Quotas: []quota.Quota{q}, Amount: usd(10)}
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("ledger: connection refused")
	src.set(Baseline{}, cause)
	_, _, err := a.Reserve(ctx, req, nil)
	if !errors.Is(err, ErrRebuilding) || !errors.Is(err, cause) {
		t.Fatalf("Reserve with the Source failing = %v, want ErrRebuilding wrapping the cause", err)
	}
	if _, ok := evs.last(EventRebuildFailed); !ok || a.Stats().RebuildFailures != 1 {
		t.Errorf("no EventRebuildFailed, or Stats %+v", a.Stats())
	}
	src.set(Baseline{Budgets: []BudgetUse{{Quota: q, Used: 100}}}, nil)
	if _, _, err := b.Reserve(ctx, req, nil); err != nil {
		t.Fatalf("another replica's Reserve once the Source answers: %v", err)
	}
	if st := status(t, b, q); st.Used != 110 {
		t.Errorf("used %d, want 110", st.Used)
	}
}

// pause stops the redis-server process (SIGSTOP): connections stay open and nothing
// answers, as when Redis hangs or the network drops packets. The returned function
// resumes it.
func pause(t *testing.T, c *redis.Client) func() {
	t.Helper()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for l := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("no process_id in INFO server")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	return resume
}

// TestOutboxReturnsLeasesOnRejoin: settles and releases that fail while Redis hangs are
// kept, and applied as soon as it answers: the leases of the calls that ended during the
// outage are free again at the first reserve after it, and each settle counts once even
// though the timed-out calls did run once Redis resumed.
func TestOutboxReturnsLeasesOnRejoin(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	var evs events
	// No probe falls due by itself: the test says when (probeNow), once Redis answers.
	s, _, c := newStore(t, srv, Config{Timeout: time.Second, ProbeInterval: time.Hour, OnEvent: evs.add})
	conc, q := leaseQ("conc", 3), budget("usd", 1000)
	req := &quota.Request{Quotas: []quota.Quota{conc, q}, Amount: usd(100)}
	var ids []quota.ID
	for range 3 {
		r, _, err := s.Reserve(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	resume := pause(t, c)
	for i, id := range ids {
		var err error
		if i == 2 {
			err = s.Release(ctx, id)
		} else {
			_, err = s.Settle(ctx, id, usd(60), nil)
		}
		if err != nil {
			t.Fatalf("ending call %d while Redis hangs: %v, want nil (kept)", i, err)
		}
	}
	if st := s.Stats(); !st.Degraded || st.Outbox != 3 {
		t.Fatalf("Stats while Redis hangs = %+v, want degraded with 3 in the outbox", st)
	}
	resume()
	probeNow(s)
	for i := range 3 {
		r, _, err := s.Reserve(ctx, req, nil)
		if err != nil {
			t.Fatalf("reserve %d after Redis answers: %v, want the three leases back", i, err)
		}
		if _, err := s.Settle(ctx, r.ID, usd(10), nil); err != nil {
			t.Fatal(err)
		}
	}
	if st := status(t, s, q); st.Used != 60+60+30 || st.Held != 0 {
		t.Errorf("budget used %d held %d, want 150 (two settles of 60 once each, three of 10), 0", st.Used, st.Held)
	}
	if st := s.Stats(); st.Degraded || st.Outbox != 0 || st.Replayed != 3 {
		t.Errorf("Stats after the rejoin = %+v, want up, outbox empty, 3 replayed", st)
	}
	if ev, ok := evs.last(EventRejoined); !ok || ev.Replayed != 3 {
		t.Errorf("EventRejoined = %+v, want 3 replayed", ev)
	}
}

// TestOutboxFull: what does not fit in the outbox is dropped, said, and counted; its
// reservation expires in Redis at its worst case.
func TestOutboxFull(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	var evs events
	s, _, _ := newStore(t, srv, Config{Outbox: 1, OnEvent: evs.add})
	req := &quota.Request{Quotas: []quota.Quota{budget("usd", 1000)}, Amount: usd(100)}
	var ids []quota.ID
	for range 2 {
		r, _, err := s.Reserve(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	srv.Stop()
	if _, err := s.Settle(ctx, ids[0], usd(10), nil); err != nil {
		t.Errorf("first settle with Redis down: %v, want nil (kept)", err)
	}
	_, err := s.Settle(ctx, ids[1], usd(10), nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "outbox full") {
		t.Errorf("second settle with the outbox full: %v, want ErrUnavailable saying the outbox is full", err)
	}
	if st := s.Stats(); st.Dropped != 1 || st.Outbox != 1 {
		t.Errorf("Stats = %+v, want 1 dropped, 1 in the outbox", st)
	}
	if _, ok := evs.last(EventOutboxFull); !ok {
		t.Error("no EventOutboxFull")
	}
}

// TestFailOpenLocalShareOfWhatRemained: under fail_open_local a replica's local share of a
// budget is its part of what remained at its last contact with Redis, not of the whole
// limit; what it spends locally reaches Redis when it answers again (the settled as
// charges, the open as reservations), so that the fleet's totals are right.
func TestFailOpenLocalShareOfWhatRemained(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	s, _, c := newStore(t, srv, Config{Policy: FailOpenLocal, Replicas: 4, Timeout: time.Second,
		ProbeInterval: time.Hour})
	q, never := budget("usd", 1000), budget("never-seen", 400)
	r, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: usd(300)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(ctx, r.ID, usd(200), nil); err != nil {
		t.Fatal(err)
	}
	resume := pause(t, c)
	// A read notices the outage (a reserve that timed out would be voided at the rejoin:
	// TestReserveWithoutReplyIsVoided).
	if _, err := s.Status(ctx, []quota.Quota{q}, nil); err != nil || !s.Degraded() {
		t.Fatalf("Status with Redis paused = %v (degraded %v), want the local status", err, s.Degraded())
	}

	// 800 remained: each of 4 replicas may spend 200 locally.
	var local []quota.ID
	for i := range 5 {
		r, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: usd(50)}, nil)
		if i < 4 && err != nil {
			t.Fatalf("local reserve %d: %v", i, err)
		}
		if i == 4 {
			// Held by the four open reservations: refused until one settles.
			var e *quota.ExceededError
			if !errors.As(err, &e) || e.Quota.Limit != 1000 || e.Used != 1000 {
				t.Errorf("fifth local reserve of 50: %v, want refused with 1000 of 1000 used (the share of 800/4 is taken)", err)
			}
			break
		}
		local = append(local, r.ID)
	}
	// A budget this replica never heard about: limit / replicas.
	for i, want := range []error{nil, quota.ErrExceeded} {
		if _, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{never}, Amount: usd(100)}, nil); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("reserve %d of 100 on an unseen budget of 400: %v, want %v (share 100)", i, err, want)
		}
	}
	for _, id := range local[:3] {
		if _, err := s.Settle(ctx, id, usd(40), nil); err != nil {
			t.Fatalf("local settle: %v", err)
		}
	}
	if st := s.Stats(); st.Outbox != 3 || st.OpenLocal != 2 {
		t.Errorf("Stats while down = %+v, want 3 local charges in the outbox, 2 local reservations open", st)
	}
	resume()
	// The first drain replays this replica's local spend; then it admits nothing for the
	// quiet period, while the other replicas replay theirs.
	if s.rejoin(ctx, true) {
		t.Fatal("rejoined at once under fail_open_local, want a quiet period first")
	}
	if _, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: usd(1)}, nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Reserve in the quiet period: %v, want ErrUnavailable", err)
	}
	endQuiet(t, s)
	st, err := s.Status(ctx, []quota.Quota{q}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 200 before, 3×40 settled locally, one of 50 still open (installed as held).
	if st[0].Used != 200+120+50 || st[0].Held != 50 || st[0].Quota.Limit != 1000 {
		t.Errorf("Redis after the rejoin: used %d (held %d) of %d, want 370 (held 50) of 1000", st[0].Used, st[0].Held, st[0].Quota.Limit)
	}
	if _, err := s.Settle(ctx, local[3], usd(45), nil); err != nil {
		t.Errorf("settling an installed local reservation after the rejoin: %v", err)
	}
	if st := status(t, s, q); st.Used != 365 || st.Held != 0 {
		t.Errorf("after its settle: used %d held %d, want 365, 0", st.Used, st.Held)
	}
	if st := status(t, s, never); st.Used != 100 {
		t.Errorf("the unseen budget in Redis: used %d, want 100 (the local reservation, installed)", st.Used)
	}
}

// TestLocalChargeOnce replays a local reservation's charge twice, as a retry after a lost
// reply would: it counts once.
func TestLocalChargeOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, _, _ := newStore(t, srv, Config{})
	q := dayQ("daily", 1000)
	lr := &localRes{budgets: []quota.Quota{q}, amount: usd(100), at: time.Now(), expires: time.Now().Add(time.Minute)}
	o := s.charge(quota.NewIDGen().Next(), lr, usd(70))
	for i := range 2 {
		res, err := s.runOp(ctx, o)
		if err != nil || len(res) == 0 || toInt(res[0]) != 1 {
			t.Fatalf("run %d of the charge = %v, %v; want 1", i+1, res, err)
		}
	}
	if st := status(t, s, q); st.Used != 70 {
		t.Errorf("used %d, want 70 (charged once)", st.Used)
	}
}

// probeNow makes a degraded Store's next operation probe Redis.
func probeNow(s *Store) { s.nextProbe.Store(0) }

// endQuiet ends a FailOpenLocal rejoin's quiet period now and completes the rejoin.
func endQuiet(t *testing.T, s *Store) {
	t.Helper()
	s.quietUntil.Store(1)
	if !s.rejoin(ctx, true) || s.Degraded() {
		t.Fatal("the rejoin after the quiet period failed")
	}
}
