import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../../shared/errors.ts';
import { type JobPolicy, parseJob } from '../../../shared/jobs/parse-job.ts';
import { DEFAULT_ALLOWED_FIELDS, USER_FIELDS, parseIssuedAt } from '../../../shared/jobs/schema.ts';
import { INVALID_JOBS, VALID_JOBS } from '../../helpers/jobs.ts';

/** A deployment that allows app_metadata on top of the defaults, as the contract examples need. */
const policy: JobPolicy = { allowedFields: new Set([...DEFAULT_ALLOWED_FIELDS, 'app_metadata']), allowedRoles: undefined, allowedOrganizations: '*' };

/** What parseJob throws for a body under a policy, or undefined when it accepts it. */
const refusalOf = (body: string, under: JobPolicy): unknown => {
  try {
    parseJob(body, under);
  } catch (caught) {
    return caught;
  }
  return undefined;
};

describe('Function: parseJob()', () => {
  it.each(VALID_JOBS.map((job) => [job.type, job]))('accepts the contract example %s', (_, job) => {
    // Act
    const parsed = parseJob(JSON.stringify(job), policy);

    // Assess
    expect(parsed).toEqual(job);
  });

  it.each(INVALID_JOBS)('refuses %s with a clear reason', (_, body, code) => {
    // Act
    const error = refusalOf(body, policy);

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
    const error = refusalOf(body, policy);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'invalid_issued_at', retryable: false, message: expect.stringMatching(/^issuedAt must be an RFC 3339 date-time .*offset/) });
    if (typeof JSON.parse(issuedAt) === 'string') expect(parseIssuedAt(JSON.parse(issuedAt) as string)).toBeUndefined();
  });
});

