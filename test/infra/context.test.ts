import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { readDeploymentContext } from '../../infra/context.ts';

const reader = (values: Record<string, unknown>) => (key: string) => values[key];

describe('Function: readDeploymentContext()', () => {
  it('turns cdk.json / -c values into typed construct props, leaving unset ones to the defaults', () => {
    // Act
    const props = readDeploymentContext(
      reader({
        auth0Domain: 'acme.eu.auth0.com',
        secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-m2m-AbCdEf',
        fifo: 'true',
        maxConcurrency: '5',
        rateLimitReserve: '0.3',
        auth0Plan: 'enterprise',
        timeoutSeconds: 45,
        maxJobAgeHours: '48',
        deadLetterRetentionDays: '3',
        logLevel: 'debug',
        ordering: 'unordered',
        ledgerRetentionDays: '30',
        issuedAtSkewSeconds: 0,
        secretKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        allowedRoles: 'support-agent, rol_abc',
        schedules: '[{"name":"Nightly","expression":"rate(1 day)","job":{"type":"roles.assign","userId":"auth0|x","roles":["r"]}}]',
        syncs: '[{"name":"hr","expression":"cron(0 3 * * ? *)","bucket":"hr","key":"users.jsonl","managedRoles":["support-agent"]}]',
      }),
    );

    // Assess
    expect(props).toMatchObject({ auth0Domain: 'acme.eu.auth0.com', fifo: true, maxConcurrency: 5, rateLimitReserve: 0.3, auth0Plan: 'enterprise', allowedRoles: ['support-agent', 'rol_abc'] });
    expect(props.timeout?.toSeconds()).toBe(Duration.seconds(45).toSeconds());
    expect(props.maxJobAge?.toHours()).toBe(48);
    expect(props.deadLetterRetention?.toDays()).toBe(3);
    expect(props.logLevel).toBe('DEBUG');
    expect(props.ordering).toBe('unordered');
    expect(props.ledgerRetention?.toDays()).toBe(30);
    expect(props.issuedAtSkew?.toSeconds()).toBe(0);
    expect(props.secretKeyArn).toContain(':key/');
    expect(props.schedules?.[0]?.name).toBe('Nightly');
    expect(props.syncs?.[0]).toMatchObject({ name: 'hr', bucket: 'hr', managedRoles: ['support-agent'] });
    expect(props).not.toHaveProperty('batchSize');
  });

  it('leaves ordering, ledger retention, issuedAt skew and dead-letter retention to the construct\'s defaults when unset', () => {
    // Act
    const props = readDeploymentContext(reader({ auth0Domain: 'acme.eu.auth0.com', ordering: '', ledgerRetentionDays: '', deadLetterRetentionDays: '' }));

    // Assess
    for (const key of ['ordering', 'ledgerRetention', 'issuedAtSkew', 'deadLetterRetention']) expect(props).not.toHaveProperty(key);
  });

  it('names every problem with its key and how to fix it', () => {
    // Act
    const error = (() => {
      try {
        readDeploymentContext(reader({ secretArn: 'auth0-m2m', maxConcurrency: '1', rateLimitShare: '2', auth0Plan: 'pro', maxReceiveCount: '3', fifo: 'yes', producerRoleArns: 'crm', schedules: '{', syncs: '[{}]', logLevel: 'verbose', ordering: 'fifo', ledgerRetentionDays: '14', issuedAtSkewSeconds: '3601', allowHttpPictures: 'yes', deadLetterRetentionDays: '15' }));
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('accepted');
    })();

    // Assess
    for (const text of ['auth0Domain is required: npx cdk deploy -c auth0Domain=', 'secretArn must be the complete ARN', 'maxConcurrency must be an integer from 2', 'maxReceiveCount must be an integer from 5', 'rateLimitShare must be a number from 0.05 to 1', 'auth0Plan must be one of free, essentials, professional, enterprise, enterprise-non-production (got pro)', 'fifo must be true or false', 'producerRoleArns: crm', 'schedules must be a JSON array', 'syncs must be a JSON array', 'logLevel must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL (got VERBOSE)', 'ordering must be ledger (the default) or unordered (got fifo)', 'ledgerRetentionDays must be an integer from 15 to 3650 (got 14)', 'issuedAtSkewSeconds must be an integer from 0 to 3600 (got 3601)', 'allowHttpPictures must be true or false', 'deadLetterRetentionDays must be an integer from 1 to 14 (got 15)']) {
      expect(error.message).toContain(text);
    }
  });
});
