import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formatsPlugin from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../../shared/jobs/schema.ts';
import { JOB_SCHEMA_FILE, renderJobJsonSchema } from '../../../shared/jobs/write-json-schema.ts';
import { INVALID_JOBS, VALID_JOBS } from '../../helpers/jobs.ts';

const schema = JSON.parse(readFileSync(JOB_SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
// ajv-formats is CommonJS: its function is the module itself (ESM default), typed as `.default`.
const addFormats = formatsPlugin as unknown as typeof formatsPlugin.default;
const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(schema);

describe('File: shared/jobs/job.schema.json', () => {
  it('is what the zod source generates (run `npm run schema` after changing the contract)', () => {
    // Act & Assess
    expect(readFileSync(JOB_SCHEMA_FILE, 'utf8')).toBe(renderJobJsonSchema());
  });

  it('accepts every contract example in a standard JSON Schema validator', () => {
    // Act
    const results = VALID_JOBS.map((job) => validate(job));

    // Assess
    expect(results).toEqual(VALID_JOBS.map(() => true));
  });

  it("selects the variant by type, so a validator's first error is about the job the producer named", () => {
    // Prepare: a roles.assign job with a misspelt field, and one addressing its user twice
    const misspelt = { type: 'roles.assign', userId: 'auth0|1', rolez: ['support-agent'] };
    const twice = { type: 'roles.remove', userId: 'auth0|1', email: 'ada@example.com', roles: ['support-agent'] };
    const strict = new Ajv2020({ strict: false, allErrors: false, validateFormats: false }).compile(schema);

    // Act
    const first = (job: unknown) => (strict(job) ? undefined : strict.errors?.[0]);

    // Assess
    expect(first(misspelt)).toMatchObject({ schemaPath: '#/$defs/roles.assign/then/required', message: "must have required property 'roles'" });
    expect(first(twice)).toMatchObject({ schemaPath: '#/$defs/roles.remove/then/additionalProperties', params: { additionalProperty: 'email' } });
    expect(first({ type: 'roles.grant', userId: 'auth0|1' })).toMatchObject({ instancePath: '/type', message: 'must be equal to one of the allowed values' });
  });

  it('checks emails and picture URLs by their pattern in any validator, and URLs by their format too with a format plugin (ajv-formats), as docs/contract.md says', () => {
    // Prepare
    const withFormats = addFormats(new Ajv2020({ strict: false })).compile(schema);
    const job = { type: 'user.update', email: 'ada@example.com', changes: { picture: 'https://example.com/a.png' } };
    // Not a URI (a broken percent-escape): refused by the pattern itself, so without a format plugin too
    const broken = { ...job, changes: { picture: 'https://example.com/%zz' } };

    // Act & Assess
    expect(validate({ ...job, email: 'not an address' })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ instancePath: '/email', keyword: 'pattern' });
    expect(validate(job)).toBe(true);
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ instancePath: '/changes/picture', keyword: 'pattern' });
    expect(withFormats(job)).toBe(true);
    expect(withFormats(broken)).toBe(false);
    expect(schema).toMatchObject({ $defs: { 'user.update': { then: { properties: { changes: { properties: { picture: { anyOf: [{ format: 'uri' }, { type: 'null' }] } } } } } } } });
  });

  it('checks issuedAt as an RFC 3339 date-time with an offset, by its pattern in any validator and by its format with ajv-formats', () => {
    // Prepare
    const withFormats = addFormats(new Ajv2020({ strict: false })).compile(schema);
    const job = (issuedAt: unknown) => ({ type: 'org.members.remove', email: 'ada@example.com', organization: 'acme-corp', issuedAt });
    const valid = ['2026-12-04T16:27:58.123Z', '2026-12-04T17:27:58+01:00', '2026-12-04T16:27:58Z', '2026-12-04T16:27:58.123456789-04:30', '2028-02-29T00:00:00Z'];
    const invalid = ['2026-12-04T16:27:58', '2026-12-04', '2026-12-04T16:27Z', '2026-02-30T00:00:00Z', '2100-02-29T00:00:00Z', '2026-12-04T24:00:00Z', '2026-12-04T16:27:58.1234567891Z', '2026-12-04T16:27:58+0100', '2026-12-04t16:27:58z', 1796401678123];

    // Act
    const accepted = (check: typeof validate, values: unknown[]) => values.filter((value) => check(job(value)));

    // Assess
    expect(accepted(validate, valid)).toEqual(valid);
    expect(accepted(withFormats, valid)).toEqual(valid);
    expect(accepted(validate, invalid)).toEqual([]);
    expect(accepted(withFormats, invalid)).toEqual([]);
    expect(withFormats(job('2026-02-30T00:00:00Z'))).toBe(false);
    expect(withFormats.errors?.map((error) => error.instancePath)).toContain('/issuedAt');
    expect(schema).toMatchObject({ $defs: { 'user.update': { then: { properties: { issuedAt: { format: 'date-time', description: expect.stringContaining('newest-wins') } } } } } });
  });

  it('refuses a picture that is not an http(s) URL in any validator, by its pattern', () => {
    // Prepare
    const job = (picture: string) => ({ type: 'user.update', userId: 'auth0|1', changes: { picture } });

    // Act, Assess
    expect(validate(job('https://cdn.example.com/ada.png'))).toBe(true);
    expect(validate(job('javascript:alert(1)'))).toBe(false);
    expect(validate(job('data:text/html,<b>hi</b>'))).toBe(false);
  });

  it('refuses control and invisible formatting characters in names, source, roles and metadata keys by pattern, with and without Unicode mode, and keeps names in any script', () => {
    // Prepare: Ajv compiles patterns in Unicode mode by default; some validators do not
    const legacy = new Ajv2020({ strict: false, validateFormats: false, unicodeRegExp: false }).compile(schema);
    const update = (changes: Record<string, unknown>) => ({ type: 'user.update', userId: 'auth0|1', changes });
    const refused = [
      update({ name: 'Ada \u202Egnp.exe' }),
      update({ given_name: 'Ada\u0000' }),
      update({ nickname: 'ad\u200Bmin' }),
      update({ nickname: 'ad\u200Dmin' }),
      update({ name: 'Ada\u0085' }),
      update({ name: '   ' }),
      update({ username: 'ada lovelace' }),
      update({ user_metadata: { 'plan\u202E': 1 } }),
      update({ app_metadata: { 'plan.tier': 'pro' } }),
      update({ picture: 'https://user:pass@cdn.example.com/a.png' }),
      update({ picture: 'https://\u0430pple.com/a.png' }),
      { type: 'roles.assign', userId: 'auth0|\u202E1', roles: ['x'] },
      { type: 'roles.assign', userId: 'auth0|1', roles: ['admin\u202E'] },
      { type: 'roles.assign', userId: 'auth0|1', roles: ['x'], source: 'crm\n{"level":"ERROR"}' },
      { type: 'roles.remove', email: 'ada@example.com', connection: 'my db', roles: ['x'] },
    ];
    const accepted = [
      update({ name: 'Zoë Ωmega', given_name: '李小龍', family_name: "O'Brien-Smith" }),
      update({ name: '\u0645\u062D\u0645\u062F\u200C\u0631\u0636\u0627', nickname: 'Ada \u2764\uFE0F \u{1F468}\u200D\u{1F469}\u200D\u{1F467}' }),
      update({ picture: 'https://upload.example.org:8443/@ada/Example_(1).jpg?size=96#top', email: 'ada+news@example.com' }),
      { type: 'roles.assign', userId: 'auth0|1', roles: ['管理者', 'Support Agent'], source: 'CRM – Zoë' },
    ];

    // Act & Assess
    for (const check of [validate, legacy]) {
      expect(refused.filter((job) => check(job))).toEqual([]);
      expect(accepted.filter((job) => !check(job))).toEqual([]);
    }
  });

  it('types a job as exactly one of userId or email', () => {
    // Act & Assess: these lines are type-checked by npm test (tsc); each @ts-expect-error fails the check if the line compiles
    const byId: Job = { type: 'roles.assign', userId: 'auth0|1', roles: ['support-agent'] };
    const byEmail: Job = { type: 'user.update', email: 'ada@example.com', changes: { blocked: true } };
    // @ts-expect-error: both userId and email
    const both: Job = { type: 'roles.assign', userId: 'auth0|1', email: 'ada@example.com', roles: ['support-agent'] };
    // @ts-expect-error: neither
    const neither: Job = { type: 'roles.assign', roles: ['support-agent'] };
    // @ts-expect-error: changes belong to user.update
    const wrongField: Job = { type: 'roles.assign', userId: 'auth0|1', changes: { blocked: true } };
    // @ts-expect-error: connection only with email
    const connection: Job = { type: 'roles.assign', userId: 'auth0|1', connection: 'db', roles: ['support-agent'] };
    const stamped: Job = { type: 'roles.remove', userId: 'auth0|1', roles: ['support-agent'], issuedAt: '2026-12-04T16:27:58.123Z' };
    // @ts-expect-error: issuedAt is RFC 3339 text, not epoch milliseconds
    const epoch: Job = { type: 'roles.remove', userId: 'auth0|1', roles: ['support-agent'], issuedAt: 1796401678123 };
    expect([byId, byEmail, both, neither, wrongField, connection, stamped, epoch].map((job) => validate(job))).toEqual([true, true, false, false, false, false, true, false]);
  });

  it('refuses the structurally bad jobs a producer can catch before sending', () => {
    // Prepare: policy, size and metadata-key rules belong to the deployment and the worker, not the schema
    const structural = INVALID_JOBS.filter(([, , code]) =>
      ['unknown_type', 'invalid_target', 'unknown_field', 'invalid_changes', 'invalid_roles', 'invalid_user_id', 'invalid_field', 'invalid_organization', 'invalid_issued_at'].includes(code),
    );

    // Act
    const accepted = structural.filter(([, body]) => validate(JSON.parse(body)));

    // Assess
    expect(structural.length).toBeGreaterThan(10);
    expect(accepted.map(([name]) => name)).toEqual([]);
  });
});
