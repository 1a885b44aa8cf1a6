// The child page's history (scores over time, screenings, support episodes) and a
// referral's steps. Everything shown comes from the API's responses for the caller's role.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, session } from './api.js';
import { t, formatDate } from './i18n.js';
import { html, Page, ErrorBox, Field, Loader, todayIso } from './ui.js';
import { linkableEpisodes, mayEditEpisode } from './episode.js';

/** The results the risk profile gives for each instrument (its history: every screening's
 * current result), oldest first. Only the clinical view has `instruments`. */
export function resultsByInstrument(profile) {
  return (profile.instruments || []).map((i) => ({
    instrument: i.instrument,
    primaryScore: i.primary_score,
    screenings: i.screenings,
    results: i.history || [i.previous, i.latest].filter(Boolean),
  }));
}

const W = 480;
const H = 200;
const PAD = { left: 52, right: 48, top: 28, bottom: 36 };

/** One instrument's score over time: inline SVG (title and desc), the values also in a
 * visually hidden table for screen readers. */
function ScoreChart({ series }) {
  const points = series.results.filter((r) => r.primary_value != null);
  if (points.length === 0) return null;
  const id = `chart-${series.instrument}`;
  const days = (iso) => Date.UTC(...iso.split('-').map((n, k) => Number(n) - (k === 1 ? 1 : 0))) / 86400000;
  const x0 = days(points[0].administered_on);
  const x1 = days(points[points.length - 1].administered_on);
  const maxY = Math.max(1, ...points.map((p) => p.primary_value));
  const x = (p) => (x1 === x0 ? (PAD.left + W - PAD.right) / 2 : PAD.left + ((days(p.administered_on) - x0) / (x1 - x0)) * (W - PAD.left - PAD.right));
  const y = (v) => H - PAD.bottom - (v / maxY) * (H - PAD.top - PAD.bottom);
  const label = t('scoreChartTitle', { instrument: series.instrument, score: series.primaryScore || t('score') });
  const desc = points.map((p) => `${formatDate(p.administered_on)}: ${p.primary_value} (${t(`levels.${p.risk_level}`)})`).join('; ');
  return html`<figure class="chart" data-instrument=${series.instrument}>
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-labelledby=${`${id}-title ${id}-desc`} focusable="false">
      <title id=${`${id}-title`}>${label}</title>
      <desc id=${`${id}-desc`}>${desc}</desc>
      <line class="axis" x1=${PAD.left} y1=${H - PAD.bottom} x2=${W - PAD.right} y2=${H - PAD.bottom} />
      <line class="axis" x1=${PAD.left} y1=${PAD.top} x2=${PAD.left} y2=${H - PAD.bottom} />
      <text class="tick" x=${PAD.left - 6} y=${y(0) + 4} text-anchor="end">0</text>
      <text class="tick" x=${PAD.left - 6} y=${y(maxY) + 4} text-anchor="end">${maxY}</text>
      ${points.length > 1 && html`<polyline class="line" points=${points.map((p) => `${x(p)},${y(p.primary_value)}`).join(' ')} />`}
      ${points.map(
        (p) => html`<g class=${`point level-${p.risk_level}`}>
          <circle cx=${x(p)} cy=${y(p.primary_value)} r="5" />
          <text class="tick" x=${x(p)} y=${y(p.primary_value) - 9} text-anchor="middle">${p.primary_value}</text>
          <text class="tick" x=${x(p)} y=${H - PAD.bottom + 18} text-anchor="middle">${p.administered_on}</text>
        </g>`,
      )}
    </svg>
    <figcaption>${label}</figcaption>
    <table class="visually-hidden">
      <caption>${label}</caption>
      <thead><tr><th scope="col">${t('date')}</th><th scope="col">${t('score')}</th><th scope="col">${t('risk')}</th></tr></thead>
      <tbody>${points.map((p) => html`<tr><td>${formatDate(p.administered_on)}</td><td>${p.primary_value}</td><td>${t(`levels.${p.risk_level}`)}</td></tr>`)}</tbody>
    </table>
  </figure>`;
}

