import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../../shared/errors.ts';
import { type JobPolicy, parseJob } from '../../../shared/jobs/parse-job.ts';
import { DEFAULT_ALLOWED_FIELDS, USER_FIELDS } from '../../../shared/jobs/schema.ts';
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
});
