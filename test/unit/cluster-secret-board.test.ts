import t from 'tap'
import { randomBytes } from 'node:crypto'
import { SecretBox, parseSecret } from '../../src/cluster/index.js'
import { ChallengeBoard } from '../../src/acme/index.js'

t.test('private keys sealed with AES-256-GCM: open only with the same key and name', async t => {
  const key = randomBytes(32)
  const box = new SecretBox(key)
  const sealed = box.seal('-----BEGIN PRIVATE KEY-----\nabc\n', 'certs/www.test')
  t.match(sealed, /^v1\./)
  t.notMatch(sealed, /PRIVATE KEY/)
  t.not(box.seal('same', 'n'), box.seal('same', 'n'), 'a fresh IV per value')
  t.equal(box.open(sealed, 'certs/www.test'), '-----BEGIN PRIVATE KEY-----\nabc\n')
  t.throws(() => box.open(sealed, 'certs/other.test'), /cannot decrypt/, 'bound to its name')
  t.throws(() => new SecretBox(randomBytes(32)).open(sealed, 'certs/www.test'), /another cluster.secret_file/)
  const damaged = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA')
  t.throws(() => box.open(damaged, 'certs/www.test'), /cannot decrypt/)
  t.throws(() => box.open('plain', 'certs/www.test'), /not a sealed value/)

  t.same(parseSecret(Buffer.from(key.toString('hex') + '\n')), key, 'hex')
  t.same(parseSecret(Buffer.from(key.toString('base64'))), key, 'base64')
  t.same(parseSecret(key), key, 'raw')
  t.throws(() => parseSecret(Buffer.from('short')), /32 bytes/)
  t.throws(() => new SecretBox(randomBytes(16)), /32 bytes/)
})

t.test('challenge board: other instances\' answers served alongside its own; its own shared', async t => {
  const board = new ChallengeBoard()
  const shared: Array<[string, string | readonly string[] | undefined]> = []
  board.shareWith({ http: async (token, v) => { shared.push([token, v]) }, txt: async (name, values) => { shared.push([name, values]) } })
  board.setHttp('own', 'own.ka')
  board.addTxt('_acme-challenge.Example.org.', 'mine')
  await board.settled()
  t.same(shared, [['own', 'own.ka'], ['_acme-challenge.example.org', ['mine']]])
  board.setRemote(new Map([['remote', 'remote.ka']]), new Map([['_acme-challenge.example.org', ['theirs']], ['_acme-challenge.other.org', ['x']]]))
  t.equal(board.httpToken('remote'), 'remote.ka')
  t.equal(board.httpToken('own'), 'own.ka')
  t.same(board.txt('_acme-challenge.example.org'), ['theirs', 'mine'], 'values of one name merged')
  t.same(board.txt('_acme-challenge.other.org.'), ['x'])
  t.same(new Map(board.httpEntries()), new Map([['remote', 'remote.ka'], ['own', 'own.ka']]))
  board.deleteHttp('own')
  t.same(shared.at(-1), ['own', undefined], 'a withdrawn answer is withdrawn from the cluster too')

  const failing = new ChallengeBoard()
  failing.shareWith({ http: async () => { throw new Error('etcd away') }, txt: async () => {} })
  failing.setHttp('t', 'v')
  await t.rejects(failing.settled(), /etcd away/, 'the CA is not told to look when the answer could not be shared')
})