/** Scores over time per instrument and the screenings the risk profile names (clinical view). */
export function ChildHistory({ profile }) {
  const series = resultsByInstrument(profile);
  if (series.length === 0) return null;
  const rows = series
    .flatMap((s) => s.results.map((r) => ({ ...r, instrument: s.instrument })))
    .sort((a, b) => (a.administered_on < b.administered_on ? 1 : a.administered_on > b.administered_on ? -1 : 0));
  return html`<h3>${t('scoresOverTime')}</h3>
    <div class="charts">${series.map((s) => html`<${ScoreChart} series=${s} />`)}</div>
    <h3>${t('screenings')}</h3>
    <table id="child-screenings"><caption class="visually-hidden">${t('screenings')}</caption>
      <thead><tr><th scope="col">${t('date')}</th><th scope="col">${t('instrument')}</th><th scope="col">${t('risk')}</th><th scope="col">${t('score')}</th><th scope="col"><span class="visually-hidden">${t('result')}</span></th></tr></thead>
      <tbody>${rows.map(
        (r) => html`<tr><td>${formatDate(r.administered_on)}</td><td>${r.instrument}</td><td>${t(`levels.${r.risk_level}`)}</td><td>${r.primary_value ?? ''}</td>
          <td><a href=${`#/screenings/${r.screening_id}`}>${t('result')}<span class="visually-hidden"> ${r.instrument} ${formatDate(r.administered_on)}</span></a></td></tr>`,
      )}</tbody>
    </table>`;
}

/** The child's support episodes as the API gives them for the role (minimised for some);
 * an episode the caller's role may change links to its edit page. */
