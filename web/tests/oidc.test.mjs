// The pure parts of the OpenID Connect sign-in (node --test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationUrl, base64url, claimsOf, pkceChallenge, randomToken, sessionOf } from '../src/oidc.js';

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
