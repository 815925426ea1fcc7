package redisstore

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// lossy is a go-redis hook that loses the reply of the next reserve script call, as a read
// timeout or a caller giving up does while the command is on its way: with ran the script
// runs in Redis and only its reply is lost (Redis answered late); without, the call is
// kept back, as by a Redis that is stopped, and sent later by the test (Redis resuming and
// reading its socket). So the race between a reserve that timed out and what the Store
// does about it is played in both orders, on a real Redis, without timing luck.
type lossy struct {
	mu     sync.Mutex
	armed  bool
	ran    bool
	cancel context.CancelFunc // when set, the caller gives up instead of the socket timing out
	held   []any              // the kept-back call's command and arguments
}

func (l *lossy) arm(ran bool, cancel context.CancelFunc) {
	l.mu.Lock()
	l.armed, l.ran, l.cancel = true, ran, cancel
	l.mu.Unlock()
}

func (l *lossy) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *lossy) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (l *lossy) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		l.mu.Lock()
		take := l.armed && cmd.Name() == "evalsha" && len(args) > 1 && args[1] == reserveScript.Hash()
		if take {
			l.armed = false
		}
		ran, cancel := l.ran, l.cancel
		l.mu.Unlock()
		if !take {
			return next(ctx, cmd)
		}
		if ran {
			if err := next(ctx, cmd); err != nil {
				return err
			}
		} else {
			l.mu.Lock()
			l.held = append([]any(nil), args...)
			l.mu.Unlock()
		}
		var err error = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
		if cancel != nil {
			cancel()
			err = ctx.Err()
		}
		cmd.SetErr(err)
		return err
	}
}

// send sends the kept-back reserve call now and returns its reply code (reserve.lua: 1
// reserved, 2 found its id already taken, nothing changed).
func (l *lossy) send(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	l.mu.Lock()
	args := l.held
	l.mu.Unlock()
	if args == nil {
		t.Fatal("no reserve call was kept back")
	}
	v, err := c.Do(ctx, args...).Slice()
	if err != nil || len(v) == 0 {
		t.Fatalf("the late reserve: %v, %v", v, err)
	}
	return toInt(v[0])
}

// TestReserveWithoutReplyIsVoided: a reserve whose reply never came (Redis stopped, the
// call timed out, the caller gave up) may still run in Redis, before or after the Store
// has moved on (served the request locally, refused it, or returned the caller's error).
// Nobody will settle that reservation, so it used to hold its worst case, and its lease,
// until its TTL: after a Redis pause the fleet's last requests on a nearly spent budget
// were refused as transient (the budget "held") and queued for the full queue timeout,
// where the budget's settled use alone refuses them at once. The Store voids such a
// reservation when Redis answers: released if the reserve ran, its id taken if not yet,
// so that a late reserve finds it and changes nothing.
func TestReserveWithoutReplyIsVoided(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const limit = 1000
	cases := []struct {
		name   string
		policy Policy
		ran    bool // the reserve ran in Redis before the Store learnt it did not answer
		cancel bool // the caller gave up, rather than Redis not answering
	}{
		{"fail_open_local/reserve ran, reply lost", FailOpenLocal, true, false},
		{"fail_open_local/reserve arrives after the rejoin", FailOpenLocal, false, false},
		{"fail_closed/reserve ran, reply lost", FailClosed, true, false},
		{"fail_closed/reserve arrives after the rejoin", FailClosed, false, false},
		{"caller gave up/reserve ran, reply lost", FailClosed, true, true},
		{"caller gave up/reserve arrives after the void", FailClosed, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _, c := newStore(t, srv, Config{Policy: tc.policy, Replicas: 1, ProbeInterval: time.Hour})
			l := &lossy{}
			c.AddHook(l)
			q, day, conc := budget("usd", limit), dayQ("daily", limit), leaseQ("conc", 1)
			req := func(n int64) *quota.Request {
				return &quota.Request{Quotas: []quota.Quota{q, day, conc}, Amount: usd(n)}
			}

			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var giveUp context.CancelFunc
			if tc.cancel {
				giveUp = cancel
			}
			l.arm(tc.ran, giveUp)
			r, _, err := s.Reserve(rctx, req(400), nil)
			wantUsed := int64(0)
			switch {
			case tc.cancel:
				if !errors.Is(err, context.Canceled) || s.Degraded() {
					t.Fatalf("Reserve whose caller gave up = %v (degraded %v), want context.Canceled, not degraded", err, s.Degraded())
				}
			case tc.policy == FailOpenLocal:
				if err != nil || !s.Degraded() {
					t.Fatalf("Reserve without a reply under fail_open_local = %v (degraded %v), want served locally", err, s.Degraded())
				}
				if _, err := s.Settle(ctx, r.ID, usd(100), nil); err != nil {
					t.Fatalf("local settle: %v", err)
				}
				wantUsed = 100
			default:
				if !errors.Is(err, ErrUnavailable) || !s.Degraded() {
					t.Fatalf("Reserve without a reply under fail_closed = %v (degraded %v), want ErrUnavailable", err, s.Degraded())
				}
			}

			// Redis answers: the Store replays what it kept (and under fail_open_local
			// waits out its quiet period).
			probeNow(s)
			if !s.rejoin(ctx, true) {
				endQuiet(t, s)
			}
			if !tc.ran {
				if code := l.send(t, c); code != 2 {
					t.Errorf("the late reserve's reply code = %d, want 2 (its id taken: nothing reserved)", code)
				}
			}
			for _, b := range []quota.Quota{q, day} {
				if st := status(t, s, b); st.Used != wantUsed || st.Held != 0 {
					t.Errorf("budget %s after the rejoin: used %d (held %d), want %d (held 0): no reservation left behind",
						b.Name, st.Used, st.Held, wantUsed)
				}
			}
			if st := status(t, s, conc); st.Used != 0 {
				t.Errorf("leases after the rejoin: %d, want 0", st.Used)
			}
			if st := s.Stats(); st.Outbox != 0 {
				t.Errorf("Stats after the rejoin = %+v, want the outbox empty", st)
			}

			// What the budget's settled use allows is granted, and what it does not is
			// refused at once as final (ErrBudget), not as transient: nothing is held.
			rest, _, err := s.Reserve(ctx, req(limit-wantUsed), nil)
			if err != nil {
				t.Fatalf("Reserve(%d) with %d of %d used and nothing held: %v, want granted", limit-wantUsed, wantUsed, limit, err)
			}
			if _, err := s.Settle(ctx, rest.ID, usd(limit-wantUsed), nil); err != nil {
				t.Fatal(err)
			}
			var e *quota.ExceededError
			if _, _, err := s.Reserve(ctx, req(1), nil); !errors.As(err, &e) || !errors.Is(err, quota.ErrBudget) || !e.Permanent() {
				t.Errorf("Reserve(1) on a spent budget = %v, want a final ErrBudget", err)
			}
		})
	}
}
