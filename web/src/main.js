// RAVIS web client: Preact + htm, hash routes, the public API only.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, endSession, NOTICE_KEY, renewSession, session, setApiBase, setRenewer, setSession, seesPersonalCode, seesGestation, takeReturnRoute } from './api.js';
import { completeSignIn, loadConfig, refreshDelay, refreshSession, startSignIn } from './oidc.js';
import { currentLang, setLang, t, formatDate } from './i18n.js';
import { html, parseHash, go, Page, ErrorBox, Field, Loader } from './ui.js';
import { ScreeningForm, ScreeningResult } from './screening.js';
import { ReferForm } from './refer.js';
import { AuditReport, Duplicates, EditChild } from './admin.js';
import { ChildHistory, Episodes, ReferralView } from './child.js';
import { EditEpisode } from './episode.js';
import { IntakeJob, IntakeJobs } from './intake.js';
import { AuditEntries, BreakGlassReport } from './dpo.js';

const has = (s, role) => !!s && s.roles.includes(role);
/** Roles that read children and worklists (the data protection officer reads the audit only). */
const readsChildren = (s) => !!s && s.roles.some((r) => r !== 'data_protection_officer');

const ROLES = [
  'health_specialist',
  'education_specialist',
  'programme_provider',
  'municipality_social_service',
  'registry_administrator',
  'data_protection_officer',
];

/** Said on the sign-in page when the last session ran out by itself. */
function ExpiredNotice() {
  return sessionStorage.getItem(NOTICE_KEY) === 'expired' ? html`<p class="notice" role="alert" id="signin-notice">${t('sessionExpired')}</p>` : null;
}

/** Sign-in at the identity provider (a deployed client with app/config.json). */
function OidcSignIn({ config, error: bootError }) {
  const [error, setError] = useState(bootError || null);
  const start = async () => {
    setError(null);
    try {
      await startSignIn(config);
    } catch (e) {
      setError(e);
    }
  };
  return html`<${Page} title=${t('signIn')}>
    <${ExpiredNotice} />
    <p>${t('oidcNote', { issuer: config.oidc.issuer })}</p>
    ${error && html`<p class="error" role="alert">${t('error')}: ${String(error.message || error)}</p>`}
    <button type="button" onClick=${start}>${t('signIn')}</button>
  <//>`;
}

function SignIn({ onSignedIn }) {
  const [role, setRole] = useState('health_specialist');
  const [org, setOrg] = useState('clinic-1');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { body } = await api('POST', '/dev/token', { body: { roles: [role], organisation: org.trim() } });
      const lifetime = Number(body.expires_in) || null;
      setSession({
        token: body.token,
        roles: body.roles,
        organisation: body.organisation,
        subject: body.subject,
        ...(lifetime ? { expires_at: Date.now() + lifetime * 1000, lifetime } : {}),
      });
      onSignedIn();
      go(takeReturnRoute() || '/');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Page} title=${t('devSignIn')}>
    <${ExpiredNotice} />
    <p>${t('devSignInNote')}</p>
    ${error && error.status === 404 ? html`<p class="error" role="alert">${t('devSignInOff')}</p>` : html`<${ErrorBox} error=${error} />`}
    <form onSubmit=${submit} class="narrow">
      <${Field} id="role" label=${t('role')}>
        ${(a) => html`<select ...${a} value=${role} onChange=${(e) => setRole(e.target.value)}>
          ${ROLES.map((r) => html`<option value=${r}>${t(`roles.${r}`)}</option>`)}
        </select>`}
      <//>
      <${Field} id="organisation" label=${t('organisation')} hint=${t('organisationHint')}>
        ${(a) => html`<input ...${a} value=${org} onInput=${(e) => setOrg(e.target.value)} required autocomplete="organization" />`}
      <//>
      <button type="submit" disabled=${busy}>${t('signIn')}</button>
    </form>
  <//>`;
}

