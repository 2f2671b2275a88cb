// "Notify this device" on the account page (Components/PushDevice.razor): web push for this browser. Turning it on asks
// for permission, subscribes through the service worker (sw.js) with the server's VAPID public key and registers the
// subscription (POST /api/v1/me/push-subscriptions); "Stop" removes it and unsubscribes. On each visit a subscription
// the browser still holds is registered again (idempotent), and one made with an older server key is dropped.
const root = document.querySelector('[data-push-device]');
if (root) start(root);

function decode(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - base64url.length % 4) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function sameKey(subscription, publicKey) {
  const key = subscription.options?.applicationServerKey;
  if (!key) return true;
  const a = new Uint8Array(key);
  const b = decode(publicKey);
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (method !== 'GET' && token) headers.RequestVerificationToken = token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try { detail = (await response.json()).detail ?? detail; } catch { /* keep the status */ }
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

async function start(root) {
  const status = root.querySelector('[data-push-status]');
  const enable = root.querySelector('[data-push-enable]');
  const disable = root.querySelector('[data-push-disable]');
  const show = (state, text) => {
    root.dataset.state = state;
    status.textContent = text;
    enable.hidden = state !== 'off';
    disable.hidden = state !== 'on';
  };

  if (!window.isSecureContext || !('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    show('unsupported', 'This browser cannot receive push notifications here: it needs an https page and push support (on an iPhone, add Clarity to the home screen first).');
    return;
  }

  let registration;
  try {
    await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    registration = await navigator.serviceWorker.ready;
  } catch (e) {
    show('unsupported', `The service worker could not start: ${e.message ?? e}`);
    return;
  }

  const key = async () => (await api('GET', '/api/v1/push/vapid-public-key')).publicKey;
  const register = (subscription) => {
    const json = subscription.toJSON();
    return api('POST', '/api/v1/me/push-subscriptions', { endpoint: json.endpoint, keys: json.keys });
  };
  const off = () => show('off', Notification.permission === 'denied'
    ? 'Notifications are blocked for this site: allow them in the browser’s site settings, then turn them on here.'
    : 'This device gets no notifications.');

  async function refresh() {
    const subscription = await registration.pushManager.getSubscription();
    if (!subscription) return off();
    if (!sameKey(subscription, await key())) {
      // The server's key changed (docs/operations.md, "Web push"): the old subscription can no longer be sent to.
      await subscription.unsubscribe();
      return show('off', 'The server’s notification key changed: turn notifications on again for this device.');
    }

    await register(subscription);
    show('on', 'This device gets notifications.');
  }

  enable.addEventListener('click', async () => {
    enable.disabled = true;
    try {
      if (await Notification.requestPermission() !== 'granted') return off();
      const subscription = await registration.pushManager.getSubscription()
        ?? await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: decode(await key()) });
      await register(subscription);
      show('on', 'This device gets notifications.');
    } catch (e) {
      show('off', `Notifications could not be turned on: ${e.message ?? e}`);
    } finally {
      enable.disabled = false;
    }
  });

  disable.addEventListener('click', async () => {
    disable.disabled = true;
    try {
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) {
        const { items } = await api('GET', '/api/v1/me/push-subscriptions');
        const mine = items.find((s) => s.endpoint === subscription.endpoint);
        if (mine) await api('DELETE', `/api/v1/me/push-subscriptions/${encodeURIComponent(mine.id)}`);
        await subscription.unsubscribe();
      }
      off();
    } catch (e) {
      show('on', `Notifications could not be turned off: ${e.message ?? e}`);
    } finally {
      disable.disabled = false;
    }
  });

  try {
    await refresh();
  } catch (e) {
    show('off', `Could not check this device: ${e.message ?? e}`);
  }
}
