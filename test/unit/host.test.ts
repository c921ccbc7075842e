import t from 'tap'
import { normalizeHost } from '../../src/router/host.js'

t.test('normalises case, port and trailing dot', async t => {
  t.equal(normalizeHost('HTTP-1-2-3-4-80.UAP.Example.ORG'), 'http-1-2-3-4-80.uap.example.org')
  t.equal(normalizeHost('a.example.org:8443'), 'a.example.org')
  t.equal(normalizeHost('a.example.org.'), 'a.example.org')
  t.equal(normalizeHost('a.example.org.:443'), 'a.example.org')
  t.equal(normalizeHost('[::1]:8443'), '[::1]')
  t.equal(normalizeHost('127.0.0.1'), '127.0.0.1')
})

t.test('refuses junk', async t => {
  for (const h of [undefined, '', 'a b', 'a\r\nx', 'a..b', '.a', 'a:b', 'a:99999999', 'a:65536', '[::1]:70000', '[::1', '[zz]', 'a/b', 'a@b', 'a_b%00', 'ä.example.org', 'x'.repeat(400)]) {
    t.equal(normalizeHost(h), undefined, JSON.stringify(h))
  }
})
