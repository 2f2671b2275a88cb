// Clarity's service worker: caches the shell (scripts, styles, icons, manifest) so the installed app starts fast.
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
