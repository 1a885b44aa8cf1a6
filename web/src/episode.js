// Changing a support episode (`#/support-episodes/{id}/edit`): start, planned end, last
// review, and closing it (last day, outcome, why it ended), with `If-Match` from the read.
import { useState } from 'preact/hooks';
import { api, session } from './api.js';
import { t, formatDate } from './i18n.js';
import { html, go, Page, ErrorBox, Field, Loader, todayIso } from './ui.js';

/** Roles that change every visible episode (docs/openapi.json, PUT /support-episodes/{id});
 * a programme provider changes only its own organisation's. */
const EPISODE_EDITORS = ['registry_administrator', 'partner_system', 'municipality_social_service', 'health_specialist'];

/** Whether the caller's role may change this episode: the API decides, this only offers. An
 * episode shown as a summary (no referral source) cannot be sent back whole. */
export function mayEditEpisode(s, episode) {
  if (!s || !episode || !episode.referral_source) return false;
  if (s.roles.some((r) => EPISODE_EDITORS.includes(r))) return true;
  return s.roles.includes('programme_provider') && episode.provider_org === s.organisation;
}

export const OUTCOMES = ['goals_met', 'partly_met', 'not_met', 'unknown'];
export const END_REASONS = ['completed', 'family_withdrew', 'moved', 'transferred', 'no_longer_needed', 'other'];
const FIELDS = ['start_date', 'planned_end_date', 'last_review_on', 'end_date', 'outcome', 'end_reason'];

/** The form's values of an episode (empty strings for what is not set). */
export function episodeForm(e) {
  const out = {};
  for (const k of FIELDS) out[k] = e[k] ?? '';
  return out;
}

/** The API's rules for these fields (services/registry/episodes.rs), checked before sending:
 * {field: message key} ('required…' keys are the API's own words in English). */
export function checkEpisode(v, referralDate, today) {
  const out = {};
  if (v.start_date && v.start_date < referralDate) out.start_date = 'notBeforeReferral';
  if (v.end_date) {
    if (!v.start_date) out.end_date = 'requiresStart';
    else if (v.end_date < v.start_date) out.end_date = 'notBeforeStart';
    if (v.end_date > today) out.end_date = 'dateFuture';
    if (!v.outcome) out.outcome = 'requiredOnceEnd';
    if (!v.end_reason) out.end_reason = 'requiredOnceEnd';
  } else {
    if (v.outcome) out.outcome = 'onlyWithEnd';
    if (v.end_reason) out.end_reason = 'onlyWithEnd';
  }
  for (const k of ['planned_end_date', 'last_review_on']) {
    if (!v[k]) continue;
    if (!v.start_date) out[k] = 'requiresStart';
    else if (v[k] < v.start_date) out[k] = 'notBeforeStart';
  }
  if (v.last_review_on && v.last_review_on > today && !out.last_review_on) out.last_review_on = 'dateFuture';
  return out;
}

/** The `PUT` body: the episode's fixed fields as read, the form's values (empty → null). */
export function episodeBody(e, v) {
  const body = {
    programme: e.programme,
    provider_org: e.provider_org,
    specialist_id: e.specialist_id ?? null,
    referring_org: e.referring_org ?? null,
    referral_date: e.referral_date,
    referral_source: e.referral_source,
  };
  for (const k of FIELDS) body[k] = v[k] === '' ? null : v[k];
  return body;
}

export function EditEpisode({ id }) {
  return html`<${Loader}
    load=${() => api('GET', `/support-episodes/${id}`).then((r) => ({ episode: r.body, etag: r.headers.get('ETag') }))}
    deps=${[id]}
    render=${({ episode, etag }) => html`<${EpisodeForm} episode=${episode} etag=${etag} />`}
  />`;
}

