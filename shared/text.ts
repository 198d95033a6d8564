/**
 * Characters SQS refuses in a message body or a string attribute: anything outside
 * `#x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF` (NUL, other control characters, lone
 * surrogates, U+FFFE and U+FFFF). With the `u` flag a lone surrogate is one code point, so it is matched too.
 * See the SendMessage API reference, and ../shared/aws/FACTS.md.
 */
const REFUSED_BY_SQS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/**
 * Makes text safe to put in an SQS string attribute or a log line: every character SQS would refuse
 * becomes U+FFFD, and text longer than `maxChars` code points is cut on a code point (never through a
 * surrogate pair) and ends with `…`.
 *
 * @example
 * boundedText('key\u0000\uD800', 1_000); // 'key\uFFFD\uFFFD'
 */
export function boundedText(value: string, maxChars: number): string {
  // Cut first (cheap for huge input), on a code point boundary: one code point is at most two UTF-16 units.
  let text = value;
  if (text.length > maxChars) {
    const points = Array.from(text.slice(0, maxChars * 2 + 2));
    if (points.length > maxChars) text = `${points.slice(0, maxChars - 1).join('')}…`;
  }
  return text.replace(REFUSED_BY_SQS, '\uFFFD');
}

/** True when SQS would accept `value` as a body or string attribute, character by character. */
export function isSqsText(value: string): boolean {
  REFUSED_BY_SQS.lastIndex = 0;
  return !REFUSED_BY_SQS.test(value);
}
