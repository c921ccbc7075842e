/** The `browse: true` directory page: names only, every one HTML- and URL-escaped. */
export function directoryListing (urlPath: string, entries: ReadonlyArray<{ name: string, dir: boolean }>): string {
  const rows = entries
    .slice()
    .sort((a, b) => Number(b.dir) - Number(a.dir) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(e => {
      const name = e.dir ? `${e.name}/` : e.name
      return `<li><a href="${escapeHtml(encodeURIComponent(e.name) + (e.dir ? '/' : ''))}">${escapeHtml(name)}</a></li>`
    })
  const title = escapeHtml(`Index of ${urlPath}`)
  const up = urlPath === '/' ? '' : '<li><a href="../">../</a></li>'
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n` +
    `<body><h1>${title}</h1><ul>${up}${rows.join('')}</ul></body></html>\n`
}

export function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, c => ESCAPES[c] as string)
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
