/**
 * Runs after every other test file (its own vitest project, ordered last): reads every log the run wrote and
 * looks for tokens and for each client secret the tests used.
 */
import { describe, expect, it } from 'vitest';
import { secretsUsed, suiteLogs } from '../helpers/suite-logs.ts';

/** A JWT: a base64url JSON header and payload (`{"` encodes as `eyJ`), then the signature's dot. */
const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}\./;

describe('Every log the test run wrote', () => {
  it('holds no token and no client secret, in the functions, the commands and the loggers alike', () => {
    // Prepare: what the run wrote, by source (file names are <source>-<pid>-<n>.log)
    const logs = suiteLogs();
    const secrets = secretsUsed();
    const sources = new Set(logs.map(({ file }) => /^(.+)-\d+-\d+\.log$/.exec(file)?.[1]));
    const lines = logs.flatMap(({ file, text }) => text.split('\n').map((line, index) => ({ at: `${file}:${index + 1}`, line })));

    // The check has something to check: the whole run's logs, and the secrets its stacks and tests used
    expect([...sources].sort(), 'run the whole suite (npm test): this check reads the logs of every other test file').toEqual(
      expect.arrayContaining(['cli', 'client', 'fuzz', 'process-jobs', 'stack', 'token', 'worker-process']),
    );
    expect(lines.filter(({ line }) => line.includes('"function_request_id"')).length).toBeGreaterThan(100);
    expect(secrets.length).toBeGreaterThanOrEqual(10);

    // Act
    const findings: string[] = [];
    for (const { at, line } of lines) {
      if (JWT.test(line)) findings.push(`${at}: a JWT`);
      // Named by position and length only: the finding itself must not print the secret.
      secrets.forEach((secret, index) => {
        if (line.includes(secret)) findings.push(`${at}: client secret #${index + 1} (${secret.length} characters)`);
      });
    }

    // Assess
    expect(findings).toEqual([]);
  });
});
