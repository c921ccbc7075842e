import t from 'tap'
import { parseUapLabel } from '../../src/router/uap.js'

t.test('valid labels', async t => {
  t.same(parseUapLabel('http-198-51-100-99-8888', 'https'), { scheme: 'http', ip: '198.51.100.99', ipNumber: 3325256803, port: 8888 })
  t.same(parseUapLabel('198-51-100-99-443', 'https')?.scheme, 'https', 'scheme defaults to https')
  t.same(parseUapLabel('198-51-100-99-443', 'http')?.scheme, 'http', 'default scheme is configurable')
  t.same(parseUapLabel('https-0-0-0-0-1', 'http'), { scheme: 'https', ip: '0.0.0.0', ipNumber: 0, port: 1 })
  t.same(parseUapLabel('255-255-255-255-65535', 'https')?.port, 65535)
})

t.test('hostile labels are refused', async t => {
  const bad = [
    '999-1-1-1-80', '256-1-1-1-80', '01-2-3-4-80', '1-02-3-4-80', '1-2-3-004-80', '1-2-3-4-0', '1-2-3-4-65536',
    '1-2-3-4-080', '1-2-3-4', '1-2-3-4-5-6', 'ftp-1-2-3-4-80', 'http--1-2-3-4-80', 'http-1-2-3-4-80-', '-1-2-3-4-80',
    'a.1-2-3-4-80', '1-2-3-4-80.a', 'xn--1-2-3-4-80', '1-2-3-4-99999999999', '', 'http-', '1--2-3-4-80',
    '1-2-3-4-80\r\nx: y', ' 1-2-3-4-80', '1-2-3-4-8e1', '0x7f-0-0-1-80', '1-2-3-4-+80'
  ]
  for (const label of bad) t.equal(parseUapLabel(label, 'https'), undefined, JSON.stringify(label))
})
