/**
 * Where a bench run's wall time went, from the tenant's answers as it sent them: the start before the first
 * Management API call, the pace between the first call and the last, and the tail after the last call until
 * the queue was seen empty. The wall time is the sum of the three.
 */

import { isManagementRoute } from '../../local/figures.ts';

/** One answer of the tenant (`TenantOptions.onAnswer`). */
export interface TimedAnswer {
  readonly route: string;
  readonly status: number;
  /** The bucket the answer's headers describe: its endpoint group's, or `api`. */
  readonly bucket: string;
  readonly at: number;
}

export interface TimelineInput {
  /** When the event source mapping started. */
  readonly started: number;
  /** When the queue was seen empty; undefined for a run cut short. */
  readonly doneAt: number | undefined;
  readonly answers: readonly TimedAnswer[];
  /** The bucket the floor is computed on: its burst and refill. */
  readonly bucket: { readonly burst: number; readonly perSecond: number };
  /** On a plan's tenant, the endpoint group whose bucket binds: only its calls are timed. Default: every call. */
  readonly group?: string;
  /** Route of another application's calls on the same bucket (they count against it, not as the handler's). */
  readonly otherRoute?: string;
}

export interface Timeline {
  /** From the start to the handler's first Management API call. */
  readonly startMs: number;
  /** From its first call to its last. */
  readonly pacedMs: number;
  /** The part of `pacedMs` the bucket required: admitted calls in it beyond the burst, over the refill. */
  readonly pacedFloorMs: number;
  /** From its last call until the queue was seen empty. */
  readonly tailMs: number;
  /** Time between its calls, in gaps of a second or more. */
  readonly gapsMs: number;
  readonly calls: number;
}

const GAP_MS = 1000;

/** Splits a finished run's wall time; undefined when the run was cut short or made no call. */
export function measureTimeline(input: TimelineInput): Timeline | undefined {
  if (input.doneAt === undefined) return undefined;
  const management = input.answers.filter((answer) => isManagementRoute(answer.route) && (input.group === undefined || answer.bucket === input.group));
  const own = management.filter((answer) => answer.route !== input.otherRoute);
  const first = own[0]?.at;
  const last = own.at(-1)?.at;
  if (first === undefined || last === undefined) return undefined;
  // Every admitted call in the window draws from the bucket, the other application's included.
  const admitted = management.filter((answer) => answer.status !== 429 && answer.at >= first && answer.at <= last).length;
  let gapsMs = 0;
  for (let index = 1; index < own.length; index += 1) {
    const gap = (own[index]?.at ?? 0) - (own[index - 1]?.at ?? 0);
    if (gap >= GAP_MS) gapsMs += gap;
  }
  return {
    startMs: first - input.started,
    pacedMs: last - first,
    pacedFloorMs: (Math.max(0, admitted - input.bucket.burst) / input.bucket.perSecond) * 1000,
    tailMs: input.doneAt - last,
    gapsMs,
    calls: own.length,
  };
}

/** One line for a run's log. */
export function describeTimeline(input: TimelineInput): string {
  const timeline = measureTimeline(input);
  if (timeline === undefined) return 'time: no timeline (the run was cut short or made no call)';
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const rate = timeline.pacedMs > 0 ? ((timeline.pacedFloorMs / timeline.pacedMs) * input.bucket.perSecond).toFixed(2) : 'n/a';
  return (
    `time: ${s(timeline.startMs)} to the first call, ${s(timeline.pacedMs)} from it to the last (the bucket's floor for those calls ${s(timeline.pacedFloorMs)}: ` +
    `${rate}/s beyond the burst of ${Number(input.bucket.perSecond.toFixed(2))}/s; ${s(timeline.gapsMs)} in gaps of ${GAP_MS / 1000} s or more), ${s(timeline.tailMs)} from the last call to an empty queue`
  );
}
