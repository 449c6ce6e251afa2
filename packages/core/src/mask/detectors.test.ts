import { describe, expect, it } from 'vitest';
import type { DetectorName } from '../types.js';
import { DETECTOR_NAMES } from '../types.js';
import { detectors, ibanChecksumValid, IBAN_LENGTHS, luhnValid, ssnValid } from './detectors.js';

/** The matched substrings of `value` for one detector. */
function found(name: DetectorName, value: string): string[] {
  return detectors[name].find(value).map((s) => value.slice(s.start, s.end));
}
function expectOnly(name: DetectorName, value: string, match: string): void {
  expect(found(name, value), JSON.stringify(value)).toEqual([match]);
}
function expectNone(name: DetectorName, value: string): void {
  expect(found(name, value), JSON.stringify(value)).toEqual([]);
}

const JWT_HS256 =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const b64url = (s: string): string => Buffer.from(s).toString('base64url');
/** `body` + the Luhn check digit. */
function withCheck(body: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(body + d, 0, body.length + 1)) return body + d;
  throw new Error('unreachable');
}

describe('helpers', () => {
  it('luhn', () => {
    expect(luhnValid('4111111111111111', 0, 16)).toBe(true);
    expect(luhnValid('4111-1111-1111-1111', 0, 19)).toBe(true);
    expect(luhnValid('4111111111111112', 0, 16)).toBe(false);
    expect(luhnValid('79927398713', 0, 11)).toBe(true);
  });
  it('ssn ranges', () => {
    expect(ssnValid('123456789')).toBe(true);
    expect(ssnValid('000456789')).toBe(false);
    expect(ssnValid('666456789')).toBe(false);
    expect(ssnValid('900456789')).toBe(false);
    expect(ssnValid('123006789')).toBe(false);
    expect(ssnValid('123450000')).toBe(false);
    expect(ssnValid('12345678')).toBe(false);
  });
  it('iban checksum on published examples', () => {
    for (const iban of [
      'DE89370400440532013000',
      'GB29NWBK60161331926819',
      'FR1420041010050500013M02606',
      'NL91ABNA0417164300',
      'BE68539007547034',
      'CH9300762011623852957',
      'NO9386011117947',
      'MT84MALT011000012345MTLCAST001S',
      'AT611904300234573201',
    ]) {
      expect(ibanChecksumValid(iban, 0, iban.length), iban).toBe(true);
      expect(IBAN_LENGTHS[iban.slice(0, 2)], iban).toBe(iban.length);
    }
  });
  it('every detector ignores strings too short or without the needle, and returns the shared empty array', () => {
    for (const name of DETECTOR_NAMES) {
      const d = detectors[name];
      expect(d.find('')).toHaveLength(0);
      expect(d.find('Alice Johnson')).toHaveLength(0);
      expect(d.find('hello')).toBe(d.find('world'));
    }
  });
});

