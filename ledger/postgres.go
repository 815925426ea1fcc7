package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgBackend is the ledger in a PostgreSQL database shared by a fleet. Each writing Ledger
// is an instance with a heartbeat (instances.expires_at, on PostgreSQL's clock unless
// Config.Now is set); the holds of an instance whose heartbeat lapsed are charged by
// whichever living instance recovers first.
//
// A group commit is one round trip: its statements go as one pgx batch, which PostgreSQL
// runs as one implicit transaction.
type pgBackend struct {
	pool     *pgxpool.Pool
	db       *sql.DB // the same pool through database/sql, for the shared queries
	instance string
	ttl      time.Duration
	timeout  time.Duration
	now      func() time.Time
	log      *slog.Logger
	// registered is set once the instance row was first written: a heartbeat that has
	// to insert it again after that was taken for dead.
	registered bool
}

var pgDialect = &dialect{backend: Postgres,
	// Every statement of a query (ByDay runs one per zone period) sees one snapshot.
	readTx: &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}}

func openPostgres(ctx context.Context, cfg Config) (_ *pgBackend, err error) {
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx redacts the password of the URL it quotes.
		return nil, fmt.Errorf("ledger: postgres URL: %w", err)
	}
	pcfg.MaxConns = int32(cfg.MaxConns)
	if pcfg.ConnConfig.RuntimeParams == nil {
		pcfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if _, ok := pcfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "tollgate"
	}
	b := &pgBackend{instance: cfg.Instance, ttl: cfg.HeartbeatTTL, timeout: cfg.Timeout, now: cfg.Now, log: cfg.Logger}
	if b.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("ledger: postgres: %w", err)
	}
	b.db = stdlib.OpenDBFromPool(b.pool)
	defer func() {
		if err != nil {
			_ = b.close()
		}
	}()
	if err := b.pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("ledger: postgres: %w", err)
	}
	if cfg.ReadOnly {
		return b, ensureSchema(ctx, b.db, pgDialect)
	}
	if err := migrate(ctx, b.db, pgDialect); err != nil {
		return nil, err
	}
	if err := b.heartbeat(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *pgBackend) queryDB() *sql.DB { return b.db }

// nowArg is the clock argument of the instance statements: nil (NULL) lets PostgreSQL use
// its own clock.
func (b *pgBackend) nowArg() any {
	if b.now == nil {
		return nil
	}
	return b.now()
}

// upsertInstanceSQL registers the instance or pushes its expiry forward, and says whether
// it had to insert the row ((xmax = 0) holds for a row this statement inserted).
const upsertInstanceSQL = `INSERT INTO instances (id, started_at, expires_at)
	VALUES ($1, coalesce($2::timestamptz, clock_timestamp()),
		coalesce($2::timestamptz, clock_timestamp()) + $3::bigint * interval '1 microsecond')
	ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at
	RETURNING (xmax = 0)`

func (b *pgBackend) queueUpsert(bt *pgx.Batch) *pgx.QueuedQuery {
	return bt.Queue(upsertInstanceSQL, b.instance, b.nowArg(), b.ttl.Microseconds())
}

// heartbeat renews the instance. Finding its row gone means another replica took it for
// dead and charged its holds: it is registered again, and the charge stands (the ledger
// then counts those calls twice, at their worst case and as settled: more, never less).
func (b *pgBackend) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var inserted bool
	if err := b.pool.QueryRow(ctx, upsertInstanceSQL, b.instance, b.nowArg(), b.ttl.Microseconds()).Scan(&inserted); err != nil {
		return fmt.Errorf("ledger: heartbeat: %w", err)
	}
	if inserted && b.registered {
		b.log.Warn("ledger: this instance's heartbeat had lapsed and another replica charged its open holds at their worst case; registered again",
			"instance", b.instance)
	}
	b.registered = true
	return nil
}

