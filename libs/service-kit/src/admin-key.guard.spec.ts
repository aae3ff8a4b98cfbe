import { bearerToken, secretMatches } from './admin-key.guard.js';

test('bearer tokens are parsed and compared exactly', () => {
  expect(bearerToken('Bearer abc ')).toBe('abc');
  expect(bearerToken('bearer abc')).toBe('abc');
  expect(bearerToken('Basic abc')).toBeUndefined();
  expect(bearerToken(undefined)).toBeUndefined();
  expect(secretMatches('abc', 'abc')).toBe(true);
  expect(secretMatches('abd', 'abc')).toBe(false);
  expect(secretMatches('ab', 'abc')).toBe(false);
  expect(secretMatches(undefined, 'abc')).toBe(false);
});
