// OpenID Connect sign-in for a deployed client: authorisation code with PKCE (S256) at the
// issuer the API's JWT authorizer trusts. The configuration is `app/config.json` beside
// the build (the stack output WebClientConfig, docs/DEPLOY.md, or `ravis serve --web-config`);
// without it the client uses the development sign-in.

import { RETURN_KEY } from './api.js';

const PENDING_KEY = 'ravis.oidc.pending';

/** base64url without padding. */
export function base64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A random PKCE verifier or state: 32 random bytes, base64url (43 characters). */
export function randomToken() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The S256 code challenge of a verifier (RFC 7636, section 4.2). */
export async function pkceChallenge(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(digest);
}

/** The authorisation request URL. */
export function authorizationUrl(endpoint, oidc, state, challenge) {
  const url = new URL(endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', oidc.client_id);
  url.searchParams.set('redirect_uri', oidc.redirect_uri);
  url.searchParams.set('scope', oidc.scope || 'openid');
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  return url.toString();
}

/** The claims of a JWT's payload (display only: the API verifies the token). */
export function claimsOf(token) {
  const part = token.split('.')[1] || '';
  const binary = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
}

/** The session the client keeps for an access token: roles and organisation from its claims. */
export function sessionOf(token) {
  const claims = claimsOf(token);
  const roles = claims['ravis:role'];
  return {
    token,
    roles: Array.isArray(roles) ? roles : roles ? [roles] : [],
    organisation: claims['ravis:org'] || '',
    subject: claims.sub || '',
  };
}

/** The session of a token endpoint's answer at `now` (ms): the access token's roles and
 * organisation, when it expires (`expires_in`, else the token's `exp`), and — with a
 * refresh token — what renewing it needs. */
export function sessionFromTokens(tokens, now, tokenEndpoint) {
  if (!tokens || typeof tokens.access_token !== 'string') throw new Error('the token answer has no access_token');
  const s = sessionOf(tokens.access_token);
  const exp = claimsOf(tokens.access_token).exp;
  const lifetime = Number(tokens.expires_in) > 0 ? Number(tokens.expires_in) : typeof exp === 'number' ? exp - Math.floor(now / 1000) : null;
  if (lifetime != null) {
    s.expires_at = now + lifetime * 1000;
    s.lifetime = lifetime;
  }
  if (tokens.refresh_token) {
    s.refresh_token = tokens.refresh_token;
    s.token_endpoint = tokenEndpoint;
  }
  return s;
}

/** Milliseconds from `now` until the access token should be renewed: a fifth of its lifetime
 * before it expires (at least 1 s, at most 60 s before); 0 when that time has passed;
 * null when its expiry is unknown. */
export function refreshDelay(s, now) {
  if (!s || !s.expires_at) return null;
  const margin = Math.min(60000, Math.max(1000, ((s.lifetime || 0) * 1000) / 5));
  return Math.max(0, s.expires_at - margin - now);
}

/** The refresh request (RFC 6749, section 6) of a session: its URL and form body. */
export function refreshRequest(s, clientId) {
  return {
    url: s.token_endpoint,
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: s.refresh_token, client_id: clientId }),
  };
}

/** Renews a session with its refresh token; the new session keeps the refresh token when
 * the answer brings none (no rotation). Throws when the token endpoint refuses. */
export async function refreshSession(s, config) {
  if (!s || !s.refresh_token) throw new Error('no refresh token');
  const { url, body } = refreshRequest(s, config.oidc.client_id);
  const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
  if (!response.ok) throw new Error(`refresh failed: HTTP ${response.status}`);
  const tokens = await response.json();
  return sessionFromTokens({ refresh_token: s.refresh_token, ...tokens }, Date.now(), s.token_endpoint);
}

/** `app/config.json`, or null where there is none (the local host). */
export async function loadConfig() {
  try {
    const response = await fetch('/app/config.json', { headers: { Accept: 'application/json' } });
    if (!response.ok) return null;
    const config = await response.json();
    return config && config.oidc && config.oidc.issuer && config.oidc.client_id ? config : null;
  } catch {
    return null;
  }
}

async function discover(issuer) {
  const response = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`discovery failed: HTTP ${response.status}`);
  return response.json();
}

/** Sends the browser to the identity provider. */
export async function startSignIn(config) {
  const meta = await discover(config.oidc.issuer);
  const verifier = randomToken();
  const state = randomToken();
  // The identity provider sends the browser back to redirect_uri: the page it was on is
  // kept here and restored on the way back.
  const returnTo = sessionStorage.getItem(RETURN_KEY) || location.hash;
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, token_endpoint: meta.token_endpoint, return_to: returnTo }));
  location.assign(authorizationUrl(meta.authorization_endpoint, config.oidc, state, await pkceChallenge(verifier)));
}

/** On the way back (`?code=…&state=…`): exchanges the code for tokens; null when not returning. */
export async function completeSignIn(config, search = location.search) {
  const params = new URLSearchParams(search);
  const code = params.get('code');
  const error = params.get('error');
  if (!code && !error) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
  sessionStorage.removeItem(PENDING_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  history.replaceState(null, '', location.pathname + ((pending && pending.return_to) || location.hash));
  if (error) throw new Error(`${error}: ${params.get('error_description') || ''}`);
  if (!pending || params.get('state') !== pending.state) throw new Error('the sign-in answer does not match the request (state)');
  const response = await fetch(pending.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: config.oidc.redirect_uri,
      client_id: config.oidc.client_id,
      code_verifier: pending.verifier,
    }),
  });
  if (!response.ok) throw new Error(`token request failed: HTTP ${response.status}`);
  return sessionFromTokens(await response.json(), Date.now(), pending.token_endpoint);
}
