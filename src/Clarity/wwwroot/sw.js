// Clarity's service worker: caches the shell (scripts, styles, icons, manifest) so the installed app starts fast, and
// shows web push notifications (a question that waits for an answer reaches the phone with no tab open).
// It never caches HTML pages, fragments, the API or the event stream: those always come from the network.
const CACHE = 'clarity-shell-v1';
const SHELL = /^\/(js|css|icons)\/|^\/manifest\.webmanifest$|\.styles\.css$/;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || !SHELL.test(url.pathname)) return;
  // Stale-while-revalidate: fingerprinted file names change when their content does.
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(req);
    const fresh = fetch(req).then((res) => {
      if (res.ok && res.type === 'basic') cache.put(req, res.clone());
      return res;
    }).catch(() => hit);
    return hit ?? fresh;
  })());
});

// Web push: the server sends {title, body, url, tag, test} (Features/Notifications/WebPush/WebPushChannel.cs). The tag
// is the question's, so a later message about the same question replaces the earlier one instead of piling up.
self.addEventListener('push', (event) => {
  let message = {};
  try { message = event.data ? event.data.json() : {}; } catch { message = { body: event.data?.text() ?? '' }; }
  const title = typeof message.title === 'string' && message.title ? message.title : 'Clarity';
  const url = sameOriginUrl(message.url);
  event.waitUntil(self.registration.showNotification(title, {
    body: typeof message.body === 'string' ? message.body : '',
    tag: typeof message.tag === 'string' && message.tag ? message.tag : undefined,
    renotify: Boolean(message.tag),
    icon: '/icons/icon-192.png',
    badge: '/icons/icon-192.png',
    data: { url, test: message.test === true },
  }));
});

// Tapping a notification focuses a Clarity tab already showing that page, else opens it.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = sameOriginUrl(event.notification.data?.url);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const client of windows) {
      if (client.url === url && 'focus' in client) return client.focus();
    }
    return self.clients.openWindow(url);
  })());
});

// Only pages of this site are opened: anything else (or nothing) opens the dashboard's start page.
function sameOriginUrl(value) {
  try {
    const url = new URL(typeof value === 'string' ? value : '/', self.location.origin);
    return url.origin === self.location.origin ? url.href : new URL('/', self.location.origin).href;
  } catch {
    return new URL('/', self.location.origin).href;
  }
}
