import { describe, expect, it } from 'vitest';
import { boundedText, isSqsText } from '../../shared/text.ts';

describe('Function: boundedText()', () => {
  it('replaces every character SQS refuses and keeps the ones it accepts, emoji included', () => {
    // Act
    const text = boundedText('a\u0000b\u0001\t\n\r\uD800c\uDFFF\uFFFE\uFFFF😀', 100);

    // Assess
    expect(text).toBe('a\uFFFDb\uFFFD\t\n\r\uFFFDc\uFFFD\uFFFD\uFFFD😀');
    expect(isSqsText(text)).toBe(true);
  });

  it('cuts long text on a code point, never through a surrogate pair', () => {
    // Act
    const cut = boundedText(`${'x'.repeat(999)}😀😀`, 1_000);
    const pairs = boundedText('😀'.repeat(5_000), 1_000);

    // Assess
    expect(cut).toBe(`${'x'.repeat(999)}…`);
    expect(isSqsText(cut)).toBe(true);
    expect(Array.from(pairs)).toHaveLength(1_000);
    expect(isSqsText(pairs)).toBe(true);
  });

  it('leaves short clean text alone', () => {
    // Act & Assess
    expect(boundedText('user_not_found', 1_000)).toBe('user_not_found');
  });
});

describe('Function: isSqsText()', () => {
  it('follows the character ranges of the SendMessage API reference', () => {
    // Act & Assess
    expect(isSqsText('plain\ttext\n😀\uE000\uFFFD')).toBe(true);
    expect(isSqsText('nul\u0000')).toBe(false);
    expect(isSqsText('lone\uD800')).toBe(false);
    expect(isSqsText('\uFFFE')).toBe(false);
  });
});
