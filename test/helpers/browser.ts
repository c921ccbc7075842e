import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = process.env.PORTICO_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Debian's Chromium, headless, with every background service off (this machine's network is
 * closed) and `*.test` names mapped to loopback so pages can have distinct origins.
 */
export async function launchBrowser (): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.test 127.0.0.1'
    ]
  })
}
