// OpenID Connect sign-in for a deployed client: authorisation code with PKCE (S256) at the
// issuer the API's JWT authorizer trusts. The configuration is `app/config.json` beside
// the build (the stack output WebClientConfig, docs/DEPLOY.md); without it (ravis serve)
// the client uses the development sign-in.

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
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, token_endpoint: meta.token_endpoint }));
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
  history.replaceState(null, '', location.pathname + location.hash);
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
  const tokens = await response.json();
  return sessionOf(tokens.access_token);
}