export function Episodes({ episodes }) {
  if (!episodes) return null;
  const s = session();
  const editable = episodes.some((e) => mayEditEpisode(s, e));
  return html`<h2>${t('supportEpisodes')}</h2>
    ${episodes.length === 0
      ? html`<p>${t('none')}</p>`
      : html`<table id="child-episodes"><caption class="visually-hidden">${t('supportEpisodes')}</caption>
        <thead><tr><th scope="col">${t('programme')}</th><th scope="col">${t('provider')}</th><th scope="col">${t('startDate')}</th><th scope="col">${t('plannedEnd')}</th><th scope="col">${t('lastReview')}</th><th scope="col">${t('endDate')}</th><th scope="col">${t('outcome')}</th>${editable && html`<th scope="col"><span class="visually-hidden">${t('editEpisode')}</span></th>`}</tr></thead>
        <tbody>${episodes.map(
          (e) => html`<tr id=${`episode-${e.id}`}><td>${e.programme}</td><td>${e.provider_org}</td><td>${e.start_date ? formatDate(e.start_date) : t('notStarted')}</td>
            <td>${formatDate(e.planned_end_date)}</td><td>${formatDate(e.last_review_on)}</td>
            <td>${e.end_date ? formatDate(e.end_date) : e.open ? t('open') : ''}</td>
            <td>${e.outcome ? t(`outcomes.${e.outcome}`) : ''}${e.end_reason ? html` <span class="muted">(${t(`endReasons.${e.end_reason}`)})</span>` : ''}</td>
            ${editable && html`<td>${mayEditEpisode(s, e) && html`<a href=${`#/support-episodes/${e.id}/edit`}>${t('editEpisode')}<span class="visually-hidden"> ${e.programme}, ${e.provider_org}</span></a>`}</td>`}</tr>`,
        )}</tbody></table>`}`;
}

/** The steps the caller's organisation may take from a state (docs/CARE_PATHWAY.md; the
 * API decides, this only offers). */
export function stepsFor(referral, organisation) {
  const out = [];
  const st = referral.state;
  if (organisation === referral.referring_org) {
    if (st === 'proposed') out.push('sent');
    if (['proposed', 'sent', 'accepted'].includes(st)) out.push('withdrawn');
  }
  if (organisation === referral.provider_org) {
    if (st === 'sent') out.push('accepted', 'declined');
    if (st === 'accepted') out.push('started');
    if (st === 'started') out.push('completed');
    if (['accepted', 'started'].includes(st)) out.push('ended');
  }
  return out;
}

// What each step asks for (the API refuses a step without them, in its words).
const NEEDS = {
  sent: [],
  accepted: [],
  declined: ['reason'],
  started: ['date', 'planned_end_date'],
  completed: ['outcome', 'date'],
  ended: ['reason', 'end_reason', 'outcome', 'date'],
  withdrawn: ['reason'],
};
const OUTCOMES = ['goals_met', 'partly_met', 'not_met', 'unknown'];
const END_REASONS = ['completed', 'family_withdrew', 'moved', 'transferred', 'no_longer_needed', 'other'];

/** A referral (`#/referrals/{id}`): its details as the API gives them, and its next steps. */
export function ReferralView({ id }) {
  return html`<${Loader}
    load=${() => api('GET', `/referrals/${id}`).then((r) => ({ referral: r.body, etag: r.headers.get('ETag') }))}
    deps=${[id]}
    render=${(data, reload) => html`<${ReferralPage} key=${data.referral.id} ...${data} reload=${reload} />`}
  />`;
}

function ReferralPage({ referral: r, etag, reload }) {
  const s = session();
  return html`<${Page} title=${`${t('referral')}: ${r.programme}`}>
    <dl class="details" id="referral-details">
      <dt>${t('state')}</dt><dd id="referral-state">${t(`states.${r.state}`)}</dd>
      <dt>${t('programme')}</dt><dd>${r.programme}</dd>
      <dt>${t('provider')}</dt><dd>${r.provider_org}</dd>
      <dt>${t('referringOrg')}</dt><dd>${r.referring_org}</dd>
      <dt>${t('urgency')}</dt><dd>${t(`urgencies.${r.urgency}`)}</dd>
      <dt>${t('dueOn')}</dt><dd>${formatDate(r.due_on)}</dd>
      ${r.family_agreement && html`<dt>${t('familyAgreement')}</dt><dd id="family-agreement">${t(`agreements.${r.family_agreement.status}`)}</dd>`}
      ${r.decline_reason && html`<dt>${t('declineReason')}</dt><dd>${r.decline_reason}</dd>`}
      ${r.outcome && html`<dt>${t('outcome')}</dt><dd>${t(`outcomes.${r.outcome}`)}</dd>`}
      ${r.end_reason && html`<dt>${t('endReason')}</dt><dd>${t(`endReasons.${r.end_reason}`)}</dd>`}
    </dl>
    <p><a href=${`#/children/${r.child_id}`}>${t('childPage')}</a></p>
    ${s && html`<${Steps} referral=${r} etag=${etag} organisation=${s.organisation} reload=${reload} />`}
    ${r.history && r.history.length > 0 &&
    html`<h2>${t('history')}</h2><ol>${r.history.map(
      (h) => html`<li>${t(`states.${h.state}`)} — ${formatDate(h.at)}, ${h.by_org}${h.reason ? `: ${h.reason}` : ''}</li>`,
    )}</ol>`}
  <//>`;
}

function Steps({ referral: r, etag, organisation, reload }) {
  const steps = stepsFor(r, organisation);
  const [open, setOpen] = useState(null);
  const [v, setV] = useState({ reason: '', end_reason: '', outcome: '', date: todayIso(), planned_end_date: '' });
  const [agreement, setAgreement] = useState('agreed');
  // Open episodes of the child at this provider without a referral, which a start may link.
  const [linkable, setLinkable] = useState([]);
  const [episodeId, setEpisodeId] = useState('');
  // Loaded with the page; the start form opens once it is in, so it opens complete.
  const linkableLoad = useRef(Promise.resolve([]));
  useEffect(() => {
    let live = true;
    const load = steps.includes('started') ? linkableEpisodes(r).catch(() => []) : Promise.resolve([]);
    linkableLoad.current = load;
    load.then((items) => live && setLinkable(items));
    return () => {
      live = false;
    };
  }, [r.id, r.state]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(null);
  // Set once the newest version is in after a 412 (the typed input is kept).
  const [fresh, setFresh] = useState(false);
  const useLatest = async () => {
    setError(null);
    setFresh(false);
    setBusy(true);
    await reload();
    setBusy(false);
    setFresh(true);
  };
  const needsAgreement = r.state === 'proposed' && organisation === r.referring_org && r.family_agreement;
  const status = done && html`<p class="success" role="status" id="step-done" tabindex="-1">${done}</p>`;
  if (steps.length === 0 && !needsAgreement) return html`${status}<p class="muted" id="no-steps">${t('noSteps')}</p>`;
  const send = async (method, path, body) => {
    setBusy(true);
    setError(null);
    setDone(null);
    setFresh(false);
    try {
      const { body: changed } = await api(method, path, { body, headers: { 'If-Match': etag } });
      setOpen(null);
      setDone(method === 'PUT' ? t('agreementRecorded') : t('stepDone', { state: t(`states.${changed.state}`) }));
      reload();
      setTimeout(() => document.getElementById('step-done')?.focus(), 0);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const linking = (to) => to === 'started' && episodeId !== '';
  const take = (to) => {
    const body = { to };
    if (linking(to)) body.episode_id = episodeId;
    else
      for (const k of NEEDS[to]) {
        const val = v[k].trim();
        if (val) body[k] = val;
      }
    return send('POST', `/referrals/${r.id}/transitions`, body);
  };
  const choose = async (to) => {
    setError(null);
    if (NEEDS[to].length === 0) return take(to);
    const items = to === 'started' ? await linkableLoad.current : [];
    setOpen(to);
    const first = items.length > 0 ? 'episode_id' : NEEDS[to][0];
    setTimeout(() => document.getElementById(`step-${first}`)?.focus(), 0);
  };
  const errors = error ? error.fields() : {};
  const set = (k) => (e) => setV({ ...v, [k]: e.target.value });
  const field = (k) => {
    const id = `step-${k}`;
    if (k === 'outcome' || k === 'end_reason') {
      const values = k === 'outcome' ? OUTCOMES : END_REASONS;
      const table = k === 'outcome' ? 'outcomes' : 'endReasons';
      return html`<${Field} id=${id} label=${t(k === 'outcome' ? 'outcome' : 'endReason')} error=${errors[k]}>
        ${(a) => html`<select ...${a} value=${v[k]} onChange=${set(k)}><option value="">${t('choose')}</option>${values.map((o) => html`<option value=${o}>${t(`${table}.${o}`)}</option>`)}</select>`}
      <//>`;
    }
    if (k === 'reason') {
      return html`<${Field} id=${id} label=${t('stepReason')} error=${errors.reason}>${(a) => html`<textarea ...${a} rows="3" value=${v.reason} onInput=${set('reason')} />`}<//>`;
    }
    const label = k === 'date' ? (open === 'started' ? t('startDate') : t('endDate')) : t('plannedEnd');
    return html`<${Field} id=${id} label=${label} error=${errors[k]} optional=${true}>${(a) => html`<input ...${a} type="date" value=${v[k]} onInput=${set(k)} />`}<//>`;
  };
  return html`<section class="card" aria-labelledby="steps-title">
    <h2 id="steps-title">${t('nextSteps')}</h2>
    ${status}
    <${ErrorBox} error=${error} />
    ${error && error.status === 412 && html`<p><button type="button" id="reload-referral" onClick=${useLatest}>${t('useLatest')}</button></p>`}
    ${fresh && html`<p class="notice" role="status" id="referral-latest">${t('latestReferral')}</p>`}
    ${needsAgreement &&
    html`<form class="inline" onSubmit=${(e) => { e.preventDefault(); send('PUT', `/referrals/${r.id}/family-agreement`, { status: agreement }); }}>
      <${Field} id="agreement" label=${t('familyAgreement')}>
        ${(a) => html`<select ...${a} value=${agreement} onChange=${(e) => setAgreement(e.target.value)}>${['agreed', 'declined', 'not_asked'].map((o) => html`<option value=${o}>${t(`agreements.${o}`)}</option>`)}</select>`}
      <//>
      <button type="submit" disabled=${busy}>${t('recordAgreement')}</button>
    </form>`}
    <div class="steps">${steps.map(
      (to) => html`<button type="button" id=${`step-button-${to}`} disabled=${busy} aria-expanded=${NEEDS[to].length ? String(open === to) : undefined} onClick=${() => choose(to)}>${t(`steps.${to}`)}</button> `,
    )}</div>
    ${open && steps.includes(open) &&
    html`<form class="narrow step-form" onSubmit=${(e) => { e.preventDefault(); take(open); }} novalidate>
      <fieldset><legend>${t(`steps.${open}`)}</legend>
        ${open === 'started' && linkable.length > 0 &&
        html`<${Field} id="step-episode_id" label=${t('linkEpisode')} error=${errors.episode_id}>
          ${(a) => html`<select ...${a} value=${episodeId} onChange=${(e) => setEpisodeId(e.target.value)}>
            <option value="">${t('newEpisode')}</option>
            ${linkable.map((e) => html`<option value=${e.id}>${t('existingEpisode', { date: formatDate(e.start_date || e.referral_date), programme: e.programme })}</option>`)}
          </select>`}
        <//>`}
        ${linking(open) ? null : NEEDS[open].map(field)}
        <button type="submit" id="step-confirm" disabled=${busy}>${t('confirm')}: ${t(`steps.${open}`)}</button>
        <button type="button" class="link" onClick=${() => setOpen(null)}>${t('cancel')}</button>
      </fieldset>
    </form>`}
  </section>`;
}