describe('credit_card', () => {
  it('finds common brands, contiguous and grouped', () => {
    for (const card of [
      '4111111111111111',
      '4111 1111 1111 1111',
      '4111-1111-1111-1111',
      '5555555555554444',
      '2223003122003222',
      '378282246310005',
      '3782 822463 10005',
      '6011000990139424',
      '3530111333300000',
      '30569309025904',
      '4222222222222',
      '6250941006528599',
    ]) {
      expectOnly('credit_card', card, card);
      expectOnly('credit_card', `card ${card} ok`, card);
    }
  });
  it('replaces only the number inside text, several per value', () => {
    const v = 'a 4111 1111 1111 1111, b 5555-5555-5555-4444.';
    expect(found('credit_card', v)).toEqual(['4111 1111 1111 1111', '5555-5555-5555-4444']);
  });
  it('keeps a following CVV or date out of the span', () => {
    expectOnly('credit_card', '4111 1111 1111 1111 123', '4111 1111 1111 1111');
    expectOnly('credit_card', '4111111111111111 12/27', '4111111111111111');
  });
  it('ignores Luhn-invalid numbers', () => {
    expectNone('credit_card', '4111111111111112');
    expectNone('credit_card', '4111 1111 1111 1112');
    expectNone('credit_card', '5555555555554443');
  });
  it('ignores implausible prefixes (timestamps, snowflake ids)', () => {
    for (const body of ['170000000000', '179999999999', '1700000000000000', '799273987130', '899273987130', '999273987130', '011111111111']) {
      const n = withCheck(body);
      expect(luhnValid(n, 0, n.length)).toBe(true);
      expectNone('credit_card', n);
      expectNone('credit_card', `id ${n}`);
    }
  });
  it('ignores too short, too long and glued numbers', () => {
    expectNone('credit_card', '411111111111'); // 12 digits
    expectNone('credit_card', '41111111111111111111'); // 20
    expectNone('credit_card', '4111111111111111' + '4111'); // 20, contains a valid card
    expectNone('credit_card', 'x4111111111111111');
    expectNone('credit_card', '4111111111111111x');
    expectNone('credit_card', '0.4111111111111111');
    expectNone('credit_card', '4111111111111111.25');
    expectNone('credit_card', '4111  1111 1111 1111'); // double space
    expectNone('credit_card', '41 11 11 11 11 11 11 11'); // tiny groups
    expectNone('credit_card', '4111--1111--1111--1111');
  });
  it('finds a card inside a longer separated chain', () => {
    expectOnly('credit_card', '12 4111 1111 1111 1111', '4111 1111 1111 1111');
  });
  it('is not fooled by dates, ips, phone numbers', () => {
    expectNone('credit_card', '2024-01-05 12:34:56.123456+00');
    expectNone('credit_card', '192.168.100.200');
    expectNone('credit_card', '+1 (415) 555-0132');
  });
});

describe('ssn', () => {
  it('finds the dashed form', () => {
    expectOnly('ssn', '123-45-6789', '123-45-6789');
    expectOnly('ssn', 'ssn: 123-45-6789.', '123-45-6789');
    expectOnly('ssn', '(078-05-1120)', '078-05-1120');
  });
  it('excludes invalid areas, groups and serials', () => {
    for (const v of ['000-12-3456', '666-12-3456', '900-12-3456', '999-12-3456', '123-00-4567', '123-45-0000']) {
      expectNone('ssn', v);
      expectNone('ssn', `SSN: ${v.replace(/-/g, '')}`);
    }
  });
  it('ignores longer dashed numbers and glued digits', () => {
    expectNone('ssn', '1123-45-6789');
    expectNone('ssn', '123-45-67890');
    expectNone('ssn', '123-45-6789-1');
    expectNone('ssn', '1-123-45-6789');
    expectNone('ssn', 'A123-45-6789');
    expectNone('ssn', '12.123-45-6789');
  });
  it('finds bare and spaced forms only after a label', () => {
    expectOnly('ssn', 'SSN: 123456789', '123456789');
    expectOnly('ssn', 'ssn=123 45 6789', '123 45 6789');
    expectOnly('ssn', 'Social Security Number: 123456789', '123456789');
    expectOnly('ssn', '{"ssn": "123456789"}', '123456789');
    expectNone('ssn', '123456789');
    expectNone('ssn', 'id 123456789 total');
    expectNone('ssn', 'SSN: 1234567890');
    expectNone('ssn', 'lessn 123456789');
  });
  it('does not read its own marker as a label', () => {
    expectNone('ssn', '[REDACTED:ssn] 123456789');
  });
  it('is not fooled by dates and phone numbers', () => {
    expectNone('ssn', '2024-01-05');
    expectNone('ssn', '415-555-0132');
    expectNone('ssn', '1-800-55-1234-5');
  });
});