const (
	insertHoldsSQL = `INSERT INTO holds (id, request_id, owner, tenant, key_id, agent, session, route,
		provider, model, attempt, input_tokens, output_tokens, micro_usd, opened_ns)
	SELECT id, request_id, $3, tenant, key_id, agent, session, route, provider, model, attempt,
		input_tokens, output_tokens, micro_usd, opened_ns
	FROM unnest($1::text[], $2::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::int[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[])
		AS t(id, request_id, tenant, key_id, agent, session, route, provider, model, attempt,
			input_tokens, output_tokens, micro_usd, opened_ns)
	ON CONFLICT (id) DO NOTHING`

	insertUsageSQL = `INSERT INTO usage (` + usageColumns + `)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
		$14::text[], $15::text[], $16::bigint[], $17::int[], $18::text[], $19::text[], $20::bigint[],
		$21::bigint[], $22::bigint[])`

	deleteHoldsSQL = `DELETE FROM holds WHERE id = ANY($1::text[])`
)

// columns is a batch of rows as one array per column, for unnest.
type columns struct {
	ts, in, cached, out, usd, latency []int64
	write, write1h, reasoning         []int64
	attempt                           []int32
	s                                 [12][]string
}

// usageArgs returns the 22 arrays of insertUsageSQL.
func usageArgs(rs []Record) []any {
	var c columns
	for i := range rs {
		r := &rs[i]
		c.ts = append(c.ts, r.Time.UnixNano())
		for j, v := range [...]string{r.RequestID, r.Tenant, r.Key, r.Agent, r.Session, r.Route, r.Provider,
			r.Model, r.Outcome, r.FallbackReason, r.UpstreamRequestID, r.HoldID} {
			c.s[j] = append(c.s[j], v)
		}
		c.in = append(c.in, r.InputTokens)
		c.cached = append(c.cached, r.CachedInputTokens)
		c.out = append(c.out, r.OutputTokens)
		c.usd = append(c.usd, r.MicroUSD)
		c.latency = append(c.latency, int64(r.Latency))
		c.attempt = append(c.attempt, int32(r.Attempt))
		c.write = append(c.write, r.CacheWriteTokens)
		c.write1h = append(c.write1h, r.CacheWrite1hTokens)
		c.reasoning = append(c.reasoning, r.ReasoningTokens)
	}
	return []any{c.ts, c.s[0], c.s[1], c.s[2], c.s[3], c.s[4], c.s[5], c.s[6], c.s[7], c.in, c.cached,
		c.out, c.usd, c.s[8], c.s[9], c.latency, c.attempt, c.s[10], c.s[11], c.write, c.write1h, c.reasoning}
}

// holdArgs returns the arguments of insertHoldsSQL.
func (b *pgBackend) holdArgs(hs []Record) []any {
	var c columns
	for i := range hs {
		h := &hs[i]
		for j, v := range [...]string{h.HoldID, h.RequestID, h.Tenant, h.Key, h.Agent, h.Session, h.Route,
			h.Provider, h.Model} {
			c.s[j] = append(c.s[j], v)
		}
		c.attempt = append(c.attempt, int32(h.Attempt))
		c.in = append(c.in, h.InputTokens)
		c.out = append(c.out, h.OutputTokens)
		c.usd = append(c.usd, h.MicroUSD)
		c.ts = append(c.ts, h.Time.UnixNano())
	}
	return []any{c.s[0], c.s[1], b.instance, c.s[2], c.s[3], c.s[4], c.s[5], c.s[6], c.s[7], c.s[8],
		c.attempt, c.in, c.out, c.usd, c.ts}
}

