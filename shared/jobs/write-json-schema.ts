/**
 * Writes the published JSON Schema of the job contract (`npm run schema`).
 * A test fails when the committed file and the zod source disagree.
 */
import { writeFileSync } from 'node:fs';
import { createJobJsonSchema } from './schema.ts';

/** Where the published schema lives, beside its source. */
export const JOB_SCHEMA_FILE = new URL('./job.schema.json', import.meta.url);

/** The schema file's exact text. */
export function renderJobJsonSchema(): string {
  return `${JSON.stringify(createJobJsonSchema(), null, 2)}\n`;
}

if (import.meta.main) {
  // No flags: --help says what it does without writing the file, anything else is a usage error.
  const { readScriptArgs } = await import('../../local/script-args.ts');
  readScriptArgs({}, 'Usage: npm run schema\n\nWrites shared/jobs/job.schema.json from the contract\'s source (a test fails when they differ). No flags.\n');
  writeFileSync(JOB_SCHEMA_FILE, renderJobJsonSchema());
  console.log(`wrote ${JOB_SCHEMA_FILE.pathname}`);
}