describe('phone', () => {
  it('finds North American formats', () => {
    for (const p of ['(415) 555-0132', '(415)555-0132', '415-555-0132', '415.555.0132', '415 555 0132', '1-415-555-0132', '1 (415) 555-0132']) {
      expectOnly('phone', p, p);
      expectOnly('phone', `call ${p} now`, p);
    }
  });
  it('finds E.164 with and without separators', () => {
    for (const p of ['+14155550132', '+1 415 555 0132', '+1 (415) 555-0132', '+44 20 7946 0958', '+49 151 12345678', '+33 1 23 45 67 89', '+852 2345 6789']) {
      expectOnly('phone', p, p);
      expectOnly('phone', `tel:${p};x`, p);
    }
  });
  it('ignores plain integers, dates, times, ips, versions and order numbers', () => {
    for (const v of [
      '4155550132',
      '1234567890',
      'order 123456789012',
      'ORD-2024-000123',
      '2024-01-05',
      '2024-01-05 12:30:45',
      '2024-01-05T12:30:45+05:30',
      '12:30:45.123456',
      '192.168.100.200',
      '10.0.0.1',
      'v1.22.333.4444',
      '(123) 456-7890',
      '415-555-01325',
      '12-415-555-0132',
      '415-555-0132-7',
      '555-0132',
      '+1 234 56',
      '1e+10',
      'x+4155550132',
      'price 1,234,567.89',
    ]) {
      expectNone('phone', v);
    }
  });
});

describe('email', () => {
  it('finds addresses', () => {
    for (const e of ['bob@example.com', 'first.last+tag@sub.example.co.uk', 'a_b%c-d@ex-ample.io', 'X@Y.ORG']) {
      expectOnly('email', e, e);
      expectOnly('email', `mail <${e}> now`, e);
    }
  });
  it('trims a trailing sentence dot and leading dots', () => {
    expectOnly('email', 'write to bob@example.com.', 'bob@example.com');
    expectOnly('email', '...bob@example.com', 'bob@example.com');
    expectOnly('email', 'bob@example.com.5', 'bob@example.com');
  });
  it('finds several', () => {
    expect(found('email', 'a@b.co,c@d.io;e@f.net')).toEqual(['a@b.co', 'c@d.io', 'e@f.net']);
  });
  it('ignores non-addresses', () => {
    for (const v of ['bob@localhost', '@example.com', 'bob@', 'user@123.456', 'a@b.c', 'bob@@example.com', 'bob@-ex.com', 'bob@ex..com', '@@@', 'x @ y.com']) {
      expectNone('email', v);
    }
  });
});

describe('iban', () => {
  it('finds compact and spaced IBANs', () => {
    for (const iban of ['DE89370400440532013000', 'DE89 3704 0044 0532 0130 00', 'GB29 NWBK 6016 1331 9268 19', 'FR14 2004 1010 0505 0001 3M02 606', 'NO93 8601 1117 947', 'MT84MALT011000012345MTLCAST001S']) {
      expectOnly('iban', iban, iban);
      expectOnly('iban', `IBAN: ${iban}, thanks`, iban);
    }
  });
  it('stops at the country length even when text follows', () => {
    expectOnly('iban', 'DE89 3704 0044 0532 0130 00 EUR 12', 'DE89 3704 0044 0532 0130 00');
  });
  it('ignores wrong check digits, wrong lengths, unknown countries, lower case, glued', () => {
    expectNone('iban', 'DE88370400440532013000');
    expectNone('iban', 'DE89 3704 0044 0532 0130 01');
    expectNone('iban', 'DE8937040044053201300'); // 21
    expectNone('iban', 'DE893704004405320130000'); // 23
    expectNone('iban', 'DE89 3704 0044 0532 0130 0012');
    expectNone('iban', 'XX89370400440532013000');
    expectNone('iban', 'de89370400440532013000');
    expectNone('iban', 'ADE89370400440532013000');
    expectNone('iban', 'DE89370400440532013000a');
    expectNone('iban', 'DE89  3704 0044 0532 0130 00');
  });
});

