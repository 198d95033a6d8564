import { describe, expect, it } from 'vitest';
import { type TimedAnswer, describeTimeline, measureTimeline } from './timeline.ts';

const answer = (at: number, route = 'PATCH /api/v2/users/{id}', status = 200, bucket = 'api'): TimedAnswer => ({ route, status, bucket, at });

describe('Function: measureTimeline()', () => {
  it("splits a run's wall time into the start, the paced calls and the tail, counting another application's calls against the bucket", () => {
    // Prepare: the handler's calls from 1 s to 5 s (one 429, one token call; gaps of 1 s and 2 s), another application's in between
    const answers = [
      answer(1_000), answer(1_500), answer(2_000, 'POST /oauth/token'), answer(2_500, undefined, 429),
      answer(3_000, 'GET /api/v2/users/{id}'), answer(4_500), answer(5_000),
    ];

    // Act
    const timeline = measureTimeline({ started: 0, doneAt: 5_400, answers, bucket: { burst: 2, perSecond: 1 }, otherRoute: 'GET /api/v2/users/{id}' });

    // Assess: 5 admitted Management API calls in the window, 2 of them the burst: 3 s at 1/s
    expect(timeline).toEqual({ startMs: 1_000, pacedMs: 4_000, pacedFloorMs: 3_000, tailMs: 400, gapsMs: 3_000, calls: 5 });
  });

  it("times only the binding group's calls on a plan's tenant", () => {
    // Prepare
    const answers = [answer(0, 'POST /api/v2/roles/{id}/users', 200, 'other'), answer(500), answer(2_000, 'POST /api/v2/roles/{id}/users', 200, 'other')];

    // Act
    const timeline = measureTimeline({ started: 0, doneAt: 2_000, answers, bucket: { burst: 1, perSecond: 1 }, group: 'other' });

    // Assess
    expect(timeline).toMatchObject({ startMs: 0, pacedMs: 2_000, pacedFloorMs: 1_000, calls: 2 });
  });

  it('says so for a run cut short', () => {
    // Act
    const line = describeTimeline({ started: 0, doneAt: undefined, answers: [answer(10)], bucket: { burst: 1, perSecond: 1 } });

    // Assess
    expect(line).toBe('time: no timeline (the run was cut short or made no call)');
  });
});
