import http from 'node:http'
import { createHash, createHmac } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

export interface FakeRoute53 {
  endpoint: string
  /** `METHOD path` of every request, in order; rejected ones prefixed with `REJECTED `. */
  calls: string[]
  /** The TXT values published, by record name (with the trailing dot). */
  records: Map<string, string[]>
  close: () => void
}

const NS = 'https://route53.amazonaws.com/doc/2013-04-01/'
const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex')
const hmac = (key: string | Buffer, s: string): Buffer => createHmac('sha256', key).update(s).digest()
const unescapeXml = (s: string): string => s.replace(/&(quot|apos|lt|gt|amp);/g, (_, e: string) => ({ quot: '"', apos: "'", lt: '<', gt: '>', amp: '&' })[e]!)
const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/**
 * Why a request's SigV4 signature is not right for these credentials, or undefined: the scope
 * (key id, date of X-Amz-Date, region, `route53`, `aws4_request`) and the signature itself,
 * recomputed over the canonical request (RFC-style SigV4 as AWS documents it).
 */
function signatureProblem (req: http.IncomingMessage, body: Buffer, key: { id: string, secret: string, region: string }): string | undefined {
  const auth = req.headers.authorization ?? ''
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth)
  if (m === null) return `no SigV4 Authorization header: ${auth}`
  const [, id, date, region, service, signed, signature] = m as unknown as string[]
  const amzDate = String(req.headers['x-amz-date'] ?? '')
  if (id !== key.id || region !== key.region || service !== 'route53' || !amzDate.startsWith(date!)) return `wrong credential scope: ${auth}`
  const url = new URL(req.url ?? '/', 'http://x')
  const query = [...url.searchParams.entries()].map(([k, v]) => `${enc(k)}=${enc(v)}`).sort().join('&')
  const headers = signed!.split(';').map(h => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('')
  const canonical = [req.method, url.pathname, query, headers, signed, sha256(body)].join('\n')
  const scope = `${date}/${region}/route53/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n')
  const k = hmac(hmac(hmac(hmac(`AWS4${key.secret}`, date!), region!), 'route53'), 'aws4_request')
  return hmac(k, toSign).toString('hex') === signature ? undefined : 'signature does not match'
}

/**
 * A local stand-in for the Route53 REST API (XML), the parts DNS-01 needs: ListHostedZonesByName,
 * ChangeResourceRecordSets (UPSERT/DELETE of TXT sets) and GetChange.
 * Every request must carry a valid SigV4 signature; record changes go to `publish`.
 */
export async function startFakeRoute53 (zone: { id: string, name: string }, key: { id: string, secret: string, region: string },
  publish: (name: string, values: readonly string[]) => Promise<void>): Promise<FakeRoute53> {
  const calls: string[] = []
  const records = new Map<string, string[]>()
  const polled = new Set<string>()
  let changes = 0
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks)
        const xml = (status: number, text: string): void => {
          res.writeHead(status, { 'content-type': 'text/xml' })
          res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${text}`)
        }
        const problem = signatureProblem(req, body, key)
        if (problem !== undefined) {
          calls.push(`REJECTED ${req.method} ${req.url} (${problem})`)
          xml(403, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>${problem}</Message></Error></ErrorResponse>`)
          return
        }
        calls.push(`${req.method} ${req.url}`)
        const url = new URL(req.url ?? '/', 'http://x')
        const path = url.pathname
        if (req.method === 'GET' && path === '/2013-04-01/hostedzonesbyname') {
          // Like AWS: zones in name order starting at dnsname (here: our one zone, whatever is asked).
          xml(200, `<ListHostedZonesByNameResponse xmlns="${NS}"><HostedZones><HostedZone><Id>/hostedzone/${zone.id}</Id><Name>${zone.name}</Name>` +
            '<CallerReference>fake</CallerReference><Config><PrivateZone>false</PrivateZone></Config>' +
            '<ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone></HostedZones>' +
            `<DNSName>${url.searchParams.get('dnsname') ?? ''}</DNSName><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListHostedZonesByNameResponse>`)
          return
        }
        const rrset = /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/.exec(path)
        if (req.method === 'POST' && rrset !== null && rrset[1] === zone.id) {
          const text = body.toString()
          const action = /<Action>(\w+)<\/Action>/.exec(text)?.[1]
          const name = unescapeXml(/<Name>([^<]+)<\/Name>/.exec(text)?.[1] ?? '')
          // TXT values travel quoted (Route53's zone-file syntax), the quotes XML-escaped.
          const values = [...text.matchAll(/<Value>([^<]*)<\/Value>/g)].map(v => unescapeXml(v[1]!).replace(/^"(.*)"$/, '$1'))
          if (!/<Type>TXT<\/Type>/.test(text) || (action !== 'UPSERT' && action !== 'DELETE') || !name.endsWith(zone.name)) {
            xml(400, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>InvalidInput</Code><Message>unexpected change</Message></Error></ErrorResponse>`)
            return
          }
          if (action === 'DELETE') {
            if (JSON.stringify(records.get(name)) !== JSON.stringify(values)) {
              xml(400, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>values do not match</Message></Error></ErrorResponse>`)
              return
            }
            records.delete(name)
          } else records.set(name, values)
          await publish(name, records.get(name) ?? [])
          xml(200, `<ChangeResourceRecordSetsResponse xmlns="${NS}"><ChangeInfo><Id>/change/C${++changes}</Id><Status>PENDING</Status>` +
            `<SubmittedAt>${new Date().toISOString()}</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`)
          return
        }
        const change = /^\/2013-04-01\/change\/(C\d+)$/.exec(path)
        if (req.method === 'GET' && change !== null) {
          // The first change is PENDING on its first poll (the client must poll), the rest INSYNC at once.
          const status = polled.has(change[1]!) || change[1] !== 'C1' ? 'INSYNC' : 'PENDING'
          polled.add(change[1]!)
          xml(200, `<GetChangeResponse xmlns="${NS}"><ChangeInfo><Id>/change/${change[1]}</Id><Status>${status}</Status>` +
            `<SubmittedAt>${new Date().toISOString()}</SubmittedAt></ChangeInfo></GetChangeResponse>`)
          return
        }
        xml(404, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>${path}</Message></Error></ErrorResponse>`)
      })()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, records, close: () => server.close() }
}
