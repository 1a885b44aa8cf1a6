// The public HTTP API, as any client calls it: bearer token, JSON, RFC 9457 problems.

const SESSION_KEY = 'ravis.session';

// Where the API is: the page's own origin (ravis serve), or the deployed API's URL.
let apiBase = '';
export function setApiBase(base) {
  apiBase = (base || '').replace(/\/$/, '');
}

/** The signed-in session ({token, roles, organisation, subject}) or null. */
export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    return s && s.token ? s : null;
  } catch {
    return null;
  }
}

export function setSession(s) {
  if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION_KEY);
  window.dispatchEvent(new Event('ravis:session'));
}

/** Why the last session ended by itself ('expired'), shown on the sign-in page; null. */
export const NOTICE_KEY = 'ravis.signin.notice';
/** The hash route to return to after signing in again (kept when a session ends by itself). */
export const RETURN_KEY = 'ravis.returnTo';

/** Ends a session that ran out (not a sign-out): the sign-in page says so, and signing in
 * again returns to the page the user was on. */
export function endSession() {
  sessionStorage.setItem(NOTICE_KEY, 'expired');
  sessionStorage.setItem(RETURN_KEY, location.hash || '#/');
  setSession(null);
}

/** The page to return to after signing in again (taken once), or null. */
export function takeReturnRoute() {
  const to = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  sessionStorage.removeItem(NOTICE_KEY);
  return to;
}

// How a refused token is renewed (an OpenID Connect refresh token); null: it cannot be.
let renewer = null;
let renewing = null;
export function setRenewer(fn) {
  renewer = fn;
}

/** Renews the session once for everyone waiting (concurrent 401s share one refresh, so a
 * rotated refresh token is used once); resolves the new session or null. */
export function renewSession(s) {
  if (!renewer || !s || !s.refresh_token) return Promise.resolve(null);
  if (!renewing) {
    renewing = renewer(s)
      .then(
        (renewed) => {
          setSession(renewed);
          return renewed;
        },
        () => null,
      )
      .finally(() => {
        renewing = null;
      });
  }
  return renewing;
}

/** An API error: status, the problem body (title, detail, errors[{field, reason}]). */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  /** Field errors as {field: reason}. */
  fields() {
    const out = {};
    for (const e of this.problem.errors || []) out[e.field] = e.reason;
    return out;
  }
}

/** Calls the API; resolves {status, body, headers} or throws ApiError. A 401 renews the
 * session once (refresh token) and repeats the call; else the session ends. */
export async function api(method, path, options = {}, retried = false) {
  const { body, headers = {}, query } = options;
  const s = session();
  const h = { Accept: 'application/json', ...headers };
  if (s) h.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let url = apiBase + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const qs = q.toString();
    if (qs) url += `?${qs}`;
  }
  let response;
  try {
    response = await fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, { title: 'network', detail: String(e) });
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { detail: text.trim() };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && s) {
      const current = session();
      // Another call may have renewed the session meanwhile.
      if (!retried && current && current.token !== s.token) return api(method, path, options, true);
      const renewed = retried ? null : await renewSession(current);
      if (renewed) return api(method, path, options, true);
      if (session()) endSession();
    }
    throw new ApiError(response.status, parsed);
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Roles whose view of a child includes the personal code (docs/SECURITY.md). */
const CODE_READERS = ['health_specialist', 'registry_administrator', 'partner_system', 'municipality_social_service'];
/** Roles with the clinical view of assessments. */
const CLINICAL = ['health_specialist', 'registry_administrator', 'partner_system'];

export const seesPersonalCode = (s) => !!s && s.roles.some((r) => CODE_READERS.includes(r));
export const seesClinical = (s) => !!s && s.roles.some((r) => CLINICAL.includes(r));
export const seesGestation = seesClinical;
