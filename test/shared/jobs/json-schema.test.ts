import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { JOB_SCHEMA_FILE, renderJobJsonSchema } from '../../../shared/jobs/write-json-schema.ts';
import { INVALID_JOBS, VALID_JOBS } from '../../helpers/jobs.ts';

const schema = JSON.parse(readFileSync(JOB_SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
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

  it('refuses the structurally bad jobs a producer can catch before sending', () => {
    // Prepare: policy, size and metadata-key rules belong to the deployment and the worker, not the schema
    const structural = INVALID_JOBS.filter(([, , code]) =>
      ['unknown_type', 'invalid_target', 'unknown_field', 'invalid_changes', 'invalid_roles', 'invalid_user_id', 'invalid_field'].includes(code),
    );

    // Act
    const accepted = structural.filter(([, body]) => validate(JSON.parse(body)));

    // Assess
    expect(structural.length).toBeGreaterThan(10);
    expect(accepted.map(([name]) => name)).toEqual([]);
  });
});
