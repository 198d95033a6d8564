import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('README: In your own code', () => {
  it.each(['examples/cdk-app/src/app.ts', 'examples/producer/src/send-jobs.ts'])('shows %s as it is, the example the tests install and run', (path) => {
    // Act & Assess
    expect(read('README.md')).toContain(`\`\`\`ts\n${read(path).trimEnd()}\n\`\`\``);
  });
});
