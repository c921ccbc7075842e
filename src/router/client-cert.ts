import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'

/** A TLS client's certificate as the handshake left it, on listeners with `client_ca_file`. */
export interface ClientCert {
  /** As nginx's $ssl_client_verify: `SUCCESS`, `FAILED:<reason>` (client_auth: optional) or `NONE`. */
  readonly verify: string
  readonly verified: boolean
  /** Subject DN (`CN=client-1,O=Example`); undefined when none was presented. */
  readonly subject: string | undefined
  /** SHA-256 of the DER certificate, colon-separated upper-case hex. */
  readonly fingerprint: string | undefined
  /** The negotiated TLS version. */
  readonly version: string
}

/** Where a listener notes the result on the connection (read per request, computed once per handshake). */
const CLIENT_CERT = Symbol('portico.clientCert')

// Certificate fields may hold any bytes: never let one end a header line or smuggle a field.
const UNSAFE = /[\x00-\x1f\x7f]/g // eslint-disable-line no-control-regex
const printable = (s: string): string => s.replace(UNSAFE, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)

export function readClientCert (socket: TLSSocket): ClientCert {
  const cert = socket.getPeerCertificate()
  const presented = cert !== null && typeof cert === 'object' && cert.subject !== undefined
  const subject = presented ? printable(Object.entries(cert.subject).map(([k, v]) => `${k}=${String(v)}`).join(',')) : undefined
  const verified = socket.authorized
  const reason = socket.authorizationError as unknown
  return {
    verify: verified ? 'SUCCESS' : presented ? `FAILED:${printable(String(reason ?? 'unverified'))}` : 'NONE',
    verified,
    subject,
    fingerprint: presented ? cert.fingerprint256 : undefined,
    version: socket.getProtocol() ?? ''
  }
}

/** Called once a client-certificate listener's handshake is done (h1 and h2 share the socket). */
export function noteClientCert (socket: TLSSocket): void {
  Object.defineProperty(socket, CLIENT_CERT, { value: readClientCert(socket), configurable: true })
}

/** The noted certificate of a connection; undefined on listeners without client certificates. */
export function clientCertOf (socket: Socket | undefined): ClientCert | undefined {
  return (socket as { [CLIENT_CERT]?: ClientCert } | undefined)?.[CLIENT_CERT]
}

/** `tls.client_auth_headers`, compiled once per snapshot. */
export interface ClientCertHeaders {
  readonly subject: string
  readonly fingerprint: string
  readonly verify: string
  /** Dropped from every client request on every listener, so no client can forge an identity. */
  readonly all: ReadonlySet<string>
}

export function compileClientCertHeaders (c: { subject: string, fingerprint: string, verify: string }): ClientCertHeaders {
  const [subject, fingerprint, verify] = [c.subject.toLowerCase(), c.fingerprint.toLowerCase(), c.verify.toLowerCase()]
  return { subject, fingerprint, verify, all: new Set([subject, fingerprint, verify]) }
}

/** The identity fields for the upstream: subject and fingerprint only when verified. */
export function identityFields (h: ClientCertHeaders, c: ClientCert): string[] {
  const out = [h.verify, c.verify]
  if (c.verified && c.subject !== undefined) out.push(h.subject, c.subject)
  if (c.verified && c.fingerprint !== undefined) out.push(h.fingerprint, c.fingerprint)
  return out
}