function Worklist() {
  return html`<${Page} title=${t('worklist')}>
    <${Loader}
      load=${() => api('GET', '/worklist').then((r) => r.body)}
      deps=${[]}
      render=${(w) =>
        w.items.length === 0
          ? html`<p>${t('worklistEmpty')}</p>`
          : html`<table>
              <caption class="visually-hidden">${t('worklist')}</caption>
              <thead><tr><th scope="col">${t('due')}</th><th scope="col">${t('kind')}</th><th scope="col">${t('child')}</th><th scope="col">${t('subject')}</th></tr></thead>
              <tbody>
                ${w.items.map(
                  (i) => html`<tr class=${i.overdue ? 'overdue' : ''}>
                    <td>${formatDate(i.due_on)}<br /><span class=${i.overdue ? 'badge warn' : 'muted'}>${i.overdue ? t('overdueDays', { n: i.days_overdue }) : t('notOverdue')}</span></td>
                    <td>${t(`kinds.${i.kind}`)}</td>
                    <td>${i.child.given_name ? html`<a href=${`#/children/${i.child.id}`}>${i.child.given_name} ${i.child.family_name}</a> <span class="muted">${formatDate(i.child.birth_date)}</span>` : t('childOnlyId')}</td>
                    <td>${i.link && i.link.startsWith('/referrals/')
                      ? html`<a href=${`#${i.link}`}>${i.subject || t('referral')}</a>`
                      : i.link && i.link.startsWith('/support-episodes/')
                        ? html`<a href=${`#${i.link}/edit`}>${i.subject || t('editEpisode')}</a>`
                        : i.subject || ''}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
    />
  <//>`;
}

function ChildTable({ items }) {
  if (!items.length) return html`<p>${t('noChildren')}</p>`;
  const s = session();
  return html`<table>
    <caption class="visually-hidden">${t('children')}</caption>
    <thead><tr><th scope="col">${t('child')}</th><th scope="col">${t('birthDate')}</th>${seesPersonalCode(s) && html`<th scope="col">${t('personalCode')}</th>`}<th scope="col">${t('risk')}</th></tr></thead>
    <tbody>
      ${items.map(
        (c) => html`<tr>
          <td><a href=${`#/children/${c.id}`}>${c.given_name} ${c.family_name}</a></td>
          <td>${formatDate(c.birth_date)}</td>
          ${seesPersonalCode(s) && html`<td>${c.personal_code || ''}</td>`}
          <td>${c.overall_risk ? t(`levels.${c.overall_risk}`) : c.needs_support === true ? t('needsSupport') : ''}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

function Children() {
  const [name, setName] = useState('');
  const [born, setBorn] = useState('');
  const [query, setQuery] = useState({});
  const [code, setCode] = useState('');
  const [found, setFound] = useState(null);
  const [codeError, setCodeError] = useState(null);
  const s = session();
  const findByCode = async (e) => {
    e.preventDefault();
    setCodeError(null);
    try {
      const { body } = await api('POST', '/children/search', { body: { personal_code: code } });
      setFound(body.items || (body.id ? [body] : []));
    } catch (err) {
      if (err.status === 404) setFound([]);
      else setCodeError(err);
    }
  };
  return html`<${Page} title=${t('children')}>
    <p><a class="button" href="#/children/new">${t('registerChild')}</a></p>
    <form class="inline" role="search" onSubmit=${(e) => { e.preventDefault(); setQuery({ name: name.trim(), born: born.trim() }); }}>
      <${Field} id="name" label=${t('searchByName')}>${(a) => html`<input ...${a} value=${name} onInput=${(e) => setName(e.target.value)} />`}<//>
      <${Field} id="born" label=${t('bornIn')}>${(a) => html`<input ...${a} value=${born} onInput=${(e) => setBorn(e.target.value)} inputmode="numeric" />`}<//>
      <button type="submit">${t('search')}</button>
    </form>
    ${seesPersonalCode(s) &&
    html`<form class="inline" role="search" onSubmit=${findByCode}>
      <${Field} id="search-code" label=${t('searchByCode')}>${(a) => html`<input ...${a} value=${code} onInput=${(e) => setCode(e.target.value)} inputmode="numeric" autocomplete="off" />`}<//>
      <button type="submit">${t('find')}</button>
    </form>
    <${ErrorBox} error=${codeError} />
    ${found && html`<${ChildTable} items=${found} />`}`}
    <${Loader}
      load=${() => api('GET', '/children', { query }).then((r) => r.body)}
      deps=${[query.name, query.born]}
      render=${(page) => html`<${ChildTable} items=${page.items} />`}
    />
  <//>`;
}

const CODE_RE = /^[0-9]{6}-?[0-9]{5}$/;

function RegisterChild() {
  const s = session();
  const [v, setV] = useState({ personal_code: '', given_name: '', family_name: '', birth_date: '', sex: '', gestational_age_weeks: '', atvk: '' });
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setV({ ...v, [k]: e.target.value });
  const check = () => {
    const out = {};
    for (const k of ['given_name', 'family_name', 'birth_date', 'sex']) if (!v[k].trim()) out[k] = t('required');
    if (v.personal_code.trim() && !CODE_RE.test(v.personal_code.trim())) out.personal_code = t('codeFormat');
    if (v.birth_date && v.birth_date > new Date().toISOString().slice(0, 10)) out.birth_date = t('dateFuture');
    if (v.atvk.trim() && !/^[0-9]{7}$/.test(v.atvk.trim())) out.atvk = t('atvkFormat');
    return out;
  };
  const submit = async (e) => {
    e.preventDefault();
    const found = check();
    setErrors(found);
    setError(null);
    if (Object.keys(found).length) {
      const first = document.getElementById(Object.keys(found)[0]);
      if (first) first.focus();
      return;
    }
    const body = { given_name: v.given_name, family_name: v.family_name, birth_date: v.birth_date, sex: v.sex };
    if (v.personal_code.trim()) body.personal_code = v.personal_code.trim();
    if (v.atvk.trim()) body.atvk = v.atvk.trim();
    if (seesGestation(s) && v.gestational_age_weeks !== '') body.gestational_age_weeks = Number(v.gestational_age_weeks);
    setBusy(true);
    try {
      const { body: child } = await api('POST', '/children', { body });
      go(`/children/${child.id}`);
    } catch (err) {
      setError(err);
      setErrors(err.fields());
    } finally {
      setBusy(false);
    }
  };
  const input = (k, label, attrs = {}, optional = false) =>
    html`<${Field} id=${k} label=${label} error=${errors[k]} optional=${optional}>
      ${(a) => html`<input ...${a} ...${attrs} value=${v[k]} onInput=${set(k)} />`}
    <//>`;
  return html`<${Page} title=${t('registerChild')}>
    <${ErrorBox} error=${error} />
    ${Object.keys(errors).length > 0 && !error && html`<p class="error" role="alert">${t('fixErrors')}</p>`}
    <form onSubmit=${submit} class="narrow" novalidate>
      ${input('personal_code', t('personalCode'), { inputmode: 'numeric', autocomplete: 'off' }, true)}
      ${input('given_name', t('givenName'), { autocomplete: 'off' })}
      ${input('family_name', t('familyName'), { autocomplete: 'off' })}
      ${input('birth_date', t('birthDate'), { type: 'date' })}
      <${Field} id="sex" label=${t('sex')} error=${errors.sex}>
        ${(a) => html`<select ...${a} value=${v.sex} onChange=${set('sex')}>
          <option value="">${t('choose')}</option>
          <option value="female">${t('female')}</option>
          <option value="male">${t('male')}</option>
        </select>`}
      <//>
      ${seesGestation(s) && input('gestational_age_weeks', t('gestationalAge'), { type: 'number', min: 20, max: 45 }, true)}
      ${input('atvk', t('atvk'), { inputmode: 'numeric' }, true)}
      <button type="submit" disabled=${busy}>${t('register')}</button>
    </form>
  <//>`;
}

function ChildPage({ id }) {
  const s = session();
  const [instrument, setInstrument] = useState('mchat-r');
  return html`<${Loader}
    load=${async () => {
      const [child, profile, referrals, instruments, episodes] = await Promise.all([
        api('GET', `/children/${id}`).then((r) => r.body),
        api('GET', `/children/${id}/risk-profile`).then((r) => r.body),
        api('GET', '/referrals', { query: { child: id } }).then((r) => r.body),
        api('GET', '/catalogue/instruments').then((r) => r.body.instruments),
        // Shown only when the role may read them: a refusal leaves the section out.
        api('GET', '/support-episodes', { query: { child: id } }).then(
          (r) => r.body.items,
          (e) => (e.status === 403 ? null : Promise.reject(e)),
        ),
      ]);
      return { child, profile, referrals, instruments, episodes };
    }}
    deps=${[id]}
    render=${({ child, profile, referrals, instruments, episodes }) => html`<${Page} title=${`${child.given_name} ${child.family_name}`}>
      <h2>${t('details')}</h2>
      <dl class="details">
        <dt>${t('birthDate')}</dt><dd>${formatDate(child.birth_date)}</dd>
        <dt>${t('sex')}</dt><dd>${t(child.sex)}</dd>
        ${child.personal_code && html`<dt>${t('personalCode')}</dt><dd>${child.personal_code}</dd>`}
        ${child.gestational_age_weeks != null && html`<dt>${t('gestationalAge')}</dt><dd>${child.gestational_age_weeks}</dd>`}
        ${child.atvk && html`<dt>${t('atvk')}</dt><dd>${child.atvk}</dd>`}
      </dl>
      <p><a href=${`#/children/${id}/edit`}>${t('edit')}</a></p>
      <h2>${t('risk')}</h2>
      ${profile.overall_risk == null && profile.needs_support == null
        ? html`<p>${t('noResults')}</p>`
        : profile.overall_risk !== undefined
          ? html`<p>${t('overallRisk')}: <strong>${t(`levels.${profile.overall_risk}`)}</strong></p>`
          : html`<p>${t('needsSupport')}: <strong>${profile.needs_support ? t('yes') : t('no')}</strong></p>`}
      ${profile.instruments && profile.instruments.length > 0 &&
      html`<h3>${t('latestResults')}</h3><ul>
        ${profile.instruments.map((i) => html`<li>${i.instrument}: ${t(`levels.${i.latest.risk_level}`)}${i.latest.primary_value != null ? ` (${i.latest.primary_value})` : ''}, ${formatDate(i.latest.administered_on)} — <a href=${`#/screenings/${i.latest.screening_id}`}>${t('result')}</a></li>`)}
      </ul>`}
      <${ChildHistory} profile=${profile} />
      <h3>${t('openRecommendations')}</h3>
      ${profile.open_recommendations.length === 0
        ? html`<p>${t('none')}</p>`
        : html`<ul>${profile.open_recommendations.map((o) => {
            const r = o.recommendation || o;
            return html`<li>${t(`kinds.${r.kind}`)}${r.programme ? ` — ${r.programme}` : ''}${r.due_on ? ` (${t('due')}: ${formatDate(r.due_on)})` : ''}${o.instrument ? html` <span class="muted">${o.instrument}</span>` : ''}</li>`;
          })}</ul>`}
      <h2>${t('newScreening')}</h2>
      <form class="inline" onSubmit=${(e) => { e.preventDefault(); go(`/children/${id}/screen/${instrument}`); }}>
        <${Field} id="instrument" label=${t('instrument')}>
          ${(a) => html`<select ...${a} value=${instrument} onChange=${(e) => setInstrument(e.target.value)}>
            ${instruments.filter((i) => !i.demonstration).map((i) => html`<option value=${i.id}>${i.id} — ${i.name}</option>`)}
          </select>`}
        <//>
        <button type="submit">${t('start')}</button>
      </form>
      <h2>${t('referrals')}</h2>
      ${referrals.items.length === 0
        ? html`<p>${t('none')}</p>`
        : html`<table><caption class="visually-hidden">${t('referrals')}</caption>
          <thead><tr><th scope="col">${t('programme')}</th><th scope="col">${t('provider')}</th><th scope="col">${t('state')}</th><th scope="col">${t('dueOn')}</th></tr></thead>
          <tbody>${referrals.items.map((r) => html`<tr><td><a href=${`#/referrals/${r.id}`}>${r.programme}</a></td><td>${r.provider_org}</td><td>${t(`states.${r.state}`)}</td><td>${formatDate(r.due_on)}</td></tr>`)}</tbody></table>`}
      ${s && html`<p><a class="button" href=${`#/children/${id}/refer`}>${t('refer')}</a></p>`}
      <${Episodes} episodes=${episodes} />
    <//>`}
  />`;
}

function App({ config, bootError }) {
  const [route, setRoute] = useState(parseHash());
  const [, setLangState] = useState(currentLang());
  const [signedIn, setSignedIn] = useState(!!session());
  useEffect(() => {
    const onHash = () => {
      setRoute(parseHash());
      setSignedIn(!!session());
    };
    const onSession = () => setSignedIn(!!session());
    window.addEventListener('hashchange', onHash);
    window.addEventListener('ravis:session', onSession);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('ravis:session', onSession);
    };
  }, []);
  const toggleLang = () => {
    const next = currentLang() === 'lv' ? 'en' : 'lv';
    setLang(next);
    setLangState(next);
  };
  const s = session();
  const [a, b, c, d] = route.path;
  let page;
  if (!s && config) page = html`<${OidcSignIn} config=${config} error=${bootError} />`;
  else if (!s) page = html`<${SignIn} onSignedIn=${() => setSignedIn(true)} />`;
  else if ((a === 'audit' || !readsChildren(s)) && b === 'entries') page = html`<${AuditEntries} key=${route.query.toString()} query=${route.query} />`;
  else if ((a === 'audit' || !readsChildren(s)) && b === 'break-the-glass') page = html`<${BreakGlassReport} key=${route.query.toString()} query=${route.query} />`;
  else if (a === 'audit' || !readsChildren(s)) page = html`<${AuditReport} query=${route.query} />`;
  else if (a === 'duplicates') page = html`<${Duplicates} />`;
  else if (a === 'intake' && b) page = html`<${IntakeJob} id=${b} />`;
  else if (a === 'intake') page = html`<${IntakeJobs} key=${route.query.toString()} query=${route.query} />`;
  else if (!a) page = html`<${Worklist} />`;
  else if (a === 'children' && !b) page = html`<${Children} />`;
  else if (a === 'children' && b === 'new') page = html`<${RegisterChild} />`;
  else if (a === 'children' && c === 'screen' && d) page = html`<${ScreeningForm} childId=${b} instrumentId=${d} />`;
  else if (a === 'children' && c === 'edit') page = html`<${EditChild} id=${b} />`;
  else if (a === 'children' && c === 'refer') page = html`<${ReferForm} childId=${b} query=${route.query} />`;
  else if (a === 'children' && b) page = html`<${ChildPage} id=${b} />`;
  else if (a === 'referrals' && b) page = html`<${ReferralView} id=${b} />`;
  else if (a === 'support-episodes' && b && c === 'edit') page = html`<${EditEpisode} id=${b} />`;
  else if (a === 'screenings' && b) page = html`<${ScreeningResult} id=${b} />`;
  else page = html`<${Worklist} />`;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('page-title')?.focus(); }}>${t('skip')}</a>
    <header>
      <p class="brand">${t('app')}</p>
      ${signedIn && s && html`<nav aria-label=${t('nav')}>
        ${readsChildren(s) && html`<a href="#/" aria-current=${!a ? 'page' : undefined}>${t('worklist')}</a>
          <a href="#/children" aria-current=${a === 'children' ? 'page' : undefined}>${t('children')}</a>`}
        ${has(s, 'registry_administrator') && html`<a href="#/duplicates" aria-current=${a === 'duplicates' ? 'page' : undefined}>${t('duplicates')}</a>
          <a href="#/intake" aria-current=${a === 'intake' ? 'page' : undefined}>${t('intakeJobs')}</a>`}
        ${has(s, 'data_protection_officer') && html`<a href="#/audit" aria-current=${(a === 'audit' || !readsChildren(s)) && !b ? 'page' : undefined}>${t('auditReport')}</a>
          <a href="#/audit/entries" aria-current=${b === 'entries' ? 'page' : undefined}>${t('auditEntries')}</a>
          <a href="#/audit/break-the-glass" aria-current=${b === 'break-the-glass' ? 'page' : undefined}>${t('breakGlassReport')}</a>`}
      </nav>`}
      <div class="who">
        ${s && html`<span>${t('signedInAs', { role: s.roles.map((r) => t(`roles.${r}`)).join(', '), org: s.organisation })}</span>
          <button type="button" class="link" onClick=${() => { setSession(null); setSignedIn(false); go('/'); }}>${t('signOut')}</button>`}
        <button type="button" class="link" lang=${currentLang() === 'lv' ? 'en' : 'lv'} onClick=${toggleLang}>${t('language')}</button>
      </div>
    </header>
    <main id="main">${page}</main>`;
}

// Renews the session before its access token expires (with a refresh token), or ends it
// when it expires (the sign-in page then says so and brings the user back to this page).
let renewTimer = null;
function scheduleRenewal() {
  clearTimeout(renewTimer);
  const s = session();
  const delay = refreshDelay(s, Date.now());
  if (delay == null) return;
  if (s.refresh_token) {
    renewTimer = setTimeout(async () => {
      const renewed = await renewSession(session());
      if (!renewed && session()) endSession();
    }, delay);
  } else {
    renewTimer = setTimeout(() => session() && endSession(), Math.max(0, s.expires_at - Date.now()));
  }
}

setLang(currentLang());
(async () => {
  // A deployed client signs in at its identity provider; ravis serve has no config.json
  // unless started with --web-config.
  const config = await loadConfig();
  let bootError = null;
  if (config) {
    setApiBase(config.api);
    setRenewer((s) => refreshSession(s, config));
    try {
      const signedIn = await completeSignIn(config);
      if (signedIn) {
        takeReturnRoute();
        setSession(signedIn);
      }
    } catch (e) {
      bootError = e;
    }
  }
  window.addEventListener('ravis:session', scheduleRenewal);
  scheduleRenewal();
  const root = document.getElementById('root');
  root.textContent = '';
  render(html`<${App} config=${config} bootError=${bootError} />`, root);
})();