describe('jwt', () => {
  it('finds JWS tokens', () => {
    expectOnly('jwt', JWT_HS256, JWT_HS256);
    expectOnly('jwt', `Authorization: Bearer ${JWT_HS256}`, JWT_HS256);
    expectOnly('jwt', `https://x.test/cb?token=${JWT_HS256}&a=1`, JWT_HS256);
  });
  it('finds unsigned (alg none) and JWE tokens', () => {
    const none = `${b64url('{"alg":"none"}')}.${b64url('{"sub":"x"}')}.`;
    expectOnly('jwt', `t=${none} end`, none);
    const jwe = `${b64url('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.abc-_def.iv_iv.cipher-text.tag_tag`;
    expectOnly('jwt', jwe, jwe);
  });
  it('ignores lookalikes', () => {
    expectNone('jwt', `${b64url('{"typ":"JWT"}')}.${b64url('{}')}.sig`); // no alg
    expectNone('jwt', `${b64url('{"alg":1}')}.${b64url('{}')}.sig`);
    expectNone('jwt', `${b64url('["alg"]')}.e30.sig`);
    expectNone('jwt', `${b64url('{"alg":"HS256"')}.e30.sig`); // not JSON
    expectNone('jwt', `${b64url('{"alg":"HS256"}')}.${b64url('{}')}`); // two segments
    expectNone('jwt', `${b64url('{"alg":"HS256"}')}..sig`); // empty payload
    expectNone('jwt', `x${JWT_HS256}`); // glued
    expectNone('jwt', 'eyJeyJeyJ.eyJ.eyJ');
  });
});

describe('aws_access_key', () => {
  it('finds access key ids', () => {
    expectOnly('aws_access_key', 'AKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE');
    expectOnly('aws_access_key', 'aws_access_key_id=ASIAY34FZKBOKMUTVV7A\n', 'ASIAY34FZKBOKMUTVV7A');
    expectOnly('aws_access_key', '"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"', 'AKIAIOSFODNN7EXAMPLE');
  });
  it('finds secret keys next to a label', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    expectOnly('aws_access_key', `aws_secret_access_key = ${secret}`, secret);
    expectOnly('aws_access_key', `"SecretAccessKey": "${secret}",`, secret);
    expectOnly('aws_access_key', `AWS_SECRET_ACCESS_KEY=${secret}`, secret);
    expectOnly('aws_access_key', `secret_key: '${secret}'`, secret);
    expectNone('aws_access_key', `value ${secret}`); // no label
    expectNone('aws_access_key', `aws_secret_access_key = ${secret}X`); // 41 chars
  });
  it('ignores lookalikes', () => {
    expectNone('aws_access_key', 'AKIAIOSFODNN7EXAMPL'); // 19
    expectNone('aws_access_key', 'AKIAIOSFODNN7EXAMPLEX'); // 21
    expectNone('aws_access_key', 'XAKIAIOSFODNN7EXAMPLE');
    expectNone('aws_access_key', 'akiaiosfodnn7example');
    expectNone('aws_access_key', 'AIDAIOSFODNN7EXAMPLE');
  });
});

