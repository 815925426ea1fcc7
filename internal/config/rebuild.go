package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

// fleetLedger is what rebuilding the Redis quota state needs of a ledger; *ledger.Ledger is
// one.
type fleetLedger interface {
	budgetSource
	Flush(ctx context.Context) error
	Recover(ctx context.Context) (int, error)
	OpenHolds(ctx context.Context) ([]ledger.Hold, error)
	SettledHolds(ctx context.Context, since time.Time) ([]string, error)
}

// ledgerSource is the redisstore.Source of a gateway: the fleet's ledger read through the
// configured quota rules. With a postgres ledger it sees the whole fleet; with sqlite, only
// this replica's records (Build says so in its log).
type ledgerSource struct {
	l     fleetLedger
	rules quota.Rules
	log   *slog.Logger
	// settle is how long to let the other replicas commit what they have queued before
	// reading: twice the ledger's commit interval.
	settle time.Duration
}

var _ redisstore.Source = (*ledgerSource)(nil)

// Baseline implements redisstore.Source: every budget's settled use in its current window
// (the same walk as the restore at start), the holds still open mapped onto the budget
// quotas their labels fall in, and the reservations recently settled. The holds of dead
// replicas are charged first, so that they are counted as the records they become.
//
// A call settled in Redis shortly before Redis lost it is counted only by its record, which
// its replica commits within the ledger's commit interval: this replica's records are
// flushed, and the others' given twice that interval to be committed, before the read.
// (With holds journaled, a call whose record is not yet committed still has its hold open,
// and is counted at its worst case instead: more than was spent, never less.)
func (s *ledgerSource) Baseline(ctx context.Context, now, settledSince time.Time) (*redisstore.Baseline, error) {
	if err := s.l.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flushing this replica's records: %w", err)
	}
	if s.settle > 0 {
		t := time.NewTimer(s.settle)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if _, err := s.l.Recover(ctx); err != nil && !errors.Is(err, ledger.ErrReadOnly) {
		// Not fatal: those holds are still open, so they are installed below instead of
		// counted as charges, and the next recovery charges them.
		s.log.Warn("redis rebuild: charging the holds of dead replicas failed", "err", err)
	}
	base := &redisstore.Baseline{}
	_, err := restoreBudgets(ctx, s.l, func(q quota.Quota, used int64) {
		base.Budgets = append(base.Budgets, redisstore.BudgetUse{Quota: q, Used: used})
	}, s.rules, now)
	if err != nil {
		return nil, fmt.Errorf("budgets: %w", err)
	}
	holds, err := s.l.OpenHolds(ctx)
	if err != nil {
		return nil, err
	}
	skipped := 0
	for _, h := range holds {
		id, err := quota.ParseID(h.ID)
		if err != nil {
			skipped++
			continue
		}
		labels := quota.Labels{Provider: h.Provider, Model: h.Model, Tenant: h.Tenant, Key: h.Key, Agent: h.Agent,
			Session: h.Session}
		var qs []quota.Quota
		for i := range s.rules {
			if !s.rules[i].Window.Kind.IsBudget() {
				continue
			}
			if q, ok := s.rules[i].For(labels); ok {
				qs = append(qs, q)
			}
		}
		if len(qs) == 0 {
			continue
		}
		base.Holds = append(base.Holds, redisstore.OpenHold{ID: id, Quotas: qs, Opened: h.Opened,
			Amount: quota.Amount{Requests: 1, InputTokens: h.InputTokens, OutputTokens: h.OutputTokens, MicroUSD: h.MicroUSD}})
	}
	if skipped > 0 {
		// A hold journaled under an id that is not a reservation's cannot be matched to
		// its settle; its worst case still counts when it is charged as an orphan.
		s.log.Warn("redis rebuild: holds whose id is not a reservation id were not installed", "holds", skipped)
	}
	ids, err := s.l.SettledHolds(ctx, settledSince)
	if err != nil {
		return nil, err
	}
	for _, raw := range ids {
		if id, err := quota.ParseID(raw); err == nil {
			base.Settled = append(base.Settled, id)
		}
	}
	return base, nil
}