func (b *pgBackend) write(ctx context.Context, bt *batch) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var q pgx.Batch
	if len(bt.holds) > 0 {
		// First, so that an instance taken for dead is alive again before its new holds
		// exist: a recovery that deleted its row holds that row's lock until it commits,
		// and this statement waits for it; the recovery never sees these holds.
		b.queueUpsert(&q)
		q.Queue(insertHoldsSQL, b.holdArgs(bt.holds)...)
	}
	if len(bt.records) > 0 {
		q.Queue(insertUsageSQL, usageArgs(bt.records)...)
	}
	// Every settle and release closes one hold; each hold can be deleted once, so the
	// closes that found nothing are the difference, duplicates included, as on SQLite.
	ids := make([]string, 0, len(bt.closes))
	for i := range bt.records {
		if id := bt.records[i].HoldID; id != "" {
			ids = append(ids, id)
		}
	}
	ids = append(ids, bt.closes...)
	if len(ids) > 0 {
		q.Queue(deleteHoldsSQL, ids)
	}
	res := b.pool.SendBatch(ctx, &q)
	unmatched := 0
	for i, qq := range q.QueuedQueries {
		tag, err := res.Exec()
		if err != nil {
			_ = res.Close()
			return 0, fmt.Errorf("ledger: commit: %w", err)
		}
		if i == len(q.QueuedQueries)-1 && len(ids) > 0 && qq.SQL == deleteHoldsSQL {
			unmatched = len(ids) - int(tag.RowsAffected())
		}
	}
	if err := res.Close(); err != nil {
		return 0, fmt.Errorf("ledger: commit: %w", err)
	}
	return unmatched, nil
}

// recoverSQL reaps the instances whose heartbeat lapsed (never this one) and charges, at
// their worst case, the holds of every instance that is gone: reaped now, or before. One
// statement: the holds are deleted by exactly one transaction, the one that charges them.
const recoverSQL = `WITH dead AS (
		DELETE FROM instances WHERE expires_at < coalesce($1::timestamptz, clock_timestamp()) AND id <> $2
		RETURNING id
	), orphans AS (
		DELETE FROM holds h
		WHERE h.owner <> $2 AND (h.owner IN (SELECT id FROM dead)
			OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = h.owner))
		RETURNING h.*
	)
	INSERT INTO usage (` + usageColumns + `) ` + orphanSelect + ` FROM orphans ORDER BY opened_ns, id`

func (b *pgBackend) recoverHolds(ctx context.Context, atOpen bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var q pgx.Batch
	var own int64
	if atOpen {
		q.Queue(retireSQL, b.instance).Exec(func(tag pgconn.CommandTag) error { own = tag.RowsAffected(); return nil })
	}
	// Recoveries queue up behind one another rather than interleave; the statement alone
	// would already charge each hold once.
	q.Queue("SELECT pg_advisory_xact_lock($1)", advisoryRecover)
	rec := q.Queue(recoverSQL, b.nowArg(), b.instance)
	var n int64
	rec.Exec(func(tag pgconn.CommandTag) error { n = tag.RowsAffected(); return nil })
	if err := b.pool.SendBatch(ctx, &q).Close(); err != nil {
		return 0, fmt.Errorf("ledger: recover holds: %w", err)
	}
	return int(own + n), nil
}

// retireSQL charges this instance's open holds, as recoverSQL does a dead one's.
const retireSQL = `WITH orphans AS (DELETE FROM holds WHERE owner = $1 RETURNING *)
	INSERT INTO usage (` + usageColumns + `) ` + orphanSelect + ` FROM orphans ORDER BY opened_ns, id`

func (b *pgBackend) retire(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var q pgx.Batch
	var n int64
	q.Queue(retireSQL, b.instance).Exec(func(tag pgconn.CommandTag) error { n = tag.RowsAffected(); return nil })
	q.Queue("DELETE FROM instances WHERE id = $1", b.instance)
	if err := b.pool.SendBatch(ctx, &q).Close(); err != nil {
		return 0, fmt.Errorf("ledger: retire instance: %w", err)
	}
	return int(n), nil
}

func (b *pgBackend) close() error {
	var err error
	if b.db != nil {
		err = b.db.Close()
	}
	b.pool.Close()
	return err
}
