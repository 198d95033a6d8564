/**
 * The per-user ordering ledger: for each Auth0 user, per attribute a job can touch, the order of the last job
 * that wrote it. The queue consults it so that the newest job wins per attribute, whatever the delivery
 * order, with its effect once. A peer of `shared/queue`: it knows attributes, orders and jobs' keys, never
 * Auth0 or the job contract.
 *
 * This file holds the model and the decision, pure; `dynamodb-ledger.ts` keeps it in DynamoDB.
 */

/** One attribute a job writes, and what it writes there (its kind, never its value). */
export interface Effect {
  /** The attribute: `blocked`, `app_metadata.plan`, `role:rol_…`, `org:org_…`, `org:org_…/role:rol_…`. */
  readonly attribute: string;
  /** What the job does to it: `set`, `unset`, `true`, `false`, `assign`, `remove`, `add`. Two kinds of one attribute are two values of it. */
  readonly kind: string;
  /**
   * A newer entry of another attribute, of this kind, also supersedes the effect: an organization role is void
   * once a newer removal of the membership took every role of that organization.
   */
  readonly voidedBy?: { readonly attribute: string; readonly kind: string };
}

/** Where a job stands among the jobs of its user. */
export interface Stamp {
  /**
   * Its order: `{epoch ms, 15 digits}:{tie-breaks}`. Compared as text; equal orders fall back to {@link key}.
   * The milliseconds are the job's `issuedAt`, or when SQS first accepted it.
   */
  readonly order: string;
  /** Its identity: two deliveries of one job have one key, so its effect is had once. */
  readonly key: string;
  readonly jobId?: string | undefined;
  readonly source?: string | undefined;
}

/** The last job that wrote one attribute. */
export interface Entry {
  /** The job's order and key. */
  readonly o: string;
  readonly k: string;
  readonly j?: string;
  readonly s?: string;
  /** Epoch milliseconds it was recorded. */
  readonly t: number;
  /** Its kind (see {@link Effect.kind}). */
  readonly v: string;
  /**
   * The job claimed the attribute but its write is not known to have happened (it failed and will be retried,
   * or its container stopped midway): older jobs are still skipped, and the same job writes it again.
   */
  readonly p?: true;
}

/** A job of the user's recent history, as `history` shows it. */
export interface RecentJob {
  readonly k: string;
  readonly o: string;
  readonly j?: string;
  readonly s?: string;
  readonly t: number;
  /** `applied` (every effect written), `partial` (some skipped as older), `superseded` (none written). */
  readonly r: 'applied' | 'partial' | 'superseded';
  /** Effects skipped because a newer job had written them. */
  readonly n: number;
}

/** A user's ledger. */
export interface LedgerState {
  readonly attributes: Readonly<Record<string, Entry>>;
  /** Newest last, at most {@link MAX_RECENT}. */
  readonly recent: readonly RecentJob[];
}

/** What a job does, once compared with its user's ledger. */
export interface Decision {
  /** Effects for which the job is the newest: the only ones to write. */
  readonly write: readonly Effect[];
  /** Effects a newer job (or this job, before) already wrote. */
  readonly skipped: readonly Effect[];
  /** The job was already applied: nothing of it is written again. */
  readonly duplicate: boolean;
}

/** The work one job claimed on its user, kept in the lease, so that a stopped container's write is not lost. */
export interface Intent {
  readonly stamp: Stamp;
  readonly effects: readonly Effect[];
}

/** How a claimed job ended. */
export type Outcome =
  /** Its writes reached Auth0: record them. */
  | 'applied'
  /** Nothing to write: record it in the history only. */
  | 'superseded'
  /** It failed and will be retried: keep its place, so that no older job overtakes it meanwhile. */
  | 'pending'
  /** It can never succeed: record nothing. */
  | 'released';

/** A user claimed for one job: nobody else writes for the user until {@link Claim.finish}. */
export interface Claim {
  readonly decision: Decision;
  /** Epoch milliseconds the claim lapses: the job's calls must be over before it. */
  readonly until: number;
  /** Records how the job ended and frees the user. Rejects when the ledger could not be written. */
  finish(outcome: Outcome, signal?: AbortSignal): Promise<void>;
}

