// TOTP codes as an authenticator app computes them (RFC 6238 with the defaults every app reads:
// HMAC-SHA-1, 30-second steps, 6 digits), from the base32 secret of the enrolment.

import { createHmac } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// RFC 4648 §6 base32, padding optional.
function base32Decode(text) {
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const index = ALPHABET.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

// RFC 4226 §5.3: HMAC-SHA-1 over the 8-byte counter, dynamic truncation, 6 digits.
export function hotp(secret, counter) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', base32Decode(secret)).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(number % 1_000_000).padStart(6, '0');
}

// RFC 6238 §4.2: the code of the 30-second step holding `unixSeconds`.
export const totp = (secret, unixSeconds) => hotp(secret, Math.floor(unixSeconds / 30));
