// Refer a child to a programme of the catalogue at a provider organisation (POST /referrals).
import { useState } from 'preact/hooks';
import { api, session } from './api.js';
import { t, formatDate } from './i18n.js';
import { html, Page, ErrorBox, Field, Loader, completedMonths, todayIso } from './ui.js';

export function ReferForm({ childId, query }) {
  return html`<${Loader}
    load=${async () => {
      const [child, programmes, organisations] = await Promise.all([
        api('GET', `/children/${childId}`).then((r) => r.body),
        api('GET', '/catalogue/programmes').then((r) => r.body.programmes),
        api('GET', '/organisations', { query: { limit: 100 } }).then((r) => r.body.items),
      ]);
      return { child, programmes, organisations };
    }}
    deps=${[childId]}
    render=${(data) => html`<${Form} ...${data} query=${query} />`}
  />`;
}

function Form({ child, programmes, organisations, query }) {
  const s = session();
  const age = completedMonths(child.birth_date, todayIso());
  const fits = programmes.filter(
    (p) => p.status === 'active' && p.kind !== 'instrument' && (!p.target_age_months || (p.target_age_months.min <= age && age <= p.target_age_months.max)),
  );
  const providers = organisations.filter((o) => o.status === 'active' && o.id !== s.organisation);
  const screening = query.get('screening');
  const rule = query.get('rule');
  const fromRecommendation = !!(screening && rule);
  const [programme, setProgramme] = useState(query.get('programme') || (fits[0] && fits[0].id) || '');
  const [provider, setProvider] = useState((providers.find((o) => o.kind === 'programme_provider') || providers[0] || {}).id || '');
  const [reason, setReason] = useState('');
  const [dueOn, setDueOn] = useState('');
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const found = {};
    if (!programme) found.programme = t('required');
    if (!provider) found.provider_org = t('required');
    if (!fromRecommendation && !reason.trim()) found['basis.reason.text'] = t('required');
    if (dueOn && dueOn < todayIso()) found.due_on = `${dueOn} is in the past`;
    setErrors(found);
    setError(null);
    if (Object.keys(found).length) return;
    const body = {
      child_id: child.id,
      programme,
      provider_org: provider,
      basis: fromRecommendation ? { result: { screening_id: screening, rule } } : { reason: { text: reason.trim() } },
    };
    if (dueOn) body.due_on = dueOn;
    setBusy(true);
    try {
      const { body: referral } = await api('POST', '/referrals', { body });
      setCreated(referral);
    } catch (err) {
      setError(err);
      setErrors(err.fields());
    } finally {
      setBusy(false);
    }
  };
  const title = `${t('refer')}: ${child.given_name} ${child.family_name}`;
  if (created) {
    return html`<${Page} title=${title}>
      <p class="success" role="status" id="referral-created">${t('referralCreated', { state: created.state })} ${created.programme} → ${created.provider_org}, ${t('dueOn')}: ${formatDate(created.due_on)}</p>
      <p><a href=${`#/children/${child.id}`}>${t('backToChild')}</a></p>
    <//>`;
  }
  return html`<${Page} title=${title}>
    <${ErrorBox} error=${error} />
    <form onSubmit=${submit} class="narrow" novalidate>
      ${fits.length === 0 && html`<p class="error">${t('noProgrammes')}</p>`}
      <${Field} id="programme" label=${t('programme')} error=${errors.programme}>
        ${(a) => html`<select ...${a} value=${programme} onChange=${(e) => setProgramme(e.target.value)}>
          ${fits.map((p) => html`<option value=${p.id}>${p.name}</option>`)}
        </select>`}
      <//>
      ${providers.length === 0 && html`<p class="error">${t('noProviders')}</p>`}
      <${Field} id="provider_org" label=${t('provider')} error=${errors.provider_org}>
        ${(a) => html`<select ...${a} value=${provider} onChange=${(e) => setProvider(e.target.value)}>
          ${providers.map((o) => html`<option value=${o.id}>${o.name} (${o.id})</option>`)}
        </select>`}
      <//>
      ${fromRecommendation
        ? html`<p>${t('basis')}: ${t('basisRecommendation', { rule, id: screening })}</p>`
        : html`<${Field} id="reason" label=${t('reason')} error=${errors['basis.reason.text'] || errors['basis.reason']}>
            ${(a) => html`<textarea ...${a} rows="3" value=${reason} onInput=${(e) => setReason(e.target.value)}></textarea>`}
          <//>`}
      <${Field} id="due_on" label=${t('dueOn')} error=${errors.due_on} optional=${true}>
        ${(a) => html`<input ...${a} type="date" value=${dueOn} onInput=${(e) => setDueOn(e.target.value)} />`}
      <//>
      <button type="submit" disabled=${busy}>${t('send')}</button>
    </form>
  <//>`;
}