/** The ledger, as the queue uses it. */
export interface Ledger {
  /**
   * Claims `userId` for one job for `leaseMs`, and decides which of its effects to write.
   *
   * @throws {RetryableError} `user_busy` when another job of the user holds it; `ledger_unavailable` when the
   *   ledger cannot be read or written (the job is then retried, never applied unordered).
   */
  claim(userId: string, intent: Intent, leaseMs: number, signal?: AbortSignal): Promise<Claim>;
  /** A user's ledger as it stands, for `history`; undefined when no job of the user is recorded. */
  read(userId: string, signal?: AbortSignal): Promise<(LedgerState & { readonly lease?: { readonly until: number; readonly intent: Intent } }) | undefined>;
}

/** Jobs kept in a user's recent history. */
export const MAX_RECENT = 20;

/** Compares two jobs' places: order first, then key, so that any two different jobs are ordered. */
export function compareStamps(a: Pick<Stamp, 'order' | 'key'>, b: Pick<Stamp, 'order' | 'key'>): number {
  if (a.order !== b.order) return a.order < b.order ? -1 : 1;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return 0;
}

/**
 * Which of a job's effects to write: those for which no job at or after its place wrote the attribute (nor
 * voided it). A job recorded as applied writes nothing again; a job that left an attribute pending writes
 * it again.
 *
 * @example
 * const { write } = decide(state, { order: '001765000000000:ab', key: 'j:42' }, [{ attribute: 'blocked', kind: 'true' }]);
 */
export function decide(state: LedgerState, stamp: Stamp, effects: readonly Effect[]): Decision {
  const duplicate = state.recent.some((job) => job.k === stamp.key && job.r !== 'superseded');
  const write: Effect[] = [];
  const skipped: Effect[] = [];
  for (const effect of effects) (!duplicate && isNewest(state, stamp, effect) ? write : skipped).push(effect);
  return { write, skipped, duplicate };
}

function isNewest(state: LedgerState, stamp: Stamp, effect: Effect): boolean {
  const entry = state.attributes[effect.attribute];
  if (entry !== undefined) {
    if (entry.k === stamp.key) return entry.p === true;
    if (compareStamps({ order: entry.o, key: entry.k }, stamp) > 0) return false;
  }
  const voidedBy = effect.voidedBy === undefined ? undefined : state.attributes[effect.voidedBy.attribute];
  if (voidedBy !== undefined && voidedBy.v === effect.voidedBy?.kind && compareStamps({ order: voidedBy.o, key: voidedBy.k }, stamp) > 0) return false;
  return true;
}

/**
 * The ledger after a job: its written effects recorded (`applied`), or claimed (`pending`), and the job added
 * to the recent history. `released` leaves the ledger as it was.
 */
export function record(state: LedgerState, intent: Intent, decision: Decision, outcome: Outcome, at: number): LedgerState {
  if (outcome === 'released') return state;
  const { stamp } = intent;
  const attributes = { ...state.attributes };
  if (outcome === 'applied' || outcome === 'pending') {
    for (const effect of decision.write) {
      attributes[effect.attribute] = {
        o: stamp.order,
        k: stamp.key,
        ...(stamp.jobId === undefined ? {} : { j: stamp.jobId }),
        ...(stamp.source === undefined ? {} : { s: stamp.source }),
        t: at,
        v: effect.kind,
        ...(outcome === 'pending' ? { p: true as const } : {}),
      };
    }
  }
  if (outcome === 'pending') return { attributes, recent: state.recent };
  const recent: RecentJob = {
    k: stamp.key,
    o: stamp.order,
    ...(stamp.jobId === undefined ? {} : { j: stamp.jobId }),
    ...(stamp.source === undefined ? {} : { s: stamp.source }),
    t: at,
    r: decision.write.length === 0 ? 'superseded' : decision.skipped.length === 0 ? 'applied' : 'partial',
    n: decision.skipped.length,
  };
  // One line per job: a job applied again after a pending try replaces its earlier line.
  return { attributes, recent: [...state.recent.filter((job) => job.k !== stamp.key), recent].slice(-MAX_RECENT) };
}

/**
 * Takes over a lapsed claim: the job that held it may have written before its container stopped, so what it
 * would have written is kept as pending. Its own next try writes it again; older jobs are skipped.
 */
export function foldLapsedIntent(state: LedgerState, intent: Intent, at: number): LedgerState {
  return record(state, intent, decide(state, intent.stamp, intent.effects), 'pending', at);
}
