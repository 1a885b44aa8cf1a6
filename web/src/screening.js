// The screening form, rendered from the instrument definition the API lists, and the
// result page that waits for scoring.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from './api.js';
import { t, formatDate, currentLang } from './i18n.js';
import { html, go, Page, ErrorBox, Field, Loader, completedMonths, todayIso, addDaysIso } from './ui.js';

/** The child's age on `date` as the engine computes it: chronological, and corrected for
 * prematurity when the instrument's policy applies. */
export function ageOn(child, instrument, date) {
  const chronological = completedMonths(child.birth_date, date);
  const p = instrument.prematurity_correction;
  const ga = child.gestational_age_weeks;
  if (!p || ga == null || ga >= p.born_before_weeks || chronological < 0 || chronological >= p.until_chronological_months) {
    return { chronological, corrected: null };
  }
  const correctedBirth = addDaysIso(child.birth_date, 7 * Math.max(0, p.term_weeks - ga));
  return { chronological, corrected: completedMonths(correctedBirth, date) };
}

/** The problems the API would report, in its words: field → reason. */
export function checkAnswers(instrument, child, administeredOn, answers) {
  const errors = {};
  if (!/^\d{4}-\d{2}-\d{2}$/.test(administeredOn)) {
    errors.administered_on = t('required');
  } else {
    const age = ageOn(child, instrument, administeredOn);
    const months = age.corrected ?? age.chronological;
    if (age.chronological < 0 && instrument.age_months.min >= 0) {
      errors.administered_on = `${administeredOn} is before the child's birth date ${child.birth_date}`;
    } else if (months < instrument.age_months.min || months > instrument.age_months.max) {
      errors.administered_on = t('ageOutOfRange', { months, date: administeredOn, instrument: instrument.id, min: instrument.age_months.min, max: instrument.age_months.max });
    }
  }
  for (const item of instrument.items) {
    const v = answers[item.id];
    if (v === undefined) errors[`answers.${item.id}`] = t('notAnswered');
    else if (!Number.isInteger(v) || v < 0 || v >= item.options.length) {
      errors[`answers.${item.id}`] = `answer ${v} is not a code of this item: allowed 0–${item.options.length - 1}`;
    }
  }
  return errors;
}

/** The wording pack of `instrumentId` in `lang` (`GET …/wording/{lang}`), fetched again when
 * the language changes: {state: 'loading' | 'loaded' | 'none' | 'failed', pack?, error?}. A
 * 404 means no pack is loaded (the form then words nothing and says why). */
function useWording(instrumentId, lang) {
  const [wording, setWording] = useState({ lang, state: 'loading' });
  useEffect(() => {
    let stopped = false;
    setWording({ lang, state: 'loading' });
    api('GET', `/catalogue/instruments/${encodeURIComponent(instrumentId)}/wording/${lang}`)
      .then(({ body }) => !stopped && setWording({ lang, state: 'loaded', pack: body }))
      .catch((error) => !stopped && setWording({ lang, state: error.status === 404 ? 'none' : 'failed', error }));
    return () => {
      stopped = true;
    };
  }, [instrumentId, lang]);
  return wording.lang === lang ? wording : { lang, state: 'loading' };
}

function WordingNotice({ wording }) {
  if (wording.state === 'loaded') {
    return html`<p class="notice" id="wording-source">${t('wordingSource', { source: wording.pack.source, licence: wording.pack.licence })}</p>`;
  }
  if (wording.state === 'none') return html`<p class="notice" id="wording-notice">${t('noWording')}</p>`;
  if (wording.state === 'failed') {
    return html`<p class="notice" id="wording-notice">${t('wordingFailed', { reason: wording.error.message })}</p>`;
  }
  return html`<p class="notice" aria-live="polite">${t('wordingLoading')}</p>`;
}

function draftKey(childId, instrumentId) {
  return `ravis.draft.${childId}.${instrumentId}`;
}

