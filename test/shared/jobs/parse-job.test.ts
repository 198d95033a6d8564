import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../../shared/errors.ts';
import { type JobPolicy, parseJob } from '../../../shared/jobs/parse-job.ts';
import { DEFAULT_ALLOWED_FIELDS, USER_FIELDS, parseIssuedAt } from '../../../shared/jobs/schema.ts';
import { INVALID_JOBS, VALID_JOBS } from '../../helpers/jobs.ts';

/** A deployment that allows app_metadata on top of the defaults, as the contract examples need. */
const policy: JobPolicy = { allowedFields: new Set([...DEFAULT_ALLOWED_FIELDS, 'app_metadata']), allowedRoles: undefined, allowedOrganizations: '*' };

describe('Function: parseJob()', () => {
  it.each(VALID_JOBS.map((job) => [job.type, job]))('accepts the contract example %s', (_, job) => {
    // Act
    const parsed = parseJob(JSON.stringify(job), policy);

    // Assess
    expect(parsed).toEqual(job);
  });

  it.each(INVALID_JOBS)('refuses %s with a clear reason', (_, body, code) => {
    // Act
    const error = (() => {
      try {
        parseJob(body, policy);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code, retryable: false });
    expect((error as Error).message.length).toBeGreaterThan(10);
  });

  it('never quotes values from the body in its messages', () => {
    // Prepare
    const bodies = [
      '{"type":"user.update","userId":"auth0|1","changes":{"password":"s3cr3t-value"}',
      '{"type":"user.update","userId":"auth0|1","changes":{"password":"s3cr3t-value"}}',
      '{"type":"user.update","userId":"auth0|1","changes":{"phone_number":"s3cr3t-value"}}',
      '{"type":"user.update","userId":"auth0|1","changes":{"blocked":true},"issuedAt":"s3cr3t-value"}',
    ];

    // Act
    const messages = bodies.map((body) => {
      try {
        parseJob(body, policy);
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    });

    // Assess
    expect(messages.every((message) => message !== '' && !message.includes('s3cr3t'))).toBe(true);
  });

  it('keeps __proto__ from touching any prototype', () => {
    // Act
    expect(() => parseJob('{"type":"user.update","userId":"auth0|1","changes":{"app_metadata":{"__proto__":{"polluted":true}}}}', policy)).toThrow(PermanentError);

    // Assess
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it.each([
    ['a javascript: URL', 'javascript:alert(document.cookie)'],
    ['a data:text/html URL', 'data:text/html,<script>alert(1)</script>'],
    ['an ftp: URL', 'ftp://example.com/me.png'],
  ])('refuses %s as a picture', (_, picture) => {
    // Act, Assess
    expect(() => parseJob(JSON.stringify({ type: 'user.update', userId: 'auth0|1', changes: { picture } }), policy)).toThrow(expect.objectContaining({ code: 'invalid_field' }));
  });

  it('takes an https: picture, and an http: one only when the deployment allows it', () => {
    // Prepare
    const job = (picture: string) => JSON.stringify({ type: 'user.update', userId: 'auth0|1', changes: { picture } });

    // Act, Assess
    expect(parseJob(job('https://cdn.example.com/ada.png'), policy)).toMatchObject({ changes: { picture: 'https://cdn.example.com/ada.png' } });
    expect(() => parseJob(job('http://cdn.example.com/ada.png'), policy)).toThrow(expect.objectContaining({ code: 'invalid_field', message: expect.stringContaining('ALLOW_HTTP_PICTURES') }));
    expect(parseJob(job('http://cdn.example.com/ada.png'), { ...policy, allowHttpPictures: true })).toMatchObject({ changes: { picture: 'http://cdn.example.com/ada.png' } });
  });

  it('removes duplicate roles', () => {
    // Act
    const job = parseJob('{"type":"roles.assign","userId":"auth0|1","roles":["a","rol_1","a"]}', policy);

    // Assess
    expect(job).toMatchObject({ roles: ['a', 'rol_1'] });
  });

  it('lets a deployment allow any PATCH field explicitly', () => {
    // Prepare
    const open: JobPolicy = { allowedFields: new Set(USER_FIELDS), allowedRoles: undefined };

    // Act
    const job = parseJob('{"type":"user.update","userId":"auth0|1","changes":{"password":"correct horse battery"}}', open);

    // Assess
    expect(job).toMatchObject({ changes: { password: 'correct horse battery' } });
  });

  it('refuses an organization job when the deployment allows no organization, before any lookup', () => {
    // Prepare
    const body = JSON.stringify({ type: 'org.members.add', userId: 'auth0|1', organization: 'acme' });

    // Act & Assess
    for (const allowedOrganizations of [undefined, new Set<string>()]) {
      expect(() => parseJob(body, { ...policy, allowedOrganizations })).toThrow(
        expect.objectContaining({ code: 'organization_not_allowed', message: expect.stringContaining('set ALLOWED_ORGANIZATIONS') }),
      );
    }
    expect(parseJob(body, { ...policy, allowedOrganizations: new Set(['acme']) })).toMatchObject({ type: 'org.members.add', organization: 'acme' });
  });

  it.each([
    ['UTC with milliseconds', '2026-12-04T16:27:58.123Z', Date.UTC(2026, 11, 4, 16, 27, 58, 123)],
    ['an offset', '2026-12-04T17:27:58+01:00', Date.UTC(2026, 11, 4, 16, 27, 58)],
    ['a negative offset', '2026-12-04T11:57:58.5-04:30', Date.UTC(2026, 11, 4, 16, 27, 58, 500)],
    ['no fraction', '2026-12-04T16:27:58Z', Date.UTC(2026, 11, 4, 16, 27, 58)],
    ['9 fractional digits, truncated to the millisecond', '2026-12-04T16:27:58.123999999Z', Date.UTC(2026, 11, 4, 16, 27, 58, 123)],
    ['29 February of a leap year', '2028-02-29T00:00:00Z', Date.UTC(2028, 1, 29)],
  ])('accepts an issuedAt with %s, and keeps it as written', (_, issuedAt, instant) => {
    // Prepare
    const body = JSON.stringify({ type: 'user.update', userId: 'auth0|1', changes: { blocked: true }, issuedAt });

    // Act
    const job = parseJob(body, policy);

    // Assess
    expect(job.issuedAt).toBe(issuedAt);
    expect(parseIssuedAt(issuedAt)).toBe(instant);
  });

  it.each([
    ['no offset', '"2026-12-04T16:27:58.123"'],
    ['a date only', '"2026-12-04"'],
    ['no seconds', '"2026-12-04T16:27Z"'],
    ['a day February lacks', '"2026-02-30T00:00:00Z"'],
    ['29 February of a common year', '"2100-02-29T00:00:00Z"'],
    ['hour 24', '"2026-12-04T24:00:00Z"'],
    ['10 fractional digits', '"2026-12-04T16:27:58.1234567891Z"'],
    ['an offset without its colon', '"2026-12-04T17:27:58+0100"'],
    ['a space for the T', '"2026-12-04 16:27:58Z"'],
    ['a number of milliseconds', '1796401678123'],
    ['null', 'null'],
    ['a lone surrogate', '"\\ud800"'],
  ])('refuses an issuedAt with %s as invalid_issued_at, naming the field and the form, not the value', (_, issuedAt) => {
    // Prepare
    const body = `{"type":"roles.assign","userId":"auth0|1","roles":["x"],"issuedAt":${issuedAt}}`;

    // Act
    const error = (() => {
      try {
        parseJob(body, policy);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'invalid_issued_at', retryable: false, message: expect.stringMatching(/^issuedAt must be an RFC 3339 date-time .*offset/) });
    if (typeof JSON.parse(issuedAt) === 'string') expect(parseIssuedAt(JSON.parse(issuedAt) as string)).toBeUndefined();
  });
});
