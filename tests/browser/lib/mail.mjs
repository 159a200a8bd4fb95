// Reads the mail ferrid writes as .eml files when no SMTP server is configured (the embedded
// default: <data dir>/mail), as a person would open it.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// The text with quoted-printable soft line breaks and =XX escapes undone (RFC 2045 §6.7).
function decodeQuotedPrintable(text) {
  const bytes = Buffer.from(text.replace(/=\r?\n/g, ''), 'latin1');
  const out = [];
  for (let i = 0; i < bytes.length; i++) {
    const hex = bytes.subarray(i + 1, i + 3).toString('latin1');
    if (bytes[i] === 0x3d && /^[0-9A-F]{2}$/i.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(bytes[i]);
    }
  }
  return Buffer.from(out).toString('utf8');
}

// The first match of `pattern` in any mail under `dir`, polled until `timeoutMs` passes.
export async function waitForMail(dir, pattern, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let names = [];
    try {
      names = readdirSync(dir).filter((name) => name.endsWith('.eml'));
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    for (const name of names) {
      const match = decodeQuotedPrintable(readFileSync(join(dir, name), 'utf8')).match(pattern);
      if (match) return match[0];
    }
    if (Date.now() > deadline) throw new Error(`no mail matching ${pattern} in ${dir} after ${timeoutMs} ms`);
    await sleep(100);
  }
}