export function ScreeningForm({ childId, instrumentId }) {
  return html`<${Loader}
    load=${async () => {
      const [child, instruments] = await Promise.all([
        api('GET', `/children/${childId}`).then((r) => r.body),
        api('GET', '/catalogue/instruments').then((r) => r.body.instruments),
      ]);
      const instrument = instruments.find((i) => i.id === instrumentId);
      if (!instrument) throw Object.assign(new Error('unknown instrument'), { status: 404, problem: { detail: instrumentId } });
      return { child, instrument };
    }}
    deps=${[childId, instrumentId]}
    render=${({ child, instrument }) => html`<${Form} child=${child} instrument=${instrument} />`}
  />`;
}

function Form({ child, instrument }) {
  // A draft survives a failed submission and a reload of the page (this tab only).
  const saved = useMemo(() => {
    try {
      return JSON.parse(sessionStorage.getItem(draftKey(child.id, instrument.id)) || 'null');
    } catch {
      return null;
    }
  }, [child.id, instrument.id]);
  const [administeredOn, setAdministeredOn] = useState(saved?.administered_on || todayIso());
  const [answers, setAnswers] = useState(saved?.answers || {});
  const [idempotencyKey] = useState(saved?.key || crypto.randomUUID());
  const [tried, setTried] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const wording = useWording(instrument.id, currentLang());
  const pack = wording.state === 'loaded' ? wording.pack : null;
  useEffect(() => {
    sessionStorage.setItem(draftKey(child.id, instrument.id), JSON.stringify({ administered_on: administeredOn, answers, key: idempotencyKey }));
  }, [administeredOn, answers]);
  const errors = checkAnswers(instrument, child, administeredOn, answers);
  const missing = instrument.items.filter((i) => answers[i.id] === undefined).map((i) => i.id);
  const age = /^\d{4}-\d{2}-\d{2}$/.test(administeredOn) ? ageOn(child, instrument, administeredOn) : null;
  const apiErrors = error ? error.fields() : {};
  const shown = (field) => apiErrors[field] || (tried || field === 'administered_on' ? errors[field] : undefined);
  const submit = async (e) => {
    e.preventDefault();
    setTried(true);
    if (Object.keys(errors).length) {
      const first = Object.keys(errors)[0];
      const el = first === 'administered_on' ? document.getElementById('administered_on') : document.querySelector(`input[name="item-${first.slice(8)}"]`);
      if (el) el.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const { body } = await api('POST', '/screenings', {
        body: { child_id: child.id, instrument: instrument.id, administered_on: administeredOn, answers },
        headers: { 'Idempotency-Key': idempotencyKey },
      });
      sessionStorage.removeItem(draftKey(child.id, instrument.id));
      go(`/screenings/${body.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Page} title=${t('screeningOf', { instrument: instrument.name, child: `${child.given_name} ${child.family_name}` })}>
    <${WordingNotice} wording=${wording} />
    <${ErrorBox} error=${error} />
    <form onSubmit=${submit} novalidate>
      <${Field} id="administered_on" label=${t('administeredOn')} error=${shown('administered_on')}
        hint=${age ? `${t('ageOn', { months: age.chronological })}${age.corrected != null ? `; ${t('correctedAge', { months: age.corrected })}` : ''} · ${instrument.id}: ${instrument.age_months.min}–${instrument.age_months.max}` : undefined}>
        ${(a) => html`<input ...${a} type="date" value=${administeredOn} onInput=${(e) => setAdministeredOn(e.target.value)} />`}
      <//>
      <p aria-live="polite" class="progress">
        ${t('answered', { a: instrument.items.length - missing.length, n: instrument.items.length })}${missing.length ? ` · ${t('unanswered', { items: missing.join(', ') })}` : ''}
      </p>
      ${instrument.items.map((item) => {
        const err = shown(`answers.${item.id}`);
        return html`<fieldset class=${`item${err ? ' invalid' : ''}`} aria-describedby=${err ? `item-${item.id}-error` : undefined}>
          <legend>${t('item', { n: item.id })}${pack?.items[item.id] && html`<span class="wording">${pack.items[item.id]}</span>`}</legend>
          <div class="options">
            ${item.options.map((o) => {
              const label = pack?.options?.[item.id]?.[o.code] || (o.label && t(o.label));
              return html`<label class="option">
                <input type="radio" name=${`item-${item.id}`} value=${o.code} checked=${answers[item.id] === o.code}
                  onChange=${() => setAnswers({ ...answers, [item.id]: o.code })} />
                ${label ? `${label} (${o.code})` : String(o.code)}
              </label>`;
            })}
          </div>
          ${err && html`<div class="field-error" id=${`item-${item.id}-error`}>${err}</div>`}
        </fieldset>`;
      })}
      ${tried && Object.keys(errors).length > 0 && html`<p class="error" role="alert">${t('fixErrors')} ${missing.length ? t('unanswered', { items: missing.join(', ') }) : ''}</p>`}
      <button type="submit" disabled=${busy}>${t('submit')}</button>
    </form>
  <//>`;
}

export function ScreeningResult({ id }) {
  const [state, setState] = useState({});
  useEffect(() => {
    let stopped = false;
    let timer;
    const poll = async (delay) => {
      try {
        const { body } = await api('GET', `/screenings/${id}`);
        if (stopped) return;
        setState({ screening: body });
        if (body.status === 'submitted') timer = setTimeout(() => poll(Math.min(delay * 2, 4000)), delay);
      } catch (error) {
        if (!stopped) setState({ error });
      }
    };
    poll(300);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [id]);
  if (state.error) return html`<${ErrorBox} error=${state.error} />`;
  const sc = state.screening;
  if (!sc) return html`<p aria-live="polite">${t('loading')}</p>`;
  return html`<${Page} title=${`${t('screening')}: ${sc.instrument}, ${formatDate(sc.administered_on)}`}>
    <p><a href=${`#/children/${sc.child_id}`}>${t('backToChild')}</a></p>
    <div aria-live="polite">
      ${sc.status === 'submitted' && html`<p class="notice" id="scoring">${t('scoring')}</p>`}
      ${sc.status === 'rejected' && html`<div class="error"><p>${t('rejected')}</p><ul>${(sc.errors || []).map((e) => html`<li><code>${e.field}</code>: ${e.reason}</li>`)}</ul></div>`}
      ${sc.status === 'scored' && html`<${Result} screening=${sc} />`}
    </div>
  <//>`;
}

function Result({ screening }) {
  const r = screening.result || {};
  const recs = r.recommendations || [];
  return html`<section id="result" aria-labelledby="result-title">
    <h2 id="result-title">${t('result')}</h2>
    ${r.risk_level
      ? html`<p>${t('risk')}: <strong class=${`level ${r.risk_level}`}>${t(`levels.${r.risk_level}`)}</strong></p>`
      : html`<p>${t('needsSupport')}: <strong>${r.needs_support ? t('yes') : t('no')}</strong></p>`}
    ${r.scores &&
    html`<h3>${t('scores')}</h3><ul>${Object.entries(r.scores).map(([k, v]) => html`<li>${k}: ${v.value ?? '—'}${v.band ? ` (${v.band})` : ''}</li>`)}</ul>`}
    ${r.explanation &&
    html`<h3>${t('explanation')}</h3><ul>${r.explanation.map((e) => html`<li>${e.text}</li>`)}</ul>`}
    <h3>${t('recommendations')}</h3>
    ${recs.length === 0
      ? html`<p>${t('none')}</p>`
      : html`<ul>${recs.map((rec) => {
          const query = new URLSearchParams({ screening: screening.id });
          if (rec.rule) query.set('rule', rec.rule);
          if (rec.programme) query.set('programme', rec.programme);
          return html`<li>${t(`kinds.${rec.kind}`)}${rec.programme ? ` — ${rec.programme}` : ''}${rec.due_on ? ` (${t('due')}: ${formatDate(rec.due_on)})` : ''}
            ${rec.kind.startsWith('referral') && html` <a class="button small" href=${`#/children/${screening.child_id}/refer?${query}`}>${t('referThis', { kind: t(`kinds.${rec.kind}`) })}</a>`}</li>`;
        })}</ul>`}
    <p><a class="button" href=${`#/children/${screening.child_id}/refer`}>${t('refer')}</a></p>
  </section>`;
}
