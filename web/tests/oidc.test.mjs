// The pure parts of the OpenID Connect sign-in (node --test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationUrl, base64url, claimsOf, pkceChallenge, randomToken, refreshDelay, refreshRequest, sessionFromTokens, sessionOf } from '../src/oidc.js';

test('the S256 challenge is RFC 7636 appendix B', async () => {
  assert.equal(
    await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  );
});

test('verifiers are 43 base64url characters and differ', () => {
  const a = randomToken();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, randomToken());
  assert.equal(base64url(new Uint8Array([251, 255])), '-_8');
});

test('the authorisation request carries the PKCE challenge and the state', () => {
  const url = new URL(
    authorizationUrl(
      'https://idp.example/auth?prompt=login',
      { client_id: 'ravis-web', redirect_uri: 'https://ravis.example/', scope: 'openid' },
      'st4te',
      'ch4llenge',
    ),
  );
  assert.equal(url.origin + url.pathname, 'https://idp.example/auth');
  assert.equal(url.searchParams.get('prompt'), 'login');
  assert.equal(url.searchParams.get('response_type'), 'code');
  assert.equal(url.searchParams.get('client_id'), 'ravis-web');
  assert.equal(url.searchParams.get('redirect_uri'), 'https://ravis.example/');
  assert.equal(url.searchParams.get('state'), 'st4te');
  assert.equal(url.searchParams.get('code_challenge'), 'ch4llenge');
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
});

test('the session takes roles and organisation from the token claims', () => {
  const payload = Buffer.from(JSON.stringify({ sub: 'dr-ozola', 'ravis:role': 'health_specialist', 'ravis:org': 'clinic-1', name: 'Ārste' }))
    .toString('base64url');
  const token = `e30.${payload}.sig`;
  assert.equal(claimsOf(token).name, 'Ārste');
  assert.deepEqual(sessionOf(token), { token, roles: ['health_specialist'], organisation: 'clinic-1', subject: 'dr-ozola' });
  const both = `e30.${Buffer.from(JSON.stringify({ 'ravis:role': ['a', 'b'] })).toString('base64url')}.s`;
  assert.deepEqual(sessionOf(both).roles, ['a', 'b']);
});

const tokenWith = (claims) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('a token answer gives the expiry and, with a refresh token, what renewing needs', () => {
  const access = tokenWith({ sub: 'u', 'ravis:role': 'health_specialist', 'ravis:org': 'clinic-1', exp: 2000 });
  const now = 1_000_000;
  const s = sessionFromTokens({ access_token: access, expires_in: 300, refresh_token: 'r1' }, now, 'https://idp.example/token');
  assert.equal(s.expires_at, now + 300_000);
  assert.equal(s.lifetime, 300);
  assert.equal(s.refresh_token, 'r1');
  assert.equal(s.token_endpoint, 'https://idp.example/token');
  assert.deepEqual(s.roles, ['health_specialist']);
  // Without expires_in the token's exp counts; without a refresh token nothing to renew with.
  const bare = sessionFromTokens({ access_token: access }, 1_000_000, 'https://idp.example/token');
  assert.equal(bare.lifetime, 1000);
  assert.equal(bare.expires_at, 2_000_000);
  assert.equal(bare.refresh_token, undefined);
  assert.equal(bare.token_endpoint, undefined);
  assert.throws(() => sessionFromTokens({ error: 'invalid_grant' }, now, 'x'), /access_token/);
});

test('renewal is due a fifth of the lifetime before expiry, 1 s to 60 s early', () => {
  const now = 0;
  assert.equal(refreshDelay({ expires_at: 300_000, lifetime: 300 }, now), 240_000);
  assert.equal(refreshDelay({ expires_at: 3_600_000, lifetime: 3600 }, now), 3_540_000); // at most 60 s early
  assert.equal(refreshDelay({ expires_at: 3_000, lifetime: 3 }, now), 2_000); // at least 1 s early
  assert.equal(refreshDelay({ expires_at: 10_000, lifetime: 60 }, 50_000), 0); // already due
  assert.equal(refreshDelay({ token: 't' }, now), null);
  assert.equal(refreshDelay(null, now), null);
});

test('the refresh request is RFC 6749 section 6', () => {
  const { url, body } = refreshRequest({ token_endpoint: 'https://idp.example/token', refresh_token: 'r/1+' }, 'ravis-web');
  assert.equal(url, 'https://idp.example/token');
  assert.equal(body.toString(), 'grant_type=refresh_token&refresh_token=r%2F1%2B&client_id=ravis-web');
});
