import { RetryableError } from '../../shared/errors.ts';
import { type Claim, type Intent, type Ledger, type LedgerState, type Outcome, decide, foldLapsedIntent, record } from '../../shared/ledger/ledger.ts';

/**
 * The ordering ledger in memory, with DynamoDB's ledger's behaviour (one claim per user, a lapsed claim folded
 * in as pending), for tests of the queue that do not need DynamoDB itself. `failClaims` and `failFinishes`
 * make the next calls fail as an unreachable ledger does.
 */
export function createMemoryLedger(now: () => number) {
  const users = new Map<string, LedgerState>();
  const leases = new Map<string, { until: number; intent: Intent; owner: number }>();
  const finished: Array<{ userId: string; key: string; outcome: Outcome }> = [];
  let owners = 0;
  const faults = { failClaims: 0, failFinishes: 0 };
  const ledger: Ledger = {
    async claim(userId, intent, leaseMs) {
      if (faults.failClaims > 0) {
        faults.failClaims -= 1;
        throw new RetryableError('ledger_unavailable', 'could not claim the user in the ordering ledger (TimeoutError); the job is retried');
      }
      const held = leases.get(userId);
      if (held !== undefined && held.until >= now()) throw new RetryableError('user_busy', 'another job of this user is being applied; it is tried again shortly');
      let state = users.get(userId) ?? { attributes: {}, recent: [] };
      if (held !== undefined) state = foldLapsedIntent(state, held.intent, now());
      const owner = ++owners;
      const until = now() + leaseMs;
      leases.set(userId, { until, intent, owner });
      const decision = decide(state, intent.stamp, intent.effects);
      const claim: Claim = {
        decision,
        until,
        async finish(outcome) {
          if (faults.failFinishes > 0) {
            faults.failFinishes -= 1;
            throw new RetryableError('ledger_unavailable', 'could not record the job in the ordering ledger (TimeoutError); the job is retried');
          }
          if (leases.get(userId)?.owner !== owner) throw new RetryableError('ledger_lease_lost', 'the claim on the user lapsed');
          leases.delete(userId);
          users.set(userId, record(state, intent, decision, outcome, now()));
          finished.push({ userId, key: intent.stamp.key, outcome });
        },
      };
      return claim;
    },
    async read(userId) {
      return users.get(userId);
    },
  };
  return { ledger, users, leases, finished, faults };
}
