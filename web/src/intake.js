// Registry administrators: the partner-file imports (intake jobs) with their counts, and one
// job's row-level errors (GET /intake/jobs, /intake/jobs/{id}, /intake/jobs/{id}/errors).
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { t, formatDate } from './i18n.js';
import { html, Page, ErrorBox, Field, Loader } from './ui.js';

const KINDS = ['children', 'population-register', 'organisations', 'support-episodes', 'specialists', 'certifications'];
const STATUSES = ['completed', 'completed_with_rejections', 'rejected'];

/** A time (RFC 3339) as the date and the time of day in the user's locale. */
const when = (iso) => (iso ? `${formatDate(iso)} ${iso.slice(11, 16)} UTC` : '');

/** The pages of a cursor-paginated list: the first on load, the next ones on "Show more". */
export function usePages(path, query, itemsOf = (b) => b.items, nextOf = (b) => b.next) {
  const [state, setState] = useState({ items: [], next: null, loading: true, error: null });
  const key = JSON.stringify([path, query]);
  const load = async (cursor, previous) => {
    setState((s) => ({ ...s, loading: true, error: null }));
    try {
      const { body } = await api('GET', path, { query: { ...query, cursor } });
      setState({ items: [...previous, ...itemsOf(body)], next: nextOf(body), body, loading: false, error: null });
    } catch (error) {
      setState((s) => ({ ...s, loading: false, error }));
    }
  };
  useEffect(() => {
    load(undefined, []);
  }, [key]);
  return { ...state, more: () => load(state.next, state.items), reload: () => load(undefined, []) };
}

/** The "Show more" button of a paged list, and its loading and error states. */
export function More({ pages, id }) {
  return html`${pages.error && html`<${ErrorBox} error=${pages.error} />`}
    ${pages.loading && html`<p aria-live="polite">${t('loading')}</p>`}
    ${pages.next && !pages.loading && html`<p><button type="button" id=${id} onClick=${pages.more}>${t('showMore')}</button></p>`}`;
}

export function IntakeJobs({ query }) {
  const [kind, setKind] = useState(query.get('kind') || '');
  const [status, setStatus] = useState(query.get('status') || '');
  const [filters, setFilters] = useState({ kind: query.get('kind') || undefined, status: query.get('status') || undefined });
  const pages = usePages('/intake/jobs', filters);
  // The same filters again ask again (a file may have been imported since).
  const submit = (e) => {
    e.preventDefault();
    const next = { kind: kind || undefined, status: status || undefined };
    if (JSON.stringify(next) === JSON.stringify(filters)) pages.reload();
    else setFilters(next);
  };
  return html`<${Page} title=${t('intakeJobs')}>
    <p>${t('intakeNote')}</p>
    <form class="inline" onSubmit=${submit}>
      <${Field} id="intake-kind" label=${t('fileKind')}>
        ${(a) => html`<select ...${a} value=${kind} onChange=${(e) => setKind(e.target.value)}>
          <option value="">${t('all')}</option>
          ${KINDS.map((k) => html`<option value=${k}>${k}</option>`)}
        </select>`}
      <//>
      <${Field} id="intake-status" label=${t('status')}>
        ${(a) => html`<select ...${a} value=${status} onChange=${(e) => setStatus(e.target.value)}>
          <option value="">${t('all')}</option>
          ${STATUSES.map((s) => html`<option value=${s}>${t(`jobStatus.${s}`)}</option>`)}
        </select>`}
      <//>
      <button type="submit">${t('show')}</button>
    </form>
    ${!pages.loading && !pages.error && pages.items.length === 0 && html`<p>${t('noIntakeJobs')}</p>`}
    ${pages.items.length > 0 &&
    html`<table id="intake-jobs">
      <caption class="visually-hidden">${t('intakeJobs')}</caption>
      <thead><tr>
        <th scope="col">${t('file')}</th><th scope="col">${t('fileKind')}</th><th scope="col">${t('status')}</th><th scope="col">${t('finished')}</th>
        <th scope="col">${t('rowsRead')}</th><th scope="col">${t('inserted')}</th><th scope="col">${t('updated')}</th><th scope="col">${t('unchanged')}</th><th scope="col">${t('rejectedRows')}</th>
      </tr></thead>
      <tbody>${pages.items.map((j) => html`<tr>
        <td><a href=${`#/intake/${j.id}`}>${j.file}</a></td>
        <td>${j.kind}</td>
        <td class=${j.status === 'completed' ? '' : 'level high'}>${t(`jobStatus.${j.status}`)}</td>
        <td>${when(j.finished_at)}</td>
        <td>${j.rows_read}</td><td>${j.inserted}</td><td>${j.updated}</td><td>${j.unchanged}</td><td>${j.rejected}</td>
      </tr>`)}</tbody>
    </table>`}
    <${More} pages=${pages} id="intake-more" />
  <//>`;
}

export function IntakeJob({ id }) {
  return html`<${Loader}
    load=${() => api('GET', `/intake/jobs/${id}`).then((r) => r.body)}
    deps=${[id]}
    render=${(job) => html`<${Page} title=${`${t('intakeJob')}: ${job.file}`}>
      <p><a href="#/intake">${t('allIntakeJobs')}</a></p>
      <dl class="details" id="intake-summary">
        <dt>${t('fileKind')}</dt><dd>${job.kind}${job.strict ? ` (${t('strict')})` : ''}</dd>
        <dt>${t('status')}</dt><dd>${t(`jobStatus.${job.status}`)}</dd>
        ${job.reason && html`<dt>${t('rejectedWhy')}</dt><dd>${job.reason}</dd>`}
        <dt>${t('started')}</dt><dd>${when(job.started_at)}</dd>
        <dt>${t('finished')}</dt><dd>${when(job.finished_at)}</dd>
        <dt>${t('rowsRead')}</dt><dd>${job.rows_read}</dd>
        <dt>${t('inserted')}</dt><dd>${job.inserted}</dd>
        <dt>${t('updated')}</dt><dd>${job.updated}</dd>
        <dt>${t('unchanged')}</dt><dd>${job.unchanged}</dd>
        <dt>${t('rejectedRows')}</dt><dd>${job.rejected}</dd>
        <dt>${t('possibleDuplicates')}</dt><dd>${job.possible_duplicates}</dd>
      </dl>
      <h2>${t('rowErrors')}</h2>
      <${RowErrors} id=${id} />
    <//>`}
  />`;
}

function RowErrors({ id }) {
  const pages = usePages(`/intake/jobs/${id}/errors`, { limit: 100 });
  if (!pages.loading && !pages.error && pages.items.length === 0) return html`<p>${t('noRowErrors')}</p>`;
  return html`${pages.items.length > 0 &&
    html`<table id="row-errors">
      <caption class="visually-hidden">${t('rowErrors')}</caption>
      <thead><tr><th scope="col">${t('row')}</th><th scope="col">${t('column')}</th><th scope="col">${t('whyCol')}</th></tr></thead>
      <tbody>${pages.items.map((e) => html`<tr><td>${e.row}</td><td><code>${e.field}</code></td><td>${e.reason}</td></tr>`)}</tbody>
    </table>`}
    <${More} pages=${pages} id="row-errors-more" />`;
}
