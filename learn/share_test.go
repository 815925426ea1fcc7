package learn_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/quota"
)

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	srv := redistest.Start(t)
	c := redis.NewClient(srv.Options())
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redisClient(t)
	if _, err := learn.NewRedis(nil, learn.RedisConfig{}); err == nil {
		t.Error("NewRedis(nil) succeeded")
	}
	if _, err := learn.NewRedis(c, learn.RedisConfig{TTL: -time.Second}); err == nil {
		t.Error("NewRedis with a negative TTL succeeded")
	}
	sh, err := learn.NewRedis(c, learn.RedisConfig{Prefix: "t-shared:", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if v, data, err := sh.Load(ctx, "k"); err != nil || v != 0 || data != nil {
		t.Fatalf("Load(missing) = %d, %q, %v; want 0, nil, nil", v, data, err)
	}
	steps := []struct {
		version  int64
		data     string
		wantOK   bool
		wantV    int64
		wantData string
	}{
		{0, "a", true, 1, ""},
		{0, "b", false, 1, "a"}, // written meanwhile: the current state comes back
		{1, "b", true, 2, ""},
		{5, "c", false, 2, "b"},
	}
	for i, st := range steps {
		ok, v, data, err := sh.Swap(ctx, "k", st.version, []byte(st.data))
		if err != nil || ok != st.wantOK || v != st.wantV || string(data) != st.wantData {
			t.Errorf("step %d: Swap(%d, %q) = %v, %d, %q, %v; want %v, %d, %q", i, st.version, st.data, ok, v, data, err,
				st.wantOK, st.wantV, st.wantData)
		}
	}
	if v, data, err := sh.Load(ctx, "k"); err != nil || v != 2 || string(data) != "b" {
		t.Errorf("Load = %d, %q, %v; want 2, b", v, data, err)
	}
	if ttl := c.PTTL(ctx, "t-shared:k").Val(); ttl <= 59*time.Minute {
		t.Errorf("TTL = %v, want about an hour", ttl)
	}
}

// TestSync: two replicas that share through Redis. One overload is one cut whichever
// replicas met its refusals; what one learns, the other uses; a lost state comes back.
func TestSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redisClient(t)
	sh, err := learn.NewRedis(c, learn.RedisConfig{Prefix: "t-sync:"})
	if err != nil {
		t.Fatal(err)
	}
	var sets [2]*learn.Set
	var ls [2]*learn.Learner
	for i := range sets {
		if sets[i], err = learn.New(learn.Config{Shared: sh, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		ls[i] = sets[i].Learner(openaiUp, "gpt-4o-mini")
	}
	sync := func(i int) {
		t.Helper()
		if err := sets[i].Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	limit := func(i int) int64 {
		n, _ := ls[i].Quotas(nil)[0].Live.Limit()
		return n
	}
	one := quota.Amount{Requests: 1}
	refusal := func(sent time.Duration) learn.Outcome {
		return learn.Outcome{Sent: t0.Add(sent), Reserved: one, Refused: true, Message: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier."}
	}

	// Replica 0 learns 100 from a first refusal: 100 calls accepted, none refilled. (A
	// limit the headers state is not cut by refusals.)
	for range 100 {
		ls[0].Observe(t0, learn.Outcome{Sent: t0, Reserved: one})
	}
	ls[0].Observe(t0, refusal(0))
	sync(0)
	sync(1)
	if limit(1) != 100 {
		t.Fatalf("replica 1 limit %d after sync, want 100, learned by replica 0", limit(1))
	}
	// Both replicas meet refusals of one overload before either hears of the other's.
	ls[0].Observe(t0.Add(10*time.Second), refusal(10*time.Second))
	ls[1].Observe(t0.Add(10200*time.Millisecond), refusal(9500*time.Millisecond))
	if limit(0) != 90 || limit(1) != 90 {
		t.Fatalf("limits %d, %d after one refusal each, want 90, 90", limit(0), limit(1))
	}
	sync(0)
	sync(1) // conflicts with replica 0's write, and applies its refusal again on top
	sync(0)
	if limit(0) != 90 || limit(1) != 90 {
		t.Errorf("limits %d, %d after sync: want 90 and 90, one cut for one overload", limit(0), limit(1))
	}
	// A refusal of a call sent after the cut is another overload, seen by both.
	ls[1].Observe(t0.Add(20*time.Second), refusal(19*time.Second))
	sync(1)
	sync(0)
	if limit(0) != 81 || limit(1) != 81 {
		t.Errorf("limits %d, %d after a second overload, want 81, 81", limit(0), limit(1))
	}
	// Redis loses the state: the next sync writes it back.
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	sync(0)
	if n := c.Exists(ctx, "t-sync:openai:"+openaiUp.Account+":gpt-4o-mini").Val(); n != 1 {
		t.Errorf("after a flush and a sync the shared state is gone")
	}
	sync(1)
	if limit(0) != 81 || limit(1) != 81 {
		t.Errorf("limits %d, %d after the state was lost and written back, want 81, 81", limit(0), limit(1))
	}
}
