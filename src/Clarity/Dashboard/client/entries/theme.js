// Loaded as a blocking script in <head> so the stored theme applies before the first paint (no flash).
// Without a stored choice the CSS follows prefers-color-scheme.
try {
  const t = localStorage.getItem('clarity-theme');
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
} catch { /* storage disabled: follow the system */ }