function EpisodeForm({ episode, etag: firstEtag }) {
  const [etag, setEtag] = useState(firstEtag);
  const [base, setBase] = useState(episodeForm(episode));
  const [v, setV] = useState(episodeForm(episode));
  const [checked, setChecked] = useState({});
  const [error, setError] = useState(null);
  const [latest, setLatest] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setV({ ...v, [k]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    const found = checkEpisode(v, episode.referral_date, todayIso());
    setChecked(found);
    setError(null);
    if (Object.keys(found).length) {
      document.getElementById(`episode-${Object.keys(found)[0]}`)?.focus();
      return;
    }
    setBusy(true);
    try {
      await api('PUT', `/support-episodes/${episode.id}`, { body: episodeBody(episode, v), headers: { 'If-Match': etag } });
      go(`/children/${episode.child_id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  // What the user changed stays; every other field takes the newest stored value.
  const useLatest = async () => {
    try {
      const r = await api('GET', `/support-episodes/${episode.id}`);
      const newest = episodeForm(r.body);
      const merged = {};
      for (const k of Object.keys(newest)) merged[k] = v[k] !== base[k] ? v[k] : newest[k];
      setBase(newest);
      setV(merged);
      setEtag(r.headers.get('ETag'));
      setLatest(r.body);
      setError(null);
    } catch (err) {
      setError(err);
    }
  };
  const apiErrors = error ? error.fields() : {};
  const errorOf = (k) => apiErrors[k] || (checked[k] && t(checked[k]));
  const date = (k, label, hint) =>
    html`<${Field} id=${`episode-${k}`} label=${label} error=${errorOf(k)} hint=${hint} optional=${true}>
      ${(a) => html`<input ...${a} type="date" value=${v[k]} onInput=${set(k)} />`}
    <//>`;
  const choice = (k, label, values, table) =>
    html`<${Field} id=${`episode-${k}`} label=${label} error=${errorOf(k)} optional=${true}>
      ${(a) => html`<select ...${a} value=${v[k]} onChange=${set(k)}><option value="">${t('choose')}</option>${values.map((o) => html`<option value=${o}>${t(`${table}.${o}`)}</option>`)}</select>`}
    <//>`;
  return html`<${Page} title=${t('editEpisodeOf', { programme: episode.programme, provider: episode.provider_org })}>
    <${ErrorBox} error=${error} />
    ${Object.keys(checked).length > 0 && !error && html`<p class="error" role="alert">${t('fixErrors')}</p>`}
    ${error && error.status === 412 && html`<p><button type="button" id="use-latest" onClick=${useLatest}>${t('useLatest')}</button></p>`}
    ${latest && html`<div class="notice" role="status" id="latest-version"><p>${t('latestVersion')}</p>
      <dl class="details">${FIELDS.filter((k) => latest[k]).map((k) => html`<dt>${t(`episodeFields.${k}`)}</dt><dd>${k === 'outcome' ? t(`outcomes.${latest[k]}`) : k === 'end_reason' ? t(`endReasons.${latest[k]}`) : formatDate(latest[k])}</dd>`)}</dl></div>`}
    <dl class="details">
      <dt>${t('child')}</dt><dd><a href=${`#/children/${episode.child_id}`}>${t('childPage')}</a></dd>
      <dt>${t('referralDate')}</dt><dd>${formatDate(episode.referral_date)}</dd>
    </dl>
    <form onSubmit=${submit} class="narrow" novalidate>
      ${date('start_date', t('startDate'))}
      ${date('planned_end_date', t('plannedEnd'))}
      ${date('last_review_on', t('lastReview'), t('lastReviewHint'))}
      <fieldset><legend>${t('endHint')}</legend>
        ${date('end_date', t('endDate'))}
        ${choice('outcome', t('outcome'), OUTCOMES, 'outcomes')}
        ${choice('end_reason', t('endReason'), END_REASONS, 'endReasons')}
      </fieldset>
      <button type="submit" disabled=${busy}>${t('save')}</button>
    </form>
  <//>`;
}

/** The caller's organisation's open episodes of a child that a referral's start may link. */
export async function linkableEpisodes(referral) {
  const s = session();
  if (!s || s.organisation !== referral.provider_org) return [];
  const { body } = await api('GET', '/support-episodes', { query: { child: referral.child_id, provider_org: referral.provider_org, state: 'open' } });
  return body.items.filter((e) => e.open && !e.referral_id);
}