describe('private_key', () => {
  const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7+/abc=\n';
  it('finds PEM blocks of every flavour', () => {
    for (const label of ['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'PGP PRIVATE KEY BLOCK']) {
      const block = `-----BEGIN ${label}-----\n${body}-----END ${label}-----`;
      expectOnly('private_key', `key:\n${block}\nafter`, block);
    }
  });
  it('runs an unterminated block to the end of the value', () => {
    const v = `x -----BEGIN RSA PRIVATE KEY-----\n${body}`;
    expectOnly('private_key', v, v.slice(2));
  });
  it('accepts a mismatched END line', () => {
    const v = `-----BEGIN RSA PRIVATE KEY-----\n${body}-----END PRIVATE KEY-----\nafter`;
    expectOnly('private_key', v, v.slice(0, -6));
  });
  it('finds two blocks', () => {
    const b = `-----BEGIN PRIVATE KEY-----\n${body}-----END PRIVATE KEY-----`;
    expect(found('private_key', `${b}\n\n${b}`)).toEqual([b, b]);
  });
  it('ignores public material', () => {
    expectNone('private_key', `-----BEGIN PUBLIC KEY-----\n${body}-----END PUBLIC KEY-----`);
    expectNone('private_key', `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----`);
    expectNone('private_key', `-----BEGIN OPENSSH PUBLIC KEY-----`);
  });
});

describe('escaped text (JSON / C escapes, URL encoding) is a boundary', () => {
  it('finds values right after backslash escapes and %XX', () => {
    expectOnly('credit_card', 'card:\\n4111111111111111', '4111111111111111');
    expectOnly('credit_card', '"card:\\t4111 1111 1111 1111"', '4111 1111 1111 1111');
    expectOnly('credit_card', 'card%3D4111111111111111', '4111111111111111');
    expectOnly('ssn', 'ssn\\n123-45-6789', '123-45-6789');
    expectOnly('phone', 'tel\\n+14155550132', '+14155550132');
    expectOnly('phone', 'tel\\u0020(415) 555-0132', '(415) 555-0132');
    expectOnly('iban', 'iban\\nDE89370400440532013000', 'DE89370400440532013000');
    expectOnly('aws_access_key', 'key\\x3dAKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE');
    expectOnly('jwt', `%7B%22t%22%3A%22${JWT_HS256}%22%7D`, JWT_HS256);
    expectOnly('jwt', `bearer\\n${JWT_HS256}`, JWT_HS256);
    // over-masking the escape letter is acceptable for email (no leak)
    expect(found('email', 'to\\nbob@example.com')[0]).toContain('bob@example.com');
  });
  it('plain glued letters still block', () => {
    expectNone('credit_card', 'card:n4111111111111111');
    expectNone('aws_access_key', 'x3dAKIAIOSFODNN7EXAMPLE');
  });
});

describe('regressions', () => {
  it('an E.164 run that goes on too long backs off instead of being dropped', () => {
    expectOnly('phone', '+44 20 7946 0958  123-45-6789', '+44 20 7946 0958');
    expectOnly('phone', '+1 415 555 0132 7777-', '+1 415 555 0132 7777');
  });
});

describe('linear time on adversarial 1 MB inputs', () => {
  const MB = 1 << 20;
  const fill = (unit: string): string => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);
  const inputs: Record<string, string> = {
    digits: fill('4'),
    'digit groups': fill('4111 '),
    'tiny groups': fill('1 '),
    'dashed ssn-ish': fill('123-45-'),
    'ssn labels': fill('ssn: 12 '),
    phones: fill('(222) 222 '),
    'plus signs': fill('+1 2'),
    ats: fill('a@'),
    'long local': fill('a') + '@',
    'dotted domain': 'a@' + fill('a.'),
    'iban starts': fill('DE89 '),
    'iban starts compact': fill('DE8937040044'),
    'eyJ runs': fill('eyJ'),
    'eyJ segments': fill('eyJa.'),
    'AKIA runs': fill('AKIA'),
    'secret labels': fill('secret_key='),
    'BEGIN lines': fill('-----BEGIN '),
    'BEGIN PRIVATE KEY': fill('-----BEGIN PRIVATE KEY-----'),
    'BEGIN label near miss': fill('-----BEGIN AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA '),
    mixed: fill('4111-1111 a@b. eyJ +1 (415) 555 DE89 AKIA ssn '),
  };
  for (const [label, value] of Object.entries(inputs)) {
    it(label, () => {
      const t0 = performance.now();
      for (const name of DETECTOR_NAMES) detectors[name].find(value);
      const ms = performance.now() - t0;
      expect(ms, `${label}: ${ms.toFixed(0)} ms`).toBeLessThan(1500);
    });
  }
});