describe('Function: parseJob() on text, email and URL fields (issue 19, producers cannot overreach)', () => {
  /** Every field allowed: these tests are about the contract's rules, not the deployment's policy. */
  const open: JobPolicy = { allowedFields: new Set(USER_FIELDS), allowedRoles: undefined, allowedOrganizations: '*' };
  const update = (changes: Record<string, unknown>) => ({ type: 'user.update', userId: 'auth0|1', changes });
  const roles = (fields: Record<string, unknown>) => ({ type: 'roles.assign', userId: 'auth0|1', roles: ['support-agent'], ...fields });
  const refusal = (job: unknown) => refusalOf(JSON.stringify(job), open);
  const UNSAFE = /control characters .*invisible formatting characters/;

  it.each([
    // Display spoofing and broken displays in names
    ['a right-to-left override in name', update({ name: 'Ada \u202Egnp.exe' }), 'invalid_field', 'changes.name', UNSAFE],
    ['bidirectional isolates in name', update({ name: '\u2066Ada\u2069' }), 'invalid_field', 'changes.name', UNSAFE],
    ['NUL in given_name', update({ given_name: 'Ada\u0000' }), 'invalid_field', 'changes.given_name', UNSAFE],
    ['a line feed in family_name', update({ family_name: 'Love\nlace' }), 'invalid_field', 'changes.family_name', UNSAFE],
    ['an escape sequence in name', update({ name: '\u001b[31mAda' }), 'invalid_field', 'changes.name', UNSAFE],
    ['a C1 control (NEL) in name', update({ name: 'Ada\u0085' }), 'invalid_field', 'changes.name', UNSAFE],
    ['a byte order mark in name', update({ name: 'Ada\uFEFF' }), 'invalid_field', 'changes.name', UNSAFE],
    ['a zero-width space in nickname', update({ nickname: 'ad\u200Bmin' }), 'invalid_field', 'changes.nickname', UNSAFE],
    ['a zero-width joiner between ASCII letters in nickname', update({ nickname: 'ad\u200Dmin' }), 'invalid_field', 'changes.nickname', UNSAFE],
    ['a Hangul filler (a blank name) as nickname', update({ nickname: '\u3164' }), 'invalid_field', 'changes.nickname', UNSAFE],
    ['invisible tag characters in nickname', update({ nickname: 'Ada\u{E0061}\u{E0064}\u{E006D}' }), 'invalid_field', 'changes.nickname', UNSAFE],
    ['a name of spaces only', update({ name: '   ' }), 'invalid_field', 'changes.name', /must contain a character other than spaces/],
    ['a space in username', update({ username: 'ada lovelace' }), 'invalid_field', 'changes.username', /must not contain spaces/],
    ['a right-to-left override in username', update({ username: 'ada\u202E' }), 'invalid_field', 'changes.username', UNSAFE],
    // Emails
    ['a changes.email over 254 characters', update({ email: `${'a'.repeat(64)}@${'b'.repeat(250)}.com` }), 'invalid_field', 'changes.email', /at most 254 characters/],
    // Pictures
    ['a picture with a user name and password', update({ picture: 'https://user:pass@cdn.example.com/a.png' }), 'invalid_field', 'changes.picture', /user name or password/],
    ['a picture whose host hides behind user information', update({ picture: 'https://cdn.example.com@evil.example/a.png' }), 'invalid_field', 'changes.picture', /user name or password/],
    ['a picture with a tab in its host (rewritten before)', update({ picture: 'https://exa\tmple.com/a.png' }), 'invalid_field', 'changes.picture', /URI/],
    ['a picture with a leading space (trimmed before)', update({ picture: ' https://cdn.example.com/a.png' }), 'invalid_field', 'changes.picture', /https: URL/],
    ['a picture with NUL', update({ picture: 'https://cdn.example.com/a\u0000.png' }), 'invalid_field', 'changes.picture', /URI/],
    ['a picture with a right-to-left override', update({ picture: 'https://cdn.example.com/\u202Egnp.png' }), 'invalid_field', 'changes.picture', /URI/],
    ['a picture that breaks out of an HTML attribute', update({ picture: 'https://cdn.example.com/a.png"onerror="alert(1)' }), 'invalid_field', 'changes.picture', /URI/],
    ['a picture with a look-alike (Cyrillic) host', update({ picture: 'https://\u0430pple.com/a.png' }), 'invalid_field', 'changes.picture', /URI/],
    ['a picture without a host (https:///)', update({ picture: 'https:///cdn.example.com/a.png' }), 'invalid_field', 'changes.picture', /URI/],
    ['a picture with a broken percent-escape', update({ picture: 'https://cdn.example.com/%zz.png' }), 'invalid_field', 'changes.picture', /URI/],
    ['a picture over 2048 characters', update({ picture: `https://cdn.example.com/${'a'.repeat(2_100)}` }), 'invalid_field', 'changes.picture', /at most 2048 characters/],
    // Routing fields
    ['NUL in changes.connection', update({ connection: 'db\u0000' }), 'invalid_field', 'changes.connection', /connection name/],
    ['a control character in changes.client_id', update({ client_id: 'abc\u0000' }), 'invalid_field', 'changes.client_id', /visible ASCII/],
    ['a right-to-left override in connection', { type: 'roles.remove', email: 'ada@example.com', connection: 'Username-Password-Authentication\u202E', roles: ['x'] }, 'invalid_field', 'connection', /connection name/],
    ['a space in connection', { type: 'roles.remove', email: 'ada@example.com', connection: 'my db', roles: ['x'] }, 'invalid_field', 'connection', /connection name/],
    // Metadata keys
    ['a right-to-left override in a metadata key', update({ user_metadata: { 'plan\u202E': 'pro' } }), 'invalid_field', 'changes.user_metadata', UNSAFE],
    ['NUL in a nested metadata key', update({ user_metadata: { prefs: [{ 'a\u0000': 1 }] } }), 'invalid_field', 'changes.user_metadata.prefs.0', UNSAFE],
    ['a dotted top-level metadata key (Auth0 answers 400)', update({ app_metadata: { 'plan.tier': 'pro' } }), 'invalid_field', 'changes.app_metadata', /must not contain "\." or "\$"/],
    ['a $ in a top-level metadata key', update({ app_metadata: { $set: 1 } }), 'invalid_field', 'changes.app_metadata', /must not contain "\." or "\$"/],
    // Role references, user ids, source
    ['a right-to-left override in a role', roles({ roles: ['admin\u202E'] }), 'invalid_roles', 'roles.0', UNSAFE],
    ['a zero-width space in a role', roles({ roles: ['ad\u200Bmin'] }), 'invalid_roles', 'roles.0', UNSAFE],
    ['a C1 control in a role', roles({ roles: ['admin\u009B31m'] }), 'invalid_roles', 'roles.0', UNSAFE],
    ['a role of spaces only', roles({ roles: ['   '] }), 'invalid_roles', 'roles.0', /other than spaces/],
    ['a right-to-left override in userId', { type: 'roles.assign', userId: 'auth0|\u202E1', roles: ['x'] }, 'invalid_user_id', 'userId', /invisible formatting/],
    ['a zero-width space in userId', { type: 'roles.assign', userId: 'auth0|\u200B1', roles: ['x'] }, 'invalid_user_id', 'userId', /invisible formatting/],
    ['a C1 control in userId', { type: 'roles.assign', userId: 'auth0|1\u0085', roles: ['x'] }, 'invalid_user_id', 'userId', /control characters/],
    ['a line feed in source (a forged log line)', roles({ source: 'crm\n{"level":"ERROR"}' }), 'invalid_field', 'source', UNSAFE],
    ['an escape sequence in source (the history command prints it)', roles({ source: 'crm\u001b[2J' }), 'invalid_field', 'source', UNSAFE],
    ['a right-to-left override in source', roles({ source: 'crm\u202E' }), 'invalid_field', 'source', UNSAFE],
  ])('refuses %s, naming the field and the rule', (_, job, code, field, rule) => {
    // Act
    const error = refusal(job);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code, retryable: false });
    expect((error as Error).message.startsWith(`${field}`)).toBe(true);
    expect((error as Error).message).toMatch(rule);
  });

  it('shows a hostile metadata key in its message with U+FFFD, never its control or bidirectional characters', () => {
    // Act
    const error = refusal(update({ user_metadata: { 'a\u202Eb\u0007': 1 } })) as Error;

    // Assess
    expect(error.message).toContain('changes.user_metadata.a\uFFFDb\uFFFD:');
    expect(error.message).not.toMatch(/[\u0000-\u001f\u202e]/);
  });

  it('names the rule an email breaks, not only the field', () => {
    // Act
    const messages = [update({ email: 'Ada <ada@example.com>' }), { type: 'roles.remove', email: ' ada@example.com', roles: ['x'] }].map((job) => (refusal(job) as Error).message);

    // Assess
    expect(messages).toEqual([expect.stringMatching(/^changes\.email: .*without a display name, spaces/), expect.stringMatching(/^email: .*without a display name, spaces/)]);
  });

  it.each([
    ['names in any script', update({ name: 'Zoë Ωmega', given_name: '李小龍', family_name: "O'Brien-Smith", nickname: '김민준' })],
    ['a Persian name with a zero-width non-joiner', update({ name: '\u0645\u062D\u0645\u062F\u200C\u0631\u0636\u0627' })],
    ['a Devanagari conjunct with a zero-width joiner', update({ name: '\u0915\u094D\u200D\u0937' })],
    ['emoji with variation selectors and joiners', update({ nickname: 'Ada \u2764\uFE0F \u{1F468}\u200D\u{1F469}\u200D\u{1F467} \u{1F3F3}\uFE0F\u200D\u{1F308}' })],
    ['the flag of Wales (tag characters in a flag emoji)', update({ nickname: 'Dai \u{1F3F4}\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}' })],
    ['a CJK ideographic variant', update({ family_name: '\u845B\u{E0100}\u57CE' })],
    ['a username with + and .', update({ username: 'ada.lovelace+1' })],
    ['emails with + tags and capitals', update({ email: 'Ada.Lovelace+news@Example.co.uk' })],
    ['an email of 254 characters', update({ email: `${'a'.repeat(64)}@${'b'.repeat(185)}.com` })],
    ["Auth0's own example picture (query, percent-escapes)", update({ picture: 'https://secure.gravatar.com/avatar/15626c5e0c749cb912f9d1ad48dba440?s=480&r=pg&d=https%3A%2F%2Fssl.gstatic.com%2Fs2%2Fprofiles%2Fimages%2Fsilhouette80.png' })],
    ['a picture with parentheses, a port, a fragment and an @ in its path', update({ picture: 'https://upload.example.org:8443/@ada/Example_(1).jpg?size=96#top' })],
    ['a picture on an IPv6 host', update({ picture: 'https://[2001:db8::1]/a.png' })],
    ['a picture in capitals', update({ picture: 'HTTPS://CDN.EXAMPLE.COM/A.PNG' })],
    ['a picture on an internationalized host, written in punycode', update({ picture: 'https://xn--r8jz45g.jp/a.png' })],
    ['metadata keys in any script, and dots below the top level', update({ user_metadata: { préférence: { 'example.com': true } } })],
    ['a connection name', { type: 'roles.remove', email: 'ada@example.com', connection: 'Username-Password-Authentication', roles: ['x'] }],
    ['roles and source in any script, with spaces', roles({ roles: ['管理者', 'Support Agent'], source: 'CRM – Zoë' })],
  ])('accepts %s, as written', (_, job) => {
    // Act
    const parsed = parseJob(JSON.stringify(job), open);

    // Assess
    expect(parsed).toEqual(job);
  });
});
