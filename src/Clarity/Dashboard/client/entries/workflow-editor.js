// The workflow editor (WorkflowEditor.razor): CodeMirror 6 over the page's <textarea>, checked as you type by
// POST …/workflows/validate (CodeMirror's linter debounces and drops answers for text that has changed since). Each
// problem becomes a diagnostic at its line and column and an entry of the list under the editor; a valid answer's
// steps redraw the graph beside it (lib/workflow-graph.js). Save uploads through POST …/workflows and opens the
// workflow's page. Requests are signed in with the session cookie, so they carry the antiforgery token from
// <meta name="csrf-token"> (the API refuses a cookie-borne POST without it). Without JavaScript the textarea and the
// form still work: the page itself validates and saves on submit.
import { EditorState } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection, highlightSpecialChars } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching } from '@codemirror/language';
import { yaml } from '@codemirror/lang-yaml';
import { linter, lintGutter, setDiagnostics } from '@codemirror/lint';
import { drawGraph } from '../lib/workflow-graph.js';

const MAX_BYTES = 1024 * 1024;
const form = document.querySelector('form[data-workflow-editor]');

if (form) start(form);

function start(form) {
  const textarea = form.querySelector('textarea');
  const org = form.dataset.org;
  const api = `/api/v1/orgs/${encodeURIComponent(org)}`;
  const statusEl = form.querySelector('[data-problem-status]');
  const listEl = form.querySelector('[data-problem-list]');
  const preview = form.querySelector('[data-workflow-graph]');
  const previewNote = form.querySelector('[data-graph-note]');
  const saveError = form.querySelector('[data-save-error]');
  const saveButton = form.querySelector('[data-save]');
  const picker = document.querySelector('form[data-template-picker]');
  const importField = document.querySelector('[data-import]');
  let loaded = textarea.value;
  let templates = null;

  const headers = () => ({
    'Content-Type': 'application/yaml',
    Accept: 'application/json',
    RequestVerificationToken: document.querySelector('meta[name="csrf-token"]')?.content ?? '',
  });

  const setStatus = (text, kind = '') => {
    statusEl.textContent = text;
    statusEl.dataset.kind = kind;
  };

  // A problem's 1-based line and column as a document range: the word or scalar that starts there (the whole line's
  // text when the column is past its end).
  function range(doc, line, column) {
    const l = doc.line(Math.min(Math.max(line || 1, 1), doc.lines));
    let from = Math.min(l.from + Math.max(column || 1, 1) - 1, l.to);
    let to = from;
    const word = /^[^\s,\]}#]+/.exec(doc.sliceString(from, l.to));
    if (word) {
      to = from + word[0].length;
    } else if (from === l.to && l.text.trim()) {
      from = l.from + (l.text.length - l.text.trimStart().length);
      to = l.to;
    }
    return { from, to };
  }

  const toDiagnostics = (doc, problems) => (problems || []).map((p) => ({
    ...range(doc, p.line, p.column),
    severity: 'error',
    source: p.code,
    message: p.message,
  }));

  function goTo(line, column) {
    const { from } = range(view.state.doc, line, column);
    view.dispatch({ selection: { anchor: from }, scrollIntoView: true });
    view.focus();
  }

  function showProblems(problems, count) {
    listEl.replaceChildren();
    for (const p of problems || []) {
      const li = document.createElement('li');
      li.dataset.line = p.line;
      li.dataset.column = p.column;
      li.dataset.code = p.code;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'linklike';
      button.textContent = `Line ${p.line}, column ${p.column}`;
      button.addEventListener('click', () => goTo(p.line, p.column));
      const message = document.createElement('span');
      message.textContent = `: ${p.message} `;
      const code = document.createElement('code');
      code.textContent = p.code;
      li.append(button, message, code);
      listEl.appendChild(li);
    }
    const total = count ?? (problems || []).length;
    if (total === 0) {
      setStatus('No problems: ready to save.', 'ok');
    } else {
      const listed = (problems || []).length;
      setStatus(`${total} problem${total === 1 ? '' : 's'}${listed < total ? ` (the first ${listed} listed)` : ''}.`, 'error');
    }
  }

  function showGraph(steps, current) {
    if (current) {
      const svg = drawGraph(preview, steps, {
        onSelect: (step) => goTo(step.line, step.column),
        label: `Graph of the workflow's ${steps.length} step${steps.length === 1 ? '' : 's'}`,
      });
      preview.dataset.state = svg ? 'current' : 'empty';
      previewNote.textContent = svg ? 'Click a step to go to it.' : 'No steps yet.';
    } else if (preview.querySelector('svg')) {
      preview.dataset.state = 'stale';
      previewNote.textContent = 'The last valid version of the graph: fix the problems to redraw it.';
    } else {
      preview.dataset.state = 'empty';
      previewNote.textContent = 'The graph appears once the definition is valid.';
    }
  }

  async function check(view) {
    const doc = view.state.doc;
    const text = doc.toString();
    if (!text.trim()) {
      listEl.replaceChildren();
      setStatus('Empty: pick a template, import a file or start typing.');
      showGraph([], false);
      return [];
    }
    if (new Blob([text]).size > MAX_BYTES) {
      listEl.replaceChildren();
      setStatus('The definition is larger than 1 MiB, the most Clarity accepts.', 'error');
      return [];
    }

    setStatus('Checking…', 'busy');
    let response;
    let body = null;
    try {
      response = await fetch(`${api}/workflows/validate`, { method: 'POST', headers: headers(), body: text, credentials: 'same-origin' });
      body = await response.json().catch(() => null);
    } catch {
      if (view.state.doc === doc) setStatus('The check could not reach the server; it runs again when you type.', 'error');
      return [];
    }
    if (view.state.doc !== doc) return []; // changed meanwhile: the next check answers
    if (!response.ok) {
      setStatus(response.status === 401
        ? 'Your session has ended: sign in again in another tab, then keep typing (your text stays here).'
        : `The check failed: ${body?.detail || response.statusText || response.status}`, 'error');
      return toDiagnostics(doc, body?.problems);
    }

    showProblems(body.problems, body.problemCount);
    showGraph(body.steps || [], body.valid);
    return toDiagnostics(doc, body.problems);
  }

  const view = new EditorView({
    parent: textarea.parentElement,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        yaml(),
        lintGutter(),
        linter(check, { delay: 400 }),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorState.tabSize.of(2),
        EditorView.contentAttributes.of({ 'aria-label': 'Workflow definition (YAML)', 'aria-describedby': statusEl.id }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) textarea.value = update.state.doc.toString();
        }),
      ],
    }),
  });
  textarea.after(view.dom);
  textarea.hidden = true;
  form.querySelector(`label[for="${textarea.id}"]`)?.addEventListener('click', (e) => {
    e.preventDefault();
    view.focus();
  });

  function setText(text) {
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text }, selection: { anchor: 0 } });
    loaded = text;
  }

  const dirty = () => view.state.doc.toString() !== loaded;

  // Save: the same upload as the API's; the answer's problems become diagnostics like the live check's.
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = view.state.doc.toString();
    saveError.hidden = true;
    saveButton.disabled = true;
    try {
      const response = await fetch(`${api}/workflows`, { method: 'POST', headers: headers(), body: text, credentials: 'same-origin' });
      const body = await response.json().catch(() => null);
      if (response.ok && body?.name) {
        loaded = text;
        const saved = body.unchanged ? 'unchanged' : 'saved';
        location.assign(`/o/${encodeURIComponent(org)}/workflows/${encodeURIComponent(body.name)}?version=${body.version}&${saved}=1`);
        return;
      }
      saveError.textContent = body?.detail || `Saving failed (${response.status}).`;
      saveError.hidden = false;
      if (body?.problems && view.state.doc.toString() === text) {
        view.dispatch(setDiagnostics(view.state, toDiagnostics(view.state.doc, body.problems)));
        showProblems(body.problems);
      }
    } catch {
      saveError.textContent = 'Saving failed: the server could not be reached. Your text is still here.';
      saveError.hidden = false;
    } finally {
      saveButton.disabled = false;
    }
  });

  // Templates: picked from the shipped ones (GET …/workflow-templates) without leaving the page.
  picker?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = picker.querySelector('select').value;
    if (dirty() && !window.confirm('Replace what you have written with this template?')) return;
    let text = '';
    if (name) {
      try {
        templates ??= (await (await fetch(`${api}/workflow-templates`, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })).json()).items;
      } catch {
        setStatus('The templates could not be loaded.', 'error');
        return;
      }
      text = templates.find((t) => t.name === name)?.yaml ?? '';
    }
    setText(text);
    const url = new URL(location.href);
    if (name) url.searchParams.set('template', name); else url.searchParams.delete('template');
    history.replaceState(null, '', url);
    view.focus();
  });

  // Import: a file read here, in the browser; nothing is sent until the check and Save.
  if (importField) {
    importField.hidden = false;
    const input = importField.querySelector('input[type=file]');
    input.addEventListener('change', async () => {
      const file = input.files?.[0];
      input.value = '';
      if (!file) return;
      if (file.size > MAX_BYTES) {
        setStatus(`${file.name} is larger than 1 MiB, the most Clarity accepts.`, 'error');
        return;
      }
      if (dirty() && !window.confirm(`Replace what you have written with ${file.name}?`)) return;
      setText(await file.text());
      view.focus();
    });
  }
}
