/**
 * Defaults of the static and compress options, shared by the schema and docs/CONFIG.md.
 *
 * Hashed assets (cached for a year, `immutable`), matched against the file's path below `root`:
 * anything under an `assets/` directory (Vite and similar builds put fingerprinted files there)
 * or a name whose last segment before the extension is a hash: 8+ letters, digits or `_` with at
 * least one digit, after `.` or `-` (`app.3f9a1c2e.js`, `main-BxK3_9aQ.css`; not `app-settings.js`).
 */
export const DEFAULT_IMMUTABLE = '(^|/)assets/|[.-](?=[A-Za-z_]*[0-9])[A-Za-z0-9_]{8,}\\.[A-Za-z0-9]+$'

/** Text-like types worth compressing; images, video, archives and fonts (woff2) are compressed already. */
export const DEFAULT_COMPRESS_TYPES = [
  'text/html', 'text/css', 'text/plain', 'text/javascript', 'text/xml', 'text/csv', 'text/markdown',
  'application/javascript', 'application/json', 'application/xml', 'application/wasm',
  'application/manifest+json', 'application/ld+json', 'application/problem+json', 'image/svg+xml'
] as const
