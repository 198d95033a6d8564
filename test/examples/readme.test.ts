/**
 * The README and the pages under docs/: every relative link and anchor resolves, and the examples they
 * show are the examples the tests install and run.
 */
import { createHash, createHmac } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALLOWED_FIELDS, JOB_TYPES, type Job } from '../../shared/jobs/schema.ts';
import { deduplicationIdFor, messageGroupFor } from '../../shared/producer/send-jobs.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/** The text outside fenced code blocks, where links and headings are. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped but `-` and `_`, spaces to `-`. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(path: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of prose(read(path)).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = anchorOf(heading ?? '');
    const count = seen.get(base) ?? 0;
    anchors.add(count === 0 ? base : `${base}-${count}`);
    seen.set(base, count + 1);
  }
  return anchors;
}

describe('Documentation', () => {
  it.each(pages)('%s: every relative link names a file of the repository, and every anchor a heading of it', (page) => {
    // Act
    const links = [...prose(read(page)).matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1] ?? '').filter((target) => !/^[a-z]+:/i.test(target));

    // Assess
    for (const link of links) {
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? page : normalize(join(dirname(page), path));
      expect(existsSync(join(root, target)), `${page}: ${link}`).toBe(true);
      if (anchor !== undefined) expect(anchorsOf(target), `${page}: ${link}`).toContain(anchor);
    }
  });

  it('the README stays a front door: under 300 lines, every job type named before its first section, every page of docs/ one click away', () => {
    // Act
    const readme = read('README.md');

    // Assess: the introduction said user-update and role-assignment only, when 4 of the 7 job types are organization jobs
    expect(readme.split('\n').length).toBeLessThan(300);
    const introduction = readme.slice(0, readme.indexOf('\n## '));
    for (const type of JOB_TYPES) expect(introduction).toContain(`\`${type}\``);
    for (const page of pages.filter((each) => each !== 'README.md')) expect(readme).toContain(`](${page})`);
  });

  it("the README's deploy path names exactly the fields a deployment allows by default", () => {
    // Act
    const readme = read('README.md');
    const sentence = /jobs may change only ([^;]+?), and no role or organization/s.exec(readme)?.[1] ?? '';

    // Assess
    expect([...sentence.matchAll(/`([a-z_]+)`/g)].map((match) => match[1])).toEqual([...DEFAULT_ALLOWED_FIELDS]);
  });

  it.each([
    ['docs/deploy.md', 'examples/cdk-app/src/app.ts'],
    ['docs/producers.md', 'examples/producer/src/send-jobs.ts'],
  ])('%s shows %s as it is, the example the tests install and run', (page, path) => {
    // Act & Assess
    expect(read(page)).toContain(`\`\`\`ts\n${read(path).trimEnd()}\n\`\`\``);
  });
});

describe('What the pages tell a producer', () => {
  const groupOf = (userId: string) => messageGroupFor({ type: 'user.update', userId, changes: { blocked: true }, jobId: 'j-1' } as Job);

  it('docs/producers.md states the rule by which a message group is hashed, and sendJobs follows it', () => {
    // Act: the page once said "sha256 when SQS could not carry it", leaving a producer in another language to guess when
    const rule = /longer than (\d+) characters \(the prefix counted\) or holding\s+anything but ASCII letters, digits and punctuation \(`!` to `~`[^)]*\), the group is `sha256:` and the lower-case hex SHA-256 of the text's UTF-8 bytes/.exec(read('docs/producers.md'));
    const longest = Number(rule?.[1]);

    // Assess: `id:` and the user id make the group
    expect(rule).not.toBeNull();
    expect(groupOf('x'.repeat(longest - 3))).toBe(`id:${'x'.repeat(longest - 3)}`);
    expect(groupOf('x'.repeat(longest - 2))).toBe(`sha256:${createHash('sha256').update(Buffer.from(`id:${'x'.repeat(longest - 2)}`, 'utf8')).digest('hex')}`);
    expect(groupOf('auth0|zoë')).toBe(`sha256:${createHash('sha256').update(Buffer.from('id:auth0|zoë', 'utf8')).digest('hex')}`);
    expect(groupOf('auth0|a!"#$%&()*+,-./:;<=>?@[]^_`{|}~')).toBe('id:auth0|a!"#$%&()*+,-./:;<=>?@[]^_`{|}~');
    expect(groupOf('auth0|a b')).toMatch(/^sha256:/);
  });

  it("docs/producers.md states how sendJobs makes a deduplication id, for a producer in another language to match", () => {
    // Act
    const rule = /`sendJobs` uses the base64url\s+HMAC-SHA256 of `([^`]+)`, a line break and the job id, under the producer's key/.exec(read('docs/producers.md'));
    const job = { type: 'user.update', userId: 'auth0|1', changes: { blocked: true }, jobId: 'crm-42' } as Job;

    // Assess
    expect(rule).not.toBeNull();
    expect(deduplicationIdFor(job, 'producer secret')).toBe(createHmac('sha256', 'producer secret').update(`${rule?.[1]}\n${job.jobId}`).digest('base64url'));
  });

  it.each(pages.filter((page) => page !== 'docs/producers.md'))('%s: where it tells a producer what to send on a FIFO queue, it points to the one list in docs/producers.md', (page) => {
    // Act: paragraphs and table rows that tell a producer which message group or deduplication id to use
    const told = prose(read(page))
      .split(/\n\s*\n|\n(?=\|)/)
      .filter((paragraph) => /\b(use|send each job with|give)\b[^.]*\b(message group|deduplication id|MessageGroupId|MessageDeduplicationId)/i.test(paragraph));

    // Assess: the rules were once in two places that said different things
    for (const paragraph of told) expect(paragraph, `${page}: ${paragraph.slice(0, 80)}…`).toMatch(/\]\((\.\/)?(docs\/)?producers\.md(#[^)]*)?\)/);
  });
});
